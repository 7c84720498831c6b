"""import_mentions --history as the listening side sees it: the rows this import stores are
marked history (MentionMatch.is_history); rows stored before keep what they were, and an import
without the flag marks nothing. What routing makes of them is tested in
tests/engagement/test_route_cases.py."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from brands.models import Brand
from listening.models import MentionMatch

pytestmark = pytest.mark.django_db

HEADER = "external_id,author_handle,text,published_at\n"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_mentions", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def acme() -> Brand:
    brand = Brand.objects.create(name="Acme", query="acme")
    brand.competitors.add(Brand.objects.create(name="Globex", query="globex"))
    return brand


def history_flags() -> dict[tuple[str, str], bool]:
    return {
        (external_id, brand): flag
        for external_id, brand, flag in MentionMatch.objects.values_list(
            "mention__external_id", "brand__name", "is_history"
        )
    }


def test_history_marks_only_the_matches_this_import_stores(acme, tmp_path):
    live = tmp_path / "live.csv"
    live.write_text(HEADER + "x1,jo,acme is slow,2025-03-01T10:00:00Z\n", encoding="utf-8")
    past = tmp_path / "past.csv"
    past.write_text(
        HEADER
        + "x1,jo,acme is slow,2025-03-01T10:00:00Z\n"
        + "x2,al,acme and globex both broke,2025-03-02T10:00:00Z\n"
        + "x3,al,nobody we know,2025-03-02T11:00:00Z\n",
        encoding="utf-8",
    )

    run("--brand", "Acme", str(live))
    out = run("--brand", "Acme", str(past), "--history")

    assert "3 row(s) read, 1 new, 1 duplicate, 1 unmatched" in out
    # x1 was stored live first: the history import leaves it live. x2 matched both brands.
    assert history_flags() == {
        ("x1", "Acme"): False,
        ("x2", "Acme"): True,
        ("x2", "Globex"): True,
    }
    assert "history cases filed:" in out


def test_without_the_flag_nothing_is_history(acme, tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"external_id": "j1", "text": "acme rocks", "published_at": "2025-03-01T10:00:00Z"}\n',
        encoding="utf-8",
    )

    out = run("--brand", "Acme", str(path))

    assert history_flags() == {("j1", "Acme"): False}
    assert "history cases filed" not in out
