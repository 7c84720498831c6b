"""The ingest path end to end in one process: real HTTP server, real parsers, real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from listening.models import Author, FetchLog, Mention, MentionMatch, Source
from listening.sentiment import get_analyzer
from listening.sentiment.care import CareScorer
from listening.services import brand_create, source_create, source_poll, sources_dispatch_due
from tests.feeds import numbered_items, rss_feed, rss_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    acme = brand_create(name="Acme", query='acme OR "road runner"')
    brand_create(name="Globex", query="globex", competitor_of="Acme")
    return acme


def make_source(acme, url: str, **kwargs) -> Source:
    return source_create(brand=acme, kind="rss", url=url, **kwargs)


@pytest.fixture
def score_counter(monkeypatch):
    """The texts the default scorer was asked to score (a spy that delegates; nothing is
    replaced)."""
    calls = []
    real = CareScorer.score_with_plain_many

    def counting(self, texts):
        calls.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(CareScorer, "score_with_plain_many", counting)
    return calls


def test_it_stores_matching_items_once_with_scores_and_matches(acme, feed_server):
    url = feed_server.add(
        "/feed.xml",
        rss_feed(
            [
                rss_item(
                    "a",
                    "Acme support is awful",
                    "Three hours on hold. Never again.",
                    author="jo@example.com (Jo)",
                ),
                rss_item("b", "Weather today", "Sunny with light winds."),
                rss_item(
                    "c",
                    "Acme beats Globex",
                    "The new Acme plan is great value.",
                    link="https://blog.example/acme-vs-globex",
                ),
            ]
        ),
    )
    source = make_source(acme, url)

    result = source_poll(source_id=source.pk)

    log = result.fetch_log
    assert (log.http_status, log.items_seen, log.items_new, log.items_unmatched) == (200, 3, 2, 1)
    assert log.error_class == ""
    angry = Mention.objects.get(external_id="a")
    assert angry.text == "Acme support is awful. Three hours on hold. Never again."
    assert angry.label == "negative" and angry.compound <= -0.05
    assert angry.author.handle and angry.author.platform == "web" and angry.platform == "web"
    both = Mention.objects.get(external_id="c")
    assert both.url == "https://blog.example/acme-vs-globex"
    assert sorted(m.brand.name for m in both.matches.all()) == ["Acme", "Globex"]
    globex_match = MentionMatch.objects.get(mention=both, brand__name="Globex")
    assert globex_match.matched_terms == ["globex"]
    assert globex_match.published_at == both.published_at and globex_match.label == both.label
    source.refresh_from_db()
    assert source.last_success_at is not None and source.consecutive_failures == 0


def test_refetching_the_same_feed_stores_nothing_new(acme, feed_server):
    url = feed_server.add("/feed.xml", rss_feed(numbered_items(10)))
    source = make_source(acme, url)
    source_poll(source_id=source.pk)

    second = source_poll(source_id=source.pk).fetch_log

    assert second.items_new == 0 and second.items_duplicate == 10
    assert Mention.objects.count() == 10
    assert MentionMatch.objects.count() == 10


def test_repolling_a_100_item_feed_with_2_new_items_scores_only_those_2(
    acme, feed_server, score_counter
):
    feed_server.add("/feed.xml", rss_feed(numbered_items(100)))
    source = make_source(acme, feed_server.url("/feed.xml"))
    source_poll(source_id=source.pk)
    assert len(score_counter) == 100
    score_counter.clear()
    feed_server.add(
        "/feed.xml", rss_feed(numbered_items(98, start=2) + numbered_items(2, start=100))
    )

    log = source_poll(source_id=source.pk).fetch_log

    assert (log.items_new, log.items_duplicate) == (2, 98)
    assert len(score_counter) == 2
    assert Mention.objects.count() == 102


def test_it_uses_conditional_get_and_a_304_stores_nothing(acme, feed_server):
    feed_server.add(
        "/feed.xml",
        rss_feed(numbered_items(3)),
        etag='"v1"',
        last_modified="Sun, 01 Nov 2026 12:00:00 GMT",
    )
    source = make_source(acme, feed_server.url("/feed.xml"))
    source_poll(source_id=source.pk)
    source.refresh_from_db()
    assert source.etag == '"v1"'

    log = source_poll(source_id=source.pk).fetch_log

    assert log.http_status == 304 and log.items_seen == 0 and log.error_class == ""
    second_request = feed_server.requests_for("/feed.xml")[-1]
    assert second_request.header("If-None-Match") == '"v1"'
    assert Mention.objects.count() == 3


def test_gzip_and_redirected_feeds_are_stored(acme, feed_server):
    feed_server.add("/real.xml", rss_feed(numbered_items(4)), gzip=True)
    feed_server.add_redirect("/moved.xml", "/real.xml", status=301)
    source = make_source(acme, feed_server.url("/moved.xml"))

    log = source_poll(source_id=source.pk).fetch_log

    assert log.items_new == 4 and log.error_class == ""


def test_a_post_matching_two_brands_is_stored_once_and_counted_for_both(acme, feed_server):
    url = feed_server.add("/f.xml", rss_feed([rss_item("x", "Acme beats Globex on price")]))
    source = make_source(acme, url)
    source_poll(source_id=source.pk)

    assert Mention.objects.count() == 1
    assert MentionMatch.objects.filter(brand__name="Acme").count() == 1
    assert MentionMatch.objects.filter(brand__name="Globex").count() == 1


def test_items_without_guid_get_a_stable_id_across_polls(acme, feed_server):
    items = [rss_item("", "Acme news", "Acme ships", link="https://news.example/1")]
    url = feed_server.add("/f.xml", rss_feed(items))
    source = make_source(acme, url)
    source_poll(source_id=source.pk)
    first_id = Mention.objects.get().external_id

    log = source_poll(source_id=source.pk).fetch_log

    assert log.items_new == 0 and Mention.objects.get().external_id == first_id


@pytest.mark.parametrize(
    ("route", "error_class", "words"),
    [
        (
            {"body": b"<html><body><h1>Welcome</h1></body></html>", "content_type": "text/html"},
            "not_a_feed",
            "HTML",
        ),
        ({"body": b"", "status": 500}, "http_5xx", "500"),
        ({"body": b"gone", "status": 410}, "http_4xx", "410"),
        ({"body": b"nope", "status": 404}, "http_4xx", "404"),
        ({"body": b'{"hello": 1}', "content_type": "application/json"}, "not_a_feed", ""),
    ],
)
def test_bad_responses_are_recorded_with_a_clear_error(
    acme, feed_server, route, error_class, words
):
    url = feed_server.add("/bad", **route)
    source = make_source(acme, url)

    result = source_poll(source_id=source.pk)

    log = FetchLog.objects.get(pk=result.fetch_log.pk)
    assert log.error_class == error_class
    assert words in log.error_message
    assert log.finished_at is not None
    source.refresh_from_db()
    assert source.consecutive_failures == 1 and error_class in source.last_error
    assert source.is_enabled


def test_a_dead_host_is_recorded_as_a_transient_failure(acme, settings, feed_server):
    feed_server.close()  # nothing listens on that port now
    source = make_source(acme, feed_server.url("/feed.xml"))

    result = source_poll(source_id=source.pk)

    assert result.is_transient_failure
    assert result.fetch_log.error_class == "connection_failed"


def test_a_slow_server_times_out_and_is_recorded(acme, feed_server, settings):
    settings.EARSHOT_FETCH_TIMEOUT = 0.5
    url = feed_server.add("/slow.xml", rss_feed(numbered_items(2)), delay=3)
    source = make_source(acme, url)

    result = source_poll(source_id=source.pk)

    assert result.fetch_log.error_class == "timeout" and result.is_transient_failure


def test_an_oversized_feed_is_refused_and_nothing_is_stored(acme, feed_server, settings):
    settings.EARSHOT_FETCH_MAX_BYTES = 20_000
    url = feed_server.add("/big.xml", rss_feed(numbered_items(200)))
    source = make_source(acme, url)

    result = source_poll(source_id=source.pk)

    assert result.fetch_log.error_class == "too_large"
    assert "limit" in result.fetch_log.error_message
    assert Mention.objects.count() == 0


def test_a_private_address_is_refused_without_the_allowlist(acme, settings):
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = []
    source = make_source(acme, "http://127.0.0.1:9/feed.xml")

    result = source_poll(source_id=source.pk)

    assert result.fetch_log.error_class == "blocked_address"
    assert "EARSHOT_ALLOWED_PRIVATE_HOSTS" in result.fetch_log.error_message


def test_a_partly_broken_feed_keeps_its_good_items_and_warns(acme, feed_server):
    good = rss_feed(numbered_items(5)).decode()
    # Cut inside the last item: ill-formed XML, but the first items are intact.
    broken = good[: good.rindex("<item>") + 30]
    url = feed_server.add("/broken.xml", broken.encode())
    source = make_source(acme, url)

    log = source_poll(source_id=source.pk).fetch_log

    assert log.error_class == ""
    assert log.items_new >= 4
    assert log.warning


def test_invalid_utf8_is_recorded_and_good_items_are_kept(acme, feed_server):
    body = rss_feed(numbered_items(3)).replace(b"Post 1", b"Post \xff\xfe 1")
    url = feed_server.add("/bad-utf8.xml", body)
    source = make_source(acme, url)

    log = source_poll(source_id=source.pk).fetch_log

    if log.error_class:
        assert log.error_class == "malformed_feed" and log.error_message
    else:
        assert log.items_new == 3 and log.warning


def test_repeated_failures_back_off_but_keep_the_source_enabled(acme, feed_server, settings):
    settings.EARSHOT_BACKOFF_AFTER_FAILURES = 2
    url = feed_server.add("/down", b"", status=503)
    source = make_source(acme, url, poll_interval=60)
    delays = []
    for _ in range(4):
        before = timezone.now()
        source_poll(source_id=source.pk)
        source.refresh_from_db()
        delays.append((source.next_poll_at - before).total_seconds())

    assert source.consecutive_failures == 4 and source.is_enabled
    assert delays[0] == pytest.approx(60, abs=5) and delays[1] == pytest.approx(120, abs=5)
    assert delays[3] == pytest.approx(480, abs=5)

    feed_server.add("/down", rss_feed(numbered_items(1)))
    source_poll(source_id=source.pk)
    source.refresh_from_db()
    assert source.consecutive_failures == 0 and source.last_error == ""


def test_dispatch_claims_each_due_source_once(acme):
    due = make_source(acme, "https://a.example/feed")
    later = make_source(acme, "https://b.example/feed")
    Source.objects.filter(pk=later.pk).update(next_poll_at=timezone.now() + timedelta(hours=1))
    off = make_source(acme, "https://c.example/feed")
    Source.objects.filter(pk=off.pk).update(is_enabled=False)

    assert sources_dispatch_due() == [due.pk]
    assert sources_dispatch_due() == []


def test_authors_are_stored_once_per_platform_and_handle(acme, feed_server):
    url = feed_server.add("/f.xml", rss_feed(numbered_items(21)))
    source = make_source(acme, url)
    source_poll(source_id=source.pk)

    assert Author.objects.count() == 7
    assert Mention.objects.filter(author__isnull=True).count() == 0


def test_a_deleted_source_is_a_quiet_no_op():
    assert source_poll(source_id=999_999) is None


def test_batches_commit_separately(acme, feed_server, settings):
    settings.EARSHOT_STORE_BATCH_SIZE = 7
    url = feed_server.add("/f.xml", rss_feed(numbered_items(30)))
    source = make_source(acme, url)

    log = source_poll(source_id=source.pk).fetch_log

    assert log.items_new == 30 and Mention.objects.count() == 30


def test_the_stored_text_is_the_clean_text_that_was_scored(acme, feed_server):
    body = "<p>Acme&#8217;s <b>new</b> plan is   <i>awesome</i>!</p><script>alert(1)</script>"
    url = feed_server.add("/f.xml", rss_feed([rss_item("h", "Hello &amp; welcome", body)]))
    source = make_source(acme, url)
    source_poll(source_id=source.pk)

    mention = Mention.objects.get()
    assert mention.text == "Hello & welcome. Acme\u2019s new plan is awesome!"
    assert "alert" not in mention.text
    assert mention.compound == get_analyzer().polarity_scores(mention.text)["compound"]


def test_only_plain_web_links_are_kept_from_items(acme, feed_server):
    long_url = "https://news.example/" + "a" * 2100
    items = [
        rss_item("js", "Acme one", link="javascript:alert(1)"),
        rss_item("long", "Acme two", link=long_url),
        rss_item("ok", "Acme three", link="https://news.example/3"),
    ]
    source = make_source(acme, feed_server.add("/f.xml", rss_feed(items)))

    source_poll(source_id=source.pk)

    urls = dict(Mention.objects.values_list("external_id", "url"))
    assert urls == {"js": "", "long": "", "ok": "https://news.example/3"}


def test_backslashes_and_tabs_survive_the_bulk_insert_exactly(acme, feed_server):
    title = "Acme path C:\\new\\table\tand \\N here"
    source = make_source(acme, feed_server.add("/f.xml", rss_feed([rss_item("b", title)])))

    source_poll(source_id=source.pk)

    assert Mention.objects.get().text == "Acme path C:\\new\\table and \\N here"


def test_a_post_by_the_brands_own_handle_is_kept_without_naming_the_brand(feed_server):
    brand = brand_create(name="Acme", query="acme", handles="@acme_help")
    items = [
        rss_item("answer", "", "@carol sorry about that, we are on it", author="Acme_Help"),
        rss_item("stranger", "", "@carol sorry about that", author="someone"),
    ]
    source = make_source(brand, feed_server.add("/f.xml", rss_feed(items)))

    source_poll(source_id=source.pk)

    answer = Mention.objects.get()
    assert answer.external_id == "answer"
    assert answer.matches.get().matched_terms == ["own handle @acme_help"]


@pytest.fixture
def commit_settings():
    """synchronous_commit as the poll's own connection sees it each time it saves its
    FetchLog (a real signal receiver, run on the poll's connection and thread)."""
    from django.db import connection
    from django.db.models.signals import post_save

    seen = []

    def record(sender, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])

    post_save.connect(record, sender=FetchLog, dispatch_uid="test_commit_settings")
    yield seen
    post_save.disconnect(sender=FetchLog, dispatch_uid="test_commit_settings")


def show_synchronous_commit() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_poll_commits_unflushed_and_then_restores_the_setting(acme, feed_server, commit_settings):
    url = feed_server.add("/feed.xml", rss_feed(numbered_items(5)))
    source = make_source(acme, url)

    source_poll(source_id=source.pk)

    assert commit_settings and set(commit_settings) == {"off"}
    assert show_synchronous_commit() == "on"
    assert Mention.objects.count() == 5
    # A failed poll (the feed is gone) restores it too.
    feed_server.close()
    source_poll(source_id=source.pk)
    assert show_synchronous_commit() == "on"
    assert FetchLog.objects.exclude(error_class="").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_poll_inside_a_callers_transaction_leaves_its_commit_alone(
    acme, feed_server, commit_settings
):
    from django.db import transaction

    url = feed_server.add("/feed.xml", rss_feed(numbered_items(2)))
    source = make_source(acme, url)
    with transaction.atomic():
        source_poll(source_id=source.pk)
    assert set(commit_settings) == {"on"}
    assert Mention.objects.count() == 2
