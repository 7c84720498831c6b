"""Static files on a manual install and in production (issue 11).

A venv + pip install has no node_modules until `npm ci`: that must not warn on every command.
With DEBUG off, pages name their files through collectstatic's manifest: an instance that
never collected them must say so at start (system check, gunicorn), not answer 500.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fresh_process import REPO, production_env, run_fresh


def check(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return run_fresh(production_env(tmp_path, **extra), "manage.py", "check", *args)


def collect(tmp_path: Path, static_root: Path, **extra: str) -> None:
    env = production_env(tmp_path, STATIC_ROOT=str(static_root), **extra)
    result = run_fresh(env, "manage.py", "collectstatic", "--noinput", "-v", "0")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_manual_install_without_node_modules_checks_clean_without_w004(tmp_path):
    result = check(tmp_path, DEBUG="true", EARSHOT_NODE_MODULES=str(tmp_path / "absent"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "W004" not in output and "System check identified no issues" in output, output


def test_without_collectstatic_the_deploy_check_fails_and_says_what_to_run(tmp_path):
    result = check(tmp_path, "--deploy", STATIC_ROOT=str(tmp_path / "never-collected"))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "earshot.E001" in output and "manage.py collectstatic" in output, output


def test_without_collectstatic_commands_that_serve_no_pages_still_run(tmp_path):
    # A worker or cron host runs migrate and the care commands without static files.
    env = production_env(tmp_path, STATIC_ROOT=str(tmp_path / "never-collected"))
    for argv in (["migrate", "-v", "0"], ["check"], ["route_cases"]):
        result = run_fresh(env, "manage.py", *argv)
        output = result.stdout + result.stderr
        assert result.returncode == 0, (argv, output)
        assert "earshot.E001" not in output, (argv, output)


def test_without_collectstatic_a_page_says_what_to_run_instead_of_a_bare_500(tmp_path):
    env = production_env(tmp_path, STATIC_ROOT=str(tmp_path / "never-collected"))
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "from django.test.utils import setup_test_environment; setup_test_environment()\n"
        "r = Client(raise_request_exception=False).get("
        "'/login/', HTTP_HOST='earshot.example', secure=True)\n"
        "print(r.status_code); print(r.content.decode())\n"
    )
    page = run_fresh(env, "-c", code)
    assert page.stdout.startswith("500"), page.stdout + page.stderr
    assert "static files are not collected" in page.stdout, page.stdout
    assert "collectstatic" in page.stdout and "npm ci" in page.stdout, page.stdout


def test_a_collection_without_the_front_end_packages_is_refused_too(tmp_path):
    static_root = tmp_path / "static"
    collect(tmp_path, static_root, EARSHOT_NODE_MODULES=str(tmp_path / "absent"))
    result = check(tmp_path, "--deploy", STATIC_ROOT=str(static_root))
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "earshot.E002" in output and "npm ci" in output, output


def test_collected_static_files_pass_the_check_and_the_sign_in_page_loads_them(tmp_path):
    static_root = tmp_path / "static"
    collect(tmp_path, static_root)
    result = check(tmp_path, "--deploy", STATIC_ROOT=str(static_root))
    assert result.returncode == 0, result.stdout + result.stderr
    # The page a production instance serves first renders with hashed file names.
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "from django.test.utils import setup_test_environment; setup_test_environment()\n"
        "r = Client().get('/login/', HTTP_HOST='earshot.example', secure=True)\n"
        "print(r.status_code); print(r.content.decode())\n"
    )
    page = run_fresh(production_env(tmp_path, STATIC_ROOT=str(static_root)), "-c", code)
    assert page.stdout.startswith("200"), page.stdout + page.stderr
    assert "/static/vendor/htmx/htmx.min." in page.stdout


@pytest.mark.slow
def test_gunicorn_refuses_to_start_without_collected_static_files(tmp_path):
    env = production_env(
        tmp_path, STATIC_ROOT=str(tmp_path / "never-collected"), GUNICORN_BIND="127.0.0.1:0"
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    result = subprocess.run(
        [str(gunicorn), "-c", "config/gunicorn.py", "config.wsgi:application"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "earshot.E001" in result.stderr and "collectstatic" in result.stderr, result.stderr
