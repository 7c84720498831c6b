"""Production defaults are the safe ones: `manage.py check --deploy` is silent with nothing
set but DEBUG=false, SECRET_KEY and ALLOWED_HOSTS (issue 9)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fresh_process import production_env, run_fresh


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    """Collected static files: a production instance runs collectstatic before it starts (the
    check refuses one without them, tests/config/test_static.py)."""
    tmp_path = tmp_path_factory.mktemp("deploy")
    root = tmp_path / "static"
    env = production_env(tmp_path, STATIC_ROOT=str(root))
    result = run_fresh(env, "manage.py", "collectstatic", "--noinput", "-v", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def run_check(tmp_path: Path, static_root: Path, **extra: str) -> subprocess.CompletedProcess:
    env = production_env(tmp_path, STATIC_ROOT=str(static_root), **extra)
    return run_fresh(env, "manage.py", "check", "--deploy")


def test_check_deploy_prints_no_security_warning_with_the_defaults(tmp_path, static_root):
    result = run_check(tmp_path, static_root)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "security.W" not in output, output
    assert "System check identified no issues" in output, output


def test_the_plain_http_opt_out_is_what_check_deploy_complains_about(tmp_path, static_root):
    """The opt-out really turns HTTPS-only off (so the check above is not vacuous)."""
    result = run_check(tmp_path, static_root, EARSHOT_PLAIN_HTTP="true")
    output = result.stdout + result.stderr
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output, output
