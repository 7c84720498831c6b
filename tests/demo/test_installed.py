"""The demo is installed and routed only on a development or demo instance (DEBUG or
EARSHOT_DEMO): a production instance has no demo URLs and no load_demo command.

Each case starts a fresh process with a clean environment (tests/fresh_process.py), since
INSTALLED_APPS and the URLconf are fixed when Django starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo import content
from tests.fresh_process import production_env, run_fresh

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


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    """Collected static files, as every production instance has them (the earshot.E001 check
    refuses one without): the 404 page, like every page, names its stylesheet through them."""
    tmp_path = tmp_path_factory.mktemp("static")
    root = tmp_path / "static"
    env = production_env(tmp_path, STATIC_ROOT=str(root))
    result = run_fresh(env, "manage.py", "collectstatic", "--noinput", "-v", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def probe(env: dict[str, str]) -> dict:
    result = run_fresh(env, "-c", _PROBE, json.dumps(DEMO_PATHS))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("switch", "installed"),
    [({}, False), ({"EARSHOT_DEMO": "true"}, True), ({"DEBUG": "true"}, True)],
    ids=["production", "EARSHOT_DEMO", "DEBUG"],
)
def test_the_demo_is_there_only_with_debug_or_earshot_demo(
    tmp_path: Path, static_root: Path, switch: dict[str, str], installed: bool
) -> None:
    env = production_env(
        tmp_path, ALLOWED_HOSTS="testserver", STATIC_ROOT=str(static_root), **switch
    )

    found = probe(env)
    command = run_fresh(env, "manage.py", "load_demo", "--help")

    assert found == {
        "installed": installed,
        "resolves": [installed] * len(DEMO_PATHS),
        "status": [200 if installed else 404] * len(DEMO_PATHS),
    }
    if installed:
        assert command.returncode == 0, command.stdout + command.stderr
        assert "--base-url" in command.stdout
    else:
        assert command.returncode != 0
        assert "Unknown command: 'load_demo'" in command.stderr, command.stderr
