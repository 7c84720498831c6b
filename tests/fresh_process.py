"""A fresh Django process with a clean environment, for tests of what is fixed at start-up
(settings, INSTALLED_APPS, the URLconf, management commands)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A production instance's environment: DEBUG off, a real SECRET_KEY, SQLite under
    tmp_path, and nothing else, neither from the outside environment (the test run itself
    sets EARSHOT_PLAIN_HTTP and EARSHOT_DEMO) nor from the developer's .env. extra overrides."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "EARSHOT_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "earshot.example",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'earshot.sqlite3'}",
        **extra,
    }


def run_fresh(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    """Run `python *argv` in the repository with env only; output captured as text."""
    return subprocess.run(
        [sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
