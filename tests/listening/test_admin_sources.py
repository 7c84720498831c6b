"""Adding and changing a source in admin (issue 11): the add form asks only for settings,
shows each kind's own help, and fetches the source once before saving it; a host that is
only down now can be saved anyway, a blocked or wrong one never."""

from __future__ import annotations

import lxml.html
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from listening.models import FetchLog, Mention, Source
from listening.services import brand_create, source_create, source_poll
from tests.feeds import numbered_items, rss_feed

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:listening_source_add")
SAVE_ANYWAY_HINT = (
    "If the host is only down now, tick \u201cSave anyway\u201d below and save again."
)


@pytest.fixture
def acme():
    return brand_create(name="Acme", query="acme")


def page_of(response) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(response.content.decode())


def find(page: lxml.html.HtmlElement, xpath: str) -> list:
    return page.xpath(xpath)


def has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def readonly(page: lxml.html.HtmlElement, field: str) -> list:
    """The read-only value of field on an admin change page."""
    return find(page, f"//*[{has_class('field-' + field)}]//*[{has_class('readonly')}]")


def add_data(brand, **fields) -> dict[str, str]:
    data = {
        "brand": str(brand.pk),
        "kind": "rss",
        "name": "",
        "url": "",
        "config": "{}",
        "poll_interval": "900",
        "backfill_days": "30",
        "is_enabled": "on",
        "save_anyway": "False",
    }
    data.update(fields)
    return data


def field_errors(response, name: str) -> list[str]:
    return list(response.context["adminform"].form.errors.get(name, []))


def test_the_add_form_asks_for_settings_only(admin_client, acme):
    response = admin_client.get(ADD_URL)

    form = response.context["adminform"].form
    assert list(form.fields) == [
        "brand",
        "kind",
        "name",
        "url",
        "config",
        "save_anyway",
        "poll_interval",
        "backfill_days",
        "is_enabled",
    ]
    page = page_of(response)
    labels = [
        label.text_content().strip() for label in find(page, "//form[@id='source_form']//label")
    ]
    for internal in ("Cursor", "Etag", "Last modified", "Consecutive failures", "Next poll at"):
        assert not any(label.startswith(internal) for label in labels), internal
    # "Save anyway" is only offered once a check says the host is down.
    assert find(page, "//input[@name='save_anyway']")[0].get("type") == "hidden"
    assert not find(page, f"//*[{has_class('inline-group')}]")


def test_each_kind_has_its_own_help_and_only_the_selected_one_shows(admin_client, acme):
    page = page_of(admin_client.get(ADD_URL))

    panels = find(page, f"//div[@id='id_kind_help']/div[{has_class('kind-help')}]")
    helps = {div.get("data-kind"): div for div in panels}
    assert set(helps) == {kind.value for kind in Source.Kind}
    shown = [kind for kind, div in helps.items() if div.get("hidden") is None]
    assert shown == ["rss"]
    text = {kind: " ".join(div.text_content().split()) for kind, div in helps.items()}
    assert "Polled on its poll interval" in text["rss"]
    assert "Checked when you save it: fetched once, nothing is stored." in text["rss"]
    assert "RSS 0.9x/1.0/2.0, Atom or JSON Feed" in text["rss"]
    assert "Checked when you save it: Earshot connects once" in text["jetstream"]
    assert "Empty means https://hn.algolia.com." in text["hn"]
    assert "subreddit" in text["reddit"]
    assert "hashtag (required)" in text["mastodon-stream"]
    assert "run_streams" in text["jetstream"]
    assert "access_token (secret: never shown again once saved)" in text["mastodon"]
    assert "delivery URL (/hooks/ and a token)" in text["webhook"]
    assert "made when the source is saved, and shown on its page then" in text["webhook"]
    assert "/hooks//" not in text["webhook"]
    assert "Checked" not in text["webhook"] and "Checked" not in text["import"]
    assert "Pushed to Earshot: nothing is fetched." in text["webhook"]
    assert "import_mentions" in text["import"]
    # The script that switches them is a static file (the CSP refuses inline scripts).
    scripts = [s.get("src") or "" for s in find(page, "//script")]
    assert any(src.endswith("earshot/source_kind.js") for src in scripts)
    assert not [s for s in find(page, "//script") if not s.get("src") and s.text]


def test_a_new_feed_is_fetched_once_and_saved_without_storing_mentions(
    admin_client, acme, feed_server
):
    url = feed_server.add("/acme.xml", rss_feed(numbered_items(3)))

    response = admin_client.post(ADD_URL, add_data(acme, url=url, name="Acme news"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    source = Source.objects.get()
    assert (source.name, source.url) == ("Acme news", url)
    assert len(feed_server.requests_for("/acme.xml")) == 1
    assert Mention.objects.count() == 0 and FetchLog.objects.count() == 0
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"Checked {url}: 3 items." in messages


def test_a_page_that_is_not_a_feed_is_a_form_error_without_save_anyway(
    admin_client, acme, feed_server
):
    url = feed_server.add("/about", b"<html><body>About</body></html>", content_type="text/html")

    response = admin_client.post(ADD_URL, add_data(acme, url=url, save_anyway="on"))

    assert response.status_code == 200
    assert field_errors(response, "url") == [
        "Could not fetch it (not_a_feed): The URL returned an HTML page, not a feed "
        "(text/html); look for a <link rel=alternate> feed address."
    ]
    assert find(page_of(response), "//input[@name='save_anyway']")[0].get("type") == "hidden"
    assert not Source.objects.exists()


def test_a_blocked_address_is_refused_and_never_saved_anyway(
    admin_client, acme, feed_server, settings
):
    url = feed_server.add("/acme.xml", rss_feed(numbered_items(1)))
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = []

    response = admin_client.post(ADD_URL, add_data(acme, url=url, save_anyway="on"))

    assert response.status_code == 200
    (error,) = field_errors(response, "url")
    assert error.startswith("Could not fetch it (blocked_address): Refusing to fetch")
    assert "EARSHOT_ALLOWED_PRIVATE_HOSTS" in error and "Save anyway" not in error
    assert feed_server.requests_for("/acme.xml") == []
    assert not Source.objects.exists()


def test_a_host_that_is_down_now_can_be_saved_anyway(admin_client, acme, feed_server):
    url = feed_server.add("/acme.xml", b"maintenance", status=503, content_type="text/plain")

    response = admin_client.post(ADD_URL, add_data(acme, url=url))

    assert response.status_code == 200
    (error,) = field_errors(response, "url")
    assert error.startswith("Could not fetch it (http_5xx): Server error (HTTP 503)")
    assert error.endswith(SAVE_ANYWAY_HINT)
    box = find(page_of(response), "//input[@name='save_anyway']")[0]
    assert box.get("type") == "checkbox"
    assert not Source.objects.exists()

    response = admin_client.post(ADD_URL, add_data(acme, url=url, save_anyway="on"))

    assert response.status_code == 302
    assert Source.objects.get().url == url
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(m.startswith("Saved anyway. Could not fetch it (http_5xx)") for m in messages)
    assert Mention.objects.count() == 0 and FetchLog.objects.count() == 0


def test_an_invalid_url_is_refused_even_with_save_anyway(admin_client, acme):
    data = add_data(acme, url="ftp://news.example/feed.xml", save_anyway="on")

    response = admin_client.post(ADD_URL, data)

    assert response.status_code == 200
    (error,) = field_errors(response, "url")
    assert "is not a http or https URL" in error
    assert not Source.objects.exists()


def test_a_dns_failure_can_be_saved_anyway(admin_client, acme):
    url = "https://feeds.name.invalid/acme.xml"

    response = admin_client.post(ADD_URL, add_data(acme, url=url))
    (error,) = field_errors(response, "url")
    assert "Could not resolve host 'feeds.name.invalid'" in error
    assert error.endswith(SAVE_ANYWAY_HINT)

    response = admin_client.post(ADD_URL, add_data(acme, url=url, save_anyway="on"))
    assert response.status_code == 302


def test_an_unchanged_source_is_not_fetched_again_on_save(admin_client, acme, feed_server):
    url = feed_server.add("/acme.xml", rss_feed(numbered_items(1)))
    source = source_create(brand=acme, kind="rss", url=url, name="News")
    change = reverse("admin:listening_source_change", args=[source.pk])
    data = add_data(acme, url=url, name="Acme news")

    response = admin_client.post(change, data)

    assert response.status_code == 302
    assert feed_server.requests_for("/acme.xml") == []
    source.refresh_from_db()
    assert source.name == "Acme news"


def test_a_webhook_is_not_fetched_and_its_page_shows_the_real_delivery_url(admin_client, acme):
    response = admin_client.post(ADD_URL, add_data(acme, kind="webhook", name="Shop"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    source = Source.objects.get()
    assert source.token and len(source.secret) == 64
    response = admin_client.get(reverse("admin:listening_source_change", args=[source.pk]))
    delivery = readonly(page_of(response), "delivery")[0].text_content()
    assert " ".join(delivery.split()) == (
        f"POST to http://testserver/hooks/{source.token}/, signed with the HMAC-SHA256 secret "
        f"{source.secret} (see README, Signed webhooks)."
    )


def test_the_change_page_shows_state_read_only_and_fetches_once_there_are_some(
    admin_client, acme, feed_server
):
    url = feed_server.add("/acme.xml", rss_feed(numbered_items(2)))
    source = source_create(brand=acme, kind="rss", url=url)
    change = reverse("admin:listening_source_change", args=[source.pk])

    response = admin_client.get(change)
    form = response.context["adminform"].form
    assert "cursor" not in form.fields and "next_poll_at" not in form.fields
    page = page_of(response)
    assert readonly(page, "consecutive_failures")
    # Internal state is folded away (a collapsed fieldset is a <details> in Django 5).
    assert find(page, f"//details//*[{has_class('field-etag')}]")
    assert not find(page, f"//*[{has_class('inline-group')}]")

    source_poll(source_id=source.pk)
    response = admin_client.get(change)
    (inline,) = find(page_of(response), f"//*[{has_class('inline-group')}]")
    assert "Fetch logs" in inline.text_content()


def test_the_list_shows_backfill_progress_under_health_and_escapes_the_error(admin_client, acme):
    hostile = '<img src=x onerror="window.__pwned=1"> ' + "x" * 400
    Source.objects.create(
        brand=acme,
        kind="rss",
        url="https://news.example/feed.xml",
        name="News",
        backfill_status="history back to 2026-10-24 (3 pages)",
        consecutive_failures=2,
        last_error=f"bad_response: {hostile}",
    )

    page = page_of(admin_client.get(reverse("admin:listening_source_changelist")))

    (health,) = find(page, f"//td[{has_class('field-health')}]")
    assert [line.strip() for line in health.itertext() if line.strip()] == [
        "failing (2 failures)",
        "history back to 2026-10-24 (3 pages)",
    ]
    (cell,) = find(page, f"//td[{has_class('field-short_error')}]")
    assert not cell.xpath(".//img")
    (error,) = cell.xpath(".//span")
    assert error.get("title") == f"bad_response: {hostile}"
    assert error.text_content().startswith('bad_response: <img src=x onerror="window.__pwned=1">')
    assert error.text_content().endswith("…") and len(error.text_content()) == 161
    headers = find(page, "//table[@id='result_list']/thead/tr/th")
    assert [th.text_content().strip() for th in headers][1:] == [
        "Source",
        "Brand",
        "Kind",
        "Health",
        "Last success at",
        "Next poll at",
        "Last error",
    ]
