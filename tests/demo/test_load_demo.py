"""load_demo: the demo brands, sources and user, and a real fetch round over HTTP."""

from __future__ import annotations

import io
import re
from collections import Counter
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from brands.models import Brand
from demo import content
from listening.models import Author, FetchLog, Mention, MentionMatch, Source


def load_demo(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("load_demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_load_demo_creates_everything_once(settings) -> None:
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1:8000"]
    settings.EARSHOT_DEMO = True  # A demo instance: the only kind that gets the demo user.
    first, first_err = load_demo()
    second, _ = load_demo()

    assert "earshot-demo" in first and "local use only" in first
    assert not first_err
    assert "nothing to change" in second
    acme = Brand.objects.get(name="Acme Mobile")
    assert set(acme.competitors.values_list("name", flat=True)) == {"Globex", "Initech Telecom"}
    assert Brand.objects.count() == 3
    sources = Source.objects.filter(brand=acme)
    assert sources.count() == 5 and Source.objects.count() == 5
    assert {(s.kind, s.url) for s in sources} == {
        ("rss", f"http://127.0.0.1:8000/listening/demo/feeds/{spec.filename}")
        for spec in content.FEEDS.values()
    } | {
        ("hn", "http://127.0.0.1:8000/listening/demo/hn"),
        ("mastodon", "http://127.0.0.1:8000/listening/demo/mastodon"),
    }
    assert sources.get(kind="mastodon").config == {"hashtag": "acmemobile"}
    assert {s.poll_interval for s in sources} == {300}
    user = get_user_model().objects.get(username="demo")
    assert user.is_superuser and user.check_password("earshot-demo")


@pytest.mark.django_db
def test_load_demo_moves_sources_to_a_new_base_url_and_warns(settings) -> None:
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = []
    load_demo()
    out, err = load_demo("--base-url", "http://localhost:8123/")

    assert Source.objects.count() == 5
    assert all(s.url.startswith("http://localhost:8123/listening/") for s in Source.objects.all())
    assert "Moved source" in out
    assert "EARSHOT_ALLOWED_PRIVATE_HOSTS" in err and "localhost:8123" in err


@pytest.mark.django_db
def test_load_demo_gives_an_older_demo_source_its_missing_options() -> None:
    load_demo()
    hn = Source.objects.get(kind="hn")
    assert hn.config["site"] == "https://hn.example"
    # A demo loaded before the HN source had a site; someone also changed the hashtag.
    hn.config.pop("site")
    hn.save(update_fields=["config"])
    Source.objects.filter(kind="mastodon").update(config={"hashtag": "acme"})

    out, _ = load_demo()

    assert "Set options of source Demo: Hacker News (demo)" in out
    assert Source.objects.get(kind="hn").config["site"] == "https://hn.example"
    assert Source.objects.get(kind="mastodon").config == {"hashtag": "acme"}
    assert "nothing to change" in load_demo()[0]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_load_demo_creates_no_demo_superuser_on_a_production_instance(settings, debug) -> None:
    settings.DEBUG = debug
    settings.EARSHOT_DEMO = False
    out, err = load_demo()
    exists = get_user_model().objects.filter(username="demo").exists()
    if debug:
        assert exists and "earshot-demo" in out
    else:
        assert not exists
        assert "earshot-demo" not in out
        assert "Skipped the 'demo' superuser: DEBUG is off and EARSHOT_DEMO is not true" in out
        # The rest of the demo is still there.
        assert Source.objects.count() == 5


@pytest.mark.django_db
def test_load_demo_keeps_an_existing_demo_user(settings) -> None:
    get_user_model().objects.create_user(username="demo", password="mine-not-yours")
    out, _ = load_demo()
    assert "earshot-demo" not in out
    assert get_user_model().objects.get(username="demo").check_password("mine-not-yours")


# --- End to end: served over HTTP, fetched, parsed, matched, scored, stored ------------------


@pytest.mark.django_db(transaction=True)
def test_load_demo_fetches_hundreds_of_mentions_over_http(live_server, settings) -> None:
    url = urlsplit(live_server.url)
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [url.netloc, f"127.0.0.1:{url.port}"]

    out, err = load_demo("--base-url", live_server.url, "--fetch")

    assert not err, err
    logs = list(FetchLog.objects.all())
    assert len(logs) == 5 and all(log.is_success for log in logs), [
        (log.error_class, log.error_message) for log in logs
    ]
    assert sum(log.items_unmatched for log in logs) > 10
    assert Mention.objects.count() >= 350
    per_brand = Counter(MentionMatch.objects.values_list("brand__name", flat=True))
    assert set(per_brand) == {"Acme Mobile", "Globex", "Initech Telecom"}
    assert set(Mention.objects.values_list("label", flat=True)) == {
        "positive",
        "negative",
        "neutral",
    }
    days = {moment.date() for moment in Mention.objects.values_list("published_at", flat=True)}
    assert len(days) > 60

    # Three kinds of source, each fetched through its real connector over HTTP.
    acme_kinds = Counter(
        MentionMatch.objects.filter(brand__name="Acme Mobile").values_list(
            "mention__source__kind", flat=True
        )
    )
    assert set(acme_kinds) == {"rss", "hn", "mastodon"}
    assert all(count >= 100 for count in acme_kinds.values()), acme_kinds
    for kind in ("hn", "mastodon"):
        mentions = Mention.objects.filter(source__kind=kind)
        assert set(mentions.values_list("label", flat=True)) == {"positive", "negative", "neutral"}
        # Threads: replies name their parent and their thread, and some parents are stored.
        replies = mentions.exclude(in_reply_to="")
        assert replies.count() > 30
        assert not replies.filter(thread_id="").exists()
        ids = set(mentions.values_list("external_id", flat=True))
        assert len(ids & set(replies.values_list("in_reply_to", flat=True))) > 10
        # Reach: HN karma (looked up per author) and Mastodon followers counts.
        followers = [f for f in mentions.values_list("author_followers", flat=True) if f]
        assert len(followers) > mentions.count() / 2
        assert max(followers) > 10_000 and min(followers) < 100
    assert FetchLog.objects.get(source__kind="hn").items_unmatched > 0

    stored = Mention.objects.count()
    load_demo("--base-url", live_server.url, "--fetch")
    assert Mention.objects.count() == stored
    assert sum(log.items_new for log in FetchLog.objects.all()) == stored


def _on_a_fictional_host(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.endswith(".example") or host == "127.0.0.1"


@pytest.mark.django_db(transaction=True)
def test_every_link_the_demo_stores_is_on_a_fictional_host(live_server, settings) -> None:
    """The README promises .example domains: nothing the demo stores links to a real site."""
    base_url = f"http://127.0.0.1:{urlsplit(live_server.url).port}"
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [urlsplit(base_url).netloc]
    load_demo("--base-url", base_url, "--fetch")

    sources = list(Source.objects.values_list("url", flat=True))
    mentions = list(Mention.objects.exclude(url="").values_list("url", flat=True))
    authors = list(Author.objects.exclude(profile_url="").values_list("profile_url", flat=True))
    in_text = [
        url
        for title, text in Mention.objects.values_list("title", "text")
        for url in re.findall(r"https?://[^\s<>\"')]+", f"{title} {text}")
    ]

    assert len(sources) == 5 and len(mentions) >= 350 and len(authors) > 100 and in_text
    # HN's links are made by the connector, from the site load_demo gives the source.
    assert Mention.objects.filter(source__kind="hn", url__startswith="https://hn.example/").count()
    assert Author.objects.filter(profile_url__startswith="https://hn.example/user?id=").count()
    for url in sources + mentions + authors + in_text:
        assert _on_a_fictional_host(url), url
