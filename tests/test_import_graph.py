"""Which app may import which (issue 10): arrows point down only.

    dashboard -> tracking -> engagement -> listening -> brands;  nothing imports demo
    dashboard -> customers -> listening -> brands;  nothing below imports customers

Walks every module of our apps with ast and fails on a forbidden arrow, naming the file and
the line, so a newcomer's stray import is caught where it was written. Imports inside
functions count too: a function-level import is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APPS = ("brands", "listening", "engagement", "tracking", "dashboard", "demo", "customers")
# app -> the apps of ours it may import
ALLOWED: dict[str, set[str]] = {
    "brands": set(),
    "listening": {"brands"},
    "engagement": {"brands", "listening"},
    "tracking": {"brands", "listening", "engagement"},
    "dashboard": {"brands", "listening", "engagement", "tracking", "customers"},
    "demo": {"brands", "listening", "engagement", "tracking", "dashboard", "customers"},
    "customers": {"brands", "listening"},
}


def imported_apps(path: Path) -> list[tuple[int, str]]:
    """(line, app) for every import of one of our apps in the module at path."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".", 1)[0]
            if top in APPS:
                found.append((node.lineno, top))
    return found


def forbidden_arrows(root: Path) -> list[str]:
    """Every import under root that ALLOWED forbids, as "path:line: app imports other"."""
    wrong = []
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            for line, target in imported_apps(path):
                if target != app and target not in ALLOWED[app]:
                    wrong.append(f"{path.relative_to(root)}:{line}: {app} imports {target}")
    return wrong


def test_every_app_imports_only_the_apps_below_it():
    assert forbidden_arrows(REPO) == []


def test_the_walk_sees_a_forbidden_arrow_with_its_file_and_line(tmp_path):
    for app in APPS:
        (tmp_path / app).mkdir()
    (tmp_path / "brands" / "models.py").write_text(
        "import os\nfrom engagement.models import Case\n"
    )
    (tmp_path / "listening" / "admin.py").write_text(
        "from brands.admin import BrandScopedAdmin\n\n\ndef f():\n    import dashboard.views\n"
    )
    (tmp_path / "dashboard" / "views.py").write_text("import engagement.models, demo.content\n")

    assert forbidden_arrows(tmp_path) == [
        "brands/models.py:2: brands imports engagement",
        "listening/admin.py:5: listening imports dashboard",
        "dashboard/views.py:1: dashboard imports demo",
    ]


def test_the_walk_allows_the_arrows_that_point_down(tmp_path):
    for app in APPS:
        (tmp_path / app).mkdir()
    (tmp_path / "engagement" / "routing.py").write_text(
        "from brands.models import Brand\nfrom listening.models import Mention\nfrom . import x\n"
    )
    (tmp_path / "demo" / "views.py").write_text("from listening import services\n")

    assert forbidden_arrows(tmp_path) == []


@pytest.mark.parametrize("app", APPS)
def test_each_app_is_a_folder_of_python(app):
    # The walk would pass vacuously over an app that moved or was renamed.
    assert any((REPO / app).rglob("*.py")), app
