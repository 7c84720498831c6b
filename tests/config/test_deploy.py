"""Production defaults are the safe ones: `manage.py check --deploy` is silent with nothing
set but DEBUG=false, SECRET_KEY and ALLOWED_HOSTS (issue 9)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fresh_process import production_env, run_fresh


def run_check(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    return run_fresh(production_env(tmp_path, **extra), "manage.py", "check", "--deploy")


def test_check_deploy_prints_no_security_warning_with_the_defaults(tmp_path):
    result = run_check(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "security.W" not in output, output
    assert "System check identified no issues" in output, output


def test_the_plain_http_opt_out_is_what_check_deploy_complains_about(tmp_path):
    """The opt-out really turns HTTPS-only off (so the check above is not vacuous)."""
    result = run_check(tmp_path, EARSHOT_PLAIN_HTTP="true")
    output = result.stdout + result.stderr
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output, output
