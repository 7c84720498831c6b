"""The shared_data fixture: a missing shared-data folder skips on a newcomer's machine and is
an error under CI=true, where a quiet skip once hid 81 tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_shared_data_fixture_gives_the_folder(shared_data: Path) -> None:
    assert shared_data.is_dir()


def run_the_fixture_test(tmp_path: Path, *, ci: str) -> subprocess.CompletedProcess[str]:
    """pytest on the test above, in a fresh process, with the data folder pointed nowhere."""
    env = {**os.environ, "EARSHOT_SHARED_DATA": str(tmp_path / "absent"), "CI": ci}
    return subprocess.run(  # noqa: S603 - our own interpreter and test file
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_the_shared_data_fixture_gives_the_folder",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_under_ci_a_missing_shared_data_folder_is_an_error(tmp_path: Path) -> None:
    result = run_the_fixture_test(tmp_path, ci="true")
    assert result.returncode != 0, result.stdout
    assert "1 error" in result.stdout and "skipped" not in result.stdout
    assert f"CI=true: shared data not found at {tmp_path / 'absent'}" in result.stdout


def test_outside_ci_a_missing_shared_data_folder_skips(tmp_path: Path) -> None:
    result = run_the_fixture_test(tmp_path, ci="")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert f"shared data not found at {tmp_path / 'absent'}" in result.stdout
