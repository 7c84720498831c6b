"""The demo is installed and routed only on a development or demo instance (DEBUG or
EARSHOT_DEMO): a production instance has no demo URLs and no load_demo command.

Each case starts a fresh process with a clean environment (as tests/config/test_deploy.py
does), since INSTALLED_APPS and the URLconf are fixed when Django starts.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from demo import content

REPO = Path(__file__).resolve().parents[2]
_FEED = next(iter(content.FEEDS.values()))
DEMO_PATHS = [
    f"/listening/demo/feeds/{_FEED.filename}",
    "/listening/demo/hn/api/v1/search_by_date?query=acme",
    f"/listening/demo/hn/api/v1/users/{content.HN_USERS[0]}",
    "/listening/demo/mastodon/api/v1/timelines/tag/acmemobile",
]
# What the process reports: whether the app is installed, whether each path resolves, and
# what a request to it answers (over https, so a production instance does not just redirect).
_PROBE = """
import json, sys
import django
django.setup()
from django.apps import apps
from django.test import Client
from django.urls import Resolver404, resolve

def resolves(path):
    try:
        resolve(path.split("?")[0])
    except Resolver404:
        return False
    return True

paths = json.loads(sys.argv[1])
client = Client()
print(json.dumps({
    "installed": apps.is_installed("demo"),
    "resolves": [resolves(p) for p in paths],
    "status": [client.get(p, secure=True).status_code for p in paths],
}))
"""


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        # Nothing from the outside environment (the test run itself sets EARSHOT_DEMO), nor
        # the developer's .env, leaks in.
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "EARSHOT_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        **extra,
    }


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def probe(env: dict[str, str]) -> dict:
    result = run(env, "-c", _PROBE, json.dumps(DEMO_PATHS))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_production_instance_has_no_demo(tmp_path: Path) -> None:
    env = clean_env(tmp_path)

    found = probe(env)
    command = run(env, "manage.py", "load_demo", "--help")

    assert found == {
        "installed": False,
        "resolves": [False] * len(DEMO_PATHS),
        "status": [404] * len(DEMO_PATHS),
    }
    assert command.returncode != 0
    assert "Unknown command: 'load_demo'" in command.stderr, command.stderr


@pytest.mark.parametrize("switch", [{"EARSHOT_DEMO": "true"}, {"DEBUG": "true"}], ids=str)
def test_a_demo_or_debug_instance_has_the_demo(tmp_path: Path, switch: dict[str, str]) -> None:
    env = clean_env(tmp_path, **switch)

    found = probe(env)
    command = run(env, "manage.py", "load_demo", "--help")

    assert found == {
        "installed": True,
        "resolves": [True] * len(DEMO_PATHS),
        "status": [200] * len(DEMO_PATHS),
    }
    assert command.returncode == 0, command.stdout + command.stderr
    assert "--base-url" in command.stdout
