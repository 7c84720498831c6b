"""Hostile values through every input path: nothing crashes, nothing good is lost (issue 9).

Each path is the real one: feeds and Bluesky through a local HTTP server and source_poll,
webhooks through the view (and a real gunicorn for chunked bodies), imports through the
management command. Values are the ones an attacker sent to a real server: year-1 and
year-9999 dates, NUL, lone surrogates, huge integers, over-long fields and deep JSON.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brands.models import Brand
from engagement.routing import mentions_route
from listening.models import FetchLog, Mention, MentionMatch, Source
from listening.push_services import webhook_source_create
from listening.services import brand_create, source_create, source_poll
from tests.database import database_url
from tests.feeds import rss_feed, rss_item

REPO = Path(__file__).resolve().parents[2]
BLUESKY_FIXTURES = Path(__file__).parent / "fixtures" / "bluesky"
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
PROFILES = "/xrpc/app.bsky.actor.getProfiles"
IN_WINDOW = 1793613600  # 2026-11-01 in Unix seconds

# Unique external ids across hypothesis examples, which share one test database.
_ids = itertools.count()


def fresh_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed_headers(source: Source, body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    return {"X-Earshot-Timestamp": ts, "X-Earshot-Signature": sign(source.secret, ts, body)}


def deliver(client, source: Source, body: bytes):
    return client.post(
        f"/hooks/{source.token}/",
        data=body,
        content_type="application/json",
        headers=signed_headers(source, body),
    )


@pytest.fixture
def acme() -> Brand:
    return brand_create(name="Acme", query="acme")


@pytest.fixture
def globex() -> Brand:
    return brand_create(name="Globex", query="globex")


@pytest.fixture
def hook(acme) -> Source:
    return webhook_source_create(brand=acme, name="Partner feed")


# --- 1. A year-1 date never stops the queue ---------------------------------------------------


@pytest.mark.django_db
def test_a_feed_item_dated_year_1_is_stored_with_its_fetch_time_and_routing_goes_on(
    acme, globex, feed_server
):
    old = rss_item(
        "y1", "Acme is awful, refund me now", published=datetime(2026, 11, 1, tzinfo=UTC)
    )
    # format_datetime cannot write year 1; the attacker's feed said exactly this.
    old = old.replace("Sun, 01 Nov 2026 00:00:00 +0000", "Mon, 01 Jan 0001 00:00:00 +0000")
    good = rss_item("ok", "Acme support is terrible, nobody answers")
    feed_server.add("/acme.rss", rss_feed([old, good]))
    acme_feed = source_create(brand=acme, kind="rss", url=feed_server.url("/acme.rss"))
    feed_server.add(
        "/globex.rss", rss_feed([rss_item("g1", "Globex lost my parcel, awful service")])
    )
    globex_feed = source_create(brand=globex, kind="rss", url=feed_server.url("/globex.rss"))

    before = datetime.now(UTC)
    log = source_poll(source_id=acme_feed.pk).fetch_log
    source_poll(source_id=globex_feed.pk)
    routed = mentions_route()

    year_one = Mention.objects.get(source=acme_feed, external_id="y1")
    assert before <= year_one.published_at <= datetime.now(UTC)
    assert "item 'y1': published_at 0001-01-01" in log.warning
    assert log.error_class == "" and log.items_new == 2
    assert routed.opened == 3  # both Acme complaints and the Globex one reached the queue
    assert not MentionMatch.objects.filter(routed_at__isnull=True).exists()


# --- 2. A date before year 1 never makes a mention unreadable --------------------------------


def bluesky_search(created_at: str, *, uri_suffix: str = "hostile") -> bytes:
    page = json.loads((BLUESKY_FIXTURES / "searchPosts_built_forward.json").read_bytes())
    post = page["posts"][0]
    post["uri"] = post["uri"].rsplit("/", 1)[0] + f"/{uri_suffix}"
    post["record"]["createdAt"] = created_at
    return json.dumps(page).encode()


@pytest.mark.django_db
def test_a_bluesky_post_dated_before_year_1_in_utc_stays_readable_everywhere(
    acme, feed_server, admin_client
):
    feed_server.add(
        PROFILES,
        (BLUESKY_FIXTURES / "getProfiles_built.json").read_bytes(),
        content_type="application/json",
    )
    feed_server.add(
        SEARCH, bluesky_search("0001-01-01T00:00:00+05:00"), content_type="application/json"
    )
    source = Source.objects.create(
        brand=acme, kind="bluesky", url=feed_server.url(""), config={}, backfill_days=3650
    )

    log = source_poll(source_id=source.pk).fetch_log

    assert log.error_class == "" and log.items_new == 1
    assert "published_at 0001-01-01T00:00:00+05:00 is outside" in log.warning
    mention = Mention.objects.get(source=source)  # raised "year -1 is out of range" before
    assert mention.published_at.year == datetime.now(UTC).year
    out = io.StringIO()
    call_command("export_mentions", "--brand", "Acme", stdout=out)
    assert "acme news today" in out.getvalue()
    page = admin_client.get("/admin/listening/mention/")
    assert page.status_code == 200 and "acme news today" in page.content.decode()


# --- 3. One bad field never loses a webhook delivery, and every delivery is logged -----------

HOSTILE_FIELDS = {
    "lone surrogate in text": {"text": "acme \ud800 broke"},
    "lone surrogate in handle": {"author_handle": "\udfffjoe"},
    "NUL in handle": {"author_handle": "jo\x00e"},
    "NUL in name": {"author_name": "Jo\x00e"},
    "NUL in platform": {"platform": "red\x00dit"},
    "NUL in external id": {"external_id": "id\x00nul"},
    "platform longer than the column": {"platform": "p" * 200},
    "followers of 10^20": {"author_followers": 10**20},
    "followers of 2^63": {"author_followers": 2**63},
    "likes of 10^20": {"like_count": 10**20},
    "likes of 2^63": {"like_count": 2**63},
    "published_at past year 9999 in UTC": {"published_at": "9999-12-31T23:59:59-05:00"},
    "published_at in year 1": {"published_at": "0001-01-01T00:00:00Z"},
    "published_at before year 1 in UTC": {"published_at": "0001-01-01T00:00:00+05:00"},
    "text of 1 MB less a little": {"text": "acme " + "x" * 900_000},
}


@pytest.mark.django_db
@pytest.mark.parametrize("bad", HOSTILE_FIELDS.values(), ids=HOSTILE_FIELDS.keys())
def test_a_delivery_with_one_hostile_field_stores_every_item_once(client, hook, bad):
    good = [
        {"external_id": f"g{n}", "text": f"acme post {n}", "published_at": IN_WINDOW}
        for n in range(3)
    ]
    hostile = {"external_id": "h1", "text": "acme hostile", "published_at": IN_WINDOW, **bad}
    body = json.dumps([good[0], hostile, good[1], good[2]]).encode()
    logs = FetchLog.objects.filter(source=hook).count()

    response = deliver(client, hook, body)
    again = deliver(client, hook, body)  # a sender that retries stores nothing twice

    assert response.status_code == 202, response.content
    assert response.json()["new"] == 4 and again.json()["duplicate"] == 4
    assert Mention.objects.filter(source=hook).count() == 4
    assert FetchLog.objects.filter(source=hook).count() == logs + 2
    for mention in Mention.objects.filter(source=hook):
        mention.refresh_from_db()  # every stored value reads back
        assert mention.published_at.year >= 1990


@pytest.mark.django_db
def test_a_clamped_or_redated_item_is_named_in_the_answer_and_the_fetch_log(client, hook):
    body = json.dumps(
        [
            {"external_id": "far", "text": "acme", "published_at": "9999-12-31T23:59:59-05:00"},
            {"external_id": "big", "text": "acme", "published_at": IN_WINDOW, "like_count": 2**64},
        ]
    ).encode()

    answer = deliver(client, hook, body).json()

    log = FetchLog.objects.filter(source=hook).latest("started_at")
    for warnings in (answer["warnings"], log.warning.splitlines()):
        assert any(w.startswith("item 'far': published_at 9999-12-31") for w in warnings)
        assert any(w.startswith("item 'big': like_count 18446744073709551616") for w in warnings)
    assert Mention.objects.get(source=hook, external_id="big").like_count == 2**63 - 1


@pytest.mark.django_db
def test_a_deeply_nested_delivery_is_a_400_in_the_fetch_log(client, hook):
    body = b"[" * 100_000 + b"]" * 100_000

    response = deliver(client, hook, body)

    assert response.status_code == 400
    assert "nested more than 32 levels" in response.json()["error"]
    log = FetchLog.objects.get(source=hook)
    assert log.error_class == "malformed_json" and log.http_status == 400


hostile_string = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=40
) | st.sampled_from(["\ud800", "a\x00b", "\u202eevil\u202c", "x" * 5000, "=HYPERLINK(1)", ""])
hostile_int = st.integers(min_value=-(2**80), max_value=2**80) | st.sampled_from(
    [10**20, 2**63, 2**63 - 1, -1, 0]
)
hostile_date = (
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "9999-12-31",
            "2024-02-30",
            "1" * 5000,
            "\ud800",
        ]
    )
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.sampled_from([None, UTC, *(timezone(timedelta(hours=h)) for h in (-5, 5))]),
    ).map(datetime.isoformat)
)
# Now and then a value of the wrong type, which the shape refuses by name.
wrong_type = st.booleans() | st.floats(allow_nan=False) | st.none()
STRING_FIELDS = [
    "title",
    "platform",
    "url",
    "author_handle",
    "author_name",
    "author_url",
    "lang",
    "in_reply_to",
    "thread_id",
]
COUNT_FIELDS = ["author_followers", "like_count", "reply_count", "repost_count"]
FIELDS = ["text", "published_at", *STRING_FIELDS, *COUNT_FIELDS]
hostile_item = st.fixed_dictionaries(
    {"text": hostile_string.map(lambda s: "acme " + s), "published_at": hostile_date},
    optional={
        **{name: hostile_string | wrong_type for name in STRING_FIELDS},
        **{name: hostile_int | wrong_type for name in COUNT_FIELDS},
    },
)


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(items=st.lists(hostile_item, min_size=1, max_size=4), good_count=st.integers(0, 3))
def test_any_delivery_is_answered_logged_and_stores_each_good_item_once(
    client, hook, items, good_count
):
    good = [
        {"external_id": fresh_id("good"), "text": "acme is fine", "published_at": IN_WINDOW}
        for _ in range(good_count)
    ]
    hostile = [{**item, "external_id": fresh_id("bad")} for item in items]
    body = json.dumps(good + hostile).encode()
    logs = FetchLog.objects.filter(source=hook).count()

    response = deliver(client, hook, body)

    assert response.status_code in (202, 400), response.content
    assert FetchLog.objects.filter(source=hook).count() == logs + 1
    stored = set(
        Mention.objects.filter(
            source=hook, external_id__in=[i["external_id"] for i in good]
        ).values_list("external_id", flat=True)
    )
    if response.status_code == 202:
        assert stored == {i["external_id"] for i in good}
    else:
        # The sender is told which items to fix, and nothing of the delivery is half-stored.
        errors = response.json()["errors"]
        assert errors and all(e["index"] >= good_count for e in errors)
        assert stored == set()


# --- 4. One bad import row never costs the good ones -----------------------------------------


def import_file(tmp_path: Path, rows: list[dict], fmt: str) -> Path:
    path = tmp_path / f"rows.{fmt}"
    if fmt == "jsonl":
        path.write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8", errors="surrogatepass"
        )
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["external_id", *FIELDS])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: v for k, v in row.items()})
        path.write_bytes(buffer.getvalue().encode("utf-8", errors="surrogatepass"))
    return path


def run_import(path: Path) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of import_mentions as the CLI would give them."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_mentions", str(path), "--brand", "Acme", stdout=out, stderr=err)
    except CommandError as exc:
        return 1, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("bad", HOSTILE_FIELDS.values(), ids=HOSTILE_FIELDS.keys())
def test_an_import_with_one_hostile_line_stores_every_good_row(acme, tmp_path, fmt, bad):
    rows = [
        {"external_id": f"r{n}", "text": f"acme row {n}", "published_at": IN_WINDOW}
        for n in range(50)
    ]
    rows[25] = {**rows[25], **bad}
    path = import_file(tmp_path, rows, fmt)

    code, out, err = run_import(path)

    assert code == 0, err
    good = [f"r{n}" for n in range(50) if n != 25]
    assert Mention.objects.filter(source__brand=acme, external_id__in=good).count() == 49
    if Mention.objects.filter(source__brand=acme).count() == 50:
        assert "50 row(s) read, 50 new, 0 duplicate, 0 unmatched, 0 error(s)" in out
    else:
        # A CSV cannot carry every value (a lone surrogate is invalid UTF-8, NUL is not CSV):
        # that row is then reported by its line (the header is line 1).
        assert "50 row(s) read, 49 new, 0 duplicate, 0 unmatched, 1 error(s)" in out
        assert err.startswith("line 27: ")
    again = run_import(path)[1]  # and a re-run doubles nothing
    assert Mention.objects.filter(source__brand=acme).count() in (49, 50)
    assert re.search(r"(49|50) duplicate", again)


@pytest.mark.django_db
def test_an_import_line_nested_too_deep_is_a_reported_row_error(acme, tmp_path):
    path = tmp_path / "deep.jsonl"
    good = json.dumps({"external_id": "ok", "text": "acme", "published_at": IN_WINDOW})
    path.write_text(good + "\n" + "[" * 100_000 + "]" * 100_000 + "\n" + good.replace("ok", "ok2"))

    code, out, err = run_import(path)

    assert code == 0
    assert "line 2: not valid JSON (JSON nested more than 32 levels deep)" in err
    assert "3 row(s) read, 2 new, 0 duplicate, 0 unmatched, 1 error(s)" in out


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    hostile=st.lists(hostile_item, min_size=1, max_size=3),
    fmt=st.sampled_from(["jsonl", "csv"]),
    where=st.integers(0, 9),
)
def test_any_import_reports_bad_rows_by_line_and_stores_every_good_row_once(
    acme, tmp_path_factory, hostile, fmt, where
):
    good = [
        {"external_id": fresh_id("row"), "text": "acme import", "published_at": IN_WINDOW}
        for _ in range(10)
    ]
    bad = [{**item, "external_id": fresh_id("bad")} for item in hostile]
    if fmt == "csv":
        # CSV has no types: every hostile value arrives as its text.
        bad = [
            {k: v if isinstance(v, str) or v is None else json.dumps(v) for k, v in b.items()}
            for b in bad
        ]
    rows = good[:where] + bad + good[where:]
    path = import_file(tmp_path_factory.mktemp("import"), rows, fmt)

    code, out, err = run_import(path)

    assert code == 0, err
    stored = Mention.objects.filter(external_id__in=[g["external_id"] for g in good])
    assert stored.count() == 10
    errors = int(re.search(r"(\d+) error\(s\)", out).group(1))
    reported = [line for line in err.splitlines() if line.startswith("line ")]
    assert len(reported) == errors
    new = int(re.search(r"(\d+) new", out).group(1))
    # Every row is accounted for: stored, or reported by its line.
    assert new + errors == len(rows)


# --- The database refusing one row costs no other ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_row_the_database_refuses_is_reported_and_the_rest_are_stored(client, hook):
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE listening_mention ADD CONSTRAINT test_refuse_poison"
            " CHECK (external_id <> 'poison')"
        )
    try:
        body = json.dumps(
            [
                {"external_id": name, "text": "acme", "published_at": IN_WINDOW}
                for name in ("a", "poison", "b")
            ]
        ).encode()

        answer = deliver(client, hook, body).json()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE listening_mention DROP CONSTRAINT test_refuse_poison")

    assert set(Mention.objects.filter(source=hook).values_list("external_id", flat=True)) == {
        "a",
        "b",
    }
    assert answer["new"] == 2 and answer["failed"] == 1
    assert any(w.startswith("item 'poison': not stored:") for w in answer["warnings"])
    assert "item 'poison': not stored" in FetchLog.objects.get(source=hook).warning


# --- Chunked webhook bodies through a real server ---------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_a_chunked_delivery_is_read_signed_and_stored_by_gunicorn(hook):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "true",
        "ALLOWED_HOSTS": "127.0.0.1",
        "EARSHOT_PLAIN_HTTP": "true",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/hooks/{hook.token}/"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(url, timeout=5)
                break
            except requests.RequestException:  # refused, or not answering yet while it boots
                time.sleep(0.2)
        body = json.dumps(
            [{"external_id": "c1", "text": "acme in chunks", "published_at": IN_WINDOW}]
        ).encode()

        def chunks():
            # A generator body: requests sends it chunked, with no Content-Length.
            for start in range(0, len(body), 7):
                yield body[start : start + 7]

        response = requests.post(
            url,
            data=chunks(),
            headers={**signed_headers(hook, body), "Content-Type": "application/json"},
            timeout=10,
        )
        too_big = requests.post(
            url,
            data=(b"x" * 65536 for _ in range(20)),  # 1.25 MiB, over the 1 MiB limit
            headers={**signed_headers(hook, b""), "Content-Type": "application/json"},
            timeout=10,
        )
    finally:
        server.terminate()
        server.wait(10)

    assert response.status_code == 202, response.text
    assert response.json()["new"] == 1
    assert Mention.objects.get(source=hook, external_id="c1").text == "acme in chunks"
    assert too_big.status_code == 413


@pytest.mark.django_db
def test_a_chunked_delivery_to_a_server_that_cannot_read_it_is_told_to_send_a_length(client, hook):
    body = b'[{"external_id": "c2", "text": "acme", "published_at": 1793613600}]'

    response = client.generic(
        "POST",
        f"/hooks/{hook.token}/",
        data=b"",
        content_type="application/json",
        headers={**signed_headers(hook, body), "Transfer-Encoding": "chunked"},
    )

    assert response.status_code == 411
    assert "Content-Length" in response.json()["error"]
    log = FetchLog.objects.get(source=hook)
    assert (log.http_status, log.error_class) == (411, "unreadable_body")


# --- The stored text is capped and says so ----------------------------------------------------


@pytest.mark.django_db
def test_a_text_over_the_cap_is_stored_cut_and_marked_truncated(client, hook, settings):
    settings.EARSHOT_MENTION_TEXT_MAX_CHARS = 1000
    body = json.dumps(
        [
            {"external_id": "long", "text": "acme " + "word " * 1000, "published_at": IN_WINDOW},
            {"external_id": "short", "text": "acme short", "published_at": IN_WINDOW},
        ]
    ).encode()

    deliver(client, hook, body)

    long, short = (Mention.objects.get(source=hook, external_id=x) for x in ("long", "short"))
    assert len(long.text) <= 1000 and long.text.startswith("acme word")
    assert long.is_text_truncated and not short.is_text_truncated


@pytest.mark.django_db
def test_a_delivery_with_a_bogus_content_length_is_refused_in_the_fetch_log(client, hook):
    response = client.generic("POST", f"/hooks/{hook.token}/", data=b"[]", CONTENT_LENGTH="12abc")

    assert response.status_code == 400
    assert response.json() == {"error": "invalid Content-Length"}
    assert FetchLog.objects.get(source=hook).error_class == "unreadable_body"
