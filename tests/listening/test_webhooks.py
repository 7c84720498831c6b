"""Signed webhooks as a sender's server sees them: POST /hooks/<token>/ with raw JSON bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import requests
from django.test import Client

from brands.models import Brand
from listening.models import FetchLog, Mention, MentionMatch, Source
from listening.push_services import webhook_secret_rotate, webhook_source_create

pytestmark = pytest.mark.django_db


def sign(secret: str, timestamp: str, body: bytes) -> str:
    # Written out here rather than imported, so the test pins the documented scheme.
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def mention(external_id: str, text: str, **extra: object) -> dict[str, object]:
    return {"external_id": external_id, "text": text, "published_at": 1793613600, **extra}


@pytest.fixture
def source() -> Source:
    acme = Brand.objects.create(name="Acme", query="acme")
    globex = Brand.objects.create(name="Globex", query="globex")
    acme.competitors.add(globex)
    return webhook_source_create(brand=acme, name="Partner feed")


def deliver(
    client: Client,
    source: Source,
    payload: object = None,
    *,
    body: bytes | None = None,
    timestamp: int | None = None,
    signed_timestamp: int | None = None,
    signature: str | None = None,
):
    body = json.dumps(payload).encode() if body is None else body
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signed_ts = ts if signed_timestamp is None else str(signed_timestamp)
    headers = {
        "X-Earshot-Timestamp": ts,
        "X-Earshot-Signature": signature or sign(source.secret, signed_ts, body),
    }
    return client.post(
        f"/hooks/{source.token}/", data=body, content_type="application/json", headers=headers
    )


def test_a_new_webhook_source_gets_a_url_token_and_a_signing_secret(source):
    other = webhook_source_create(brand=Brand.objects.create(name="Other", query="other"))

    assert source.kind == "webhook" and source.url == "" and source.name == "Partner feed"
    assert len(source.token) >= 32 and len(source.secret) == 64
    assert other.token != source.token and other.secret != source.secret


def test_a_valid_single_delivery_is_stored_scored_and_counted(client, source):
    response = deliver(
        client,
        source,
        mention("m1", "I love my Acme phone, best ever!", author_handle="jdoe", lang="en"),
    )

    assert response.status_code == 202
    assert response.json() == {"received": 1, "new": 1, "duplicate": 0, "unmatched": 0}
    stored = Mention.objects.get(source=source, external_id="m1")
    assert stored.text == "I love my Acme phone, best ever!"
    assert stored.label == "positive" and stored.compound > 0.5
    assert stored.platform == "web" and stored.author.handle == "jdoe"
    assert stored.language == "en"


def test_a_list_delivery_matches_brand_and_competitors_and_counts_the_unmatched(client, source):
    items = [
        mention("m1", "Acme support was terrible today", platform="reddit"),
        mention("m2", "Globex is fine"),
        mention("m3", "Nothing about anybody"),
    ]

    response = deliver(client, source, items)

    assert response.status_code == 202
    assert response.json() == {"received": 3, "new": 2, "duplicate": 0, "unmatched": 1}
    brands = dict(MentionMatch.objects.values_list("mention__external_id", "brand__name"))
    assert brands == {"m1": "Acme", "m2": "Globex"}
    assert Mention.objects.get(external_id="m1").label == "negative"
    assert Mention.objects.get(external_id="m1").platform == "reddit"


def test_a_repeated_delivery_stores_nothing_twice(client, source):
    items = [mention("m1", "acme one"), mention("m2", "acme two")]
    deliver(client, source, items)

    response = deliver(client, source, items)

    assert response.status_code == 202
    assert response.json() == {"received": 2, "new": 0, "duplicate": 2, "unmatched": 0}
    assert Mention.objects.count() == 2


def test_a_wrong_signature_is_refused_and_nothing_is_stored(client, source):
    response = deliver(client, source, mention("m1", "acme"), signature="sha256=" + "0" * 64)

    assert response.status_code == 401
    assert "signature" in response.json()["error"]
    assert not Mention.objects.exists()


def test_a_delivery_without_signature_headers_is_refused(client, source):
    response = client.post(
        f"/hooks/{source.token}/",
        data=json.dumps(mention("m1", "acme")),
        content_type="application/json",
    )

    assert response.status_code == 401
    assert "missing" in response.json()["error"]


def test_a_signature_made_with_the_old_secret_is_refused_after_rotation(client, source):
    old_secret = source.secret
    webhook_secret_rotate(source=source)
    body = json.dumps(mention("m1", "acme")).encode()
    ts = str(int(time.time()))

    response = client.post(
        f"/hooks/{source.token}/",
        data=body,
        content_type="application/json",
        headers={"X-Earshot-Timestamp": ts, "X-Earshot-Signature": sign(old_secret, ts, body)},
    )

    assert response.status_code == 401
    assert deliver(client, source, mention("m1", "acme")).status_code == 202


def test_rotating_the_token_retires_the_old_url(client, source):
    old_token = source.token
    webhook_secret_rotate(source=source, rotate_token=True)

    assert client.post(f"/hooks/{old_token}/", data=b"{}", content_type="x").status_code == 404
    assert deliver(client, source, mention("m1", "acme")).status_code == 202


@pytest.mark.parametrize("offset", [-360, 360], ids=["6 minutes old", "6 minutes ahead"])
def test_a_timestamp_more_than_five_minutes_off_is_refused_as_stale(client, source, offset):
    response = deliver(client, source, mention("m1", "acme"), timestamp=int(time.time()) + offset)

    assert response.status_code == 401
    assert response.json()["error"].startswith("stale timestamp")
    assert not Mention.objects.exists()


def test_a_timestamp_four_minutes_off_is_accepted(client, source):
    response = deliver(client, source, mention("m1", "acme"), timestamp=int(time.time()) - 240)

    assert response.status_code == 202


def test_a_signature_made_for_another_timestamp_is_refused(client, source):
    # A replay: an old signed body sent again with a fresh timestamp header.
    now = int(time.time())
    response = deliver(
        client, source, mention("m1", "acme"), timestamp=now, signed_timestamp=now - 3600
    )

    assert response.status_code == 401
    assert "signature" in response.json()["error"]
    assert not Mention.objects.exists()


def test_malformed_json_is_refused_with_400(client, source):
    response = deliver(client, source, body=b'{"external_id": "m1", ')

    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON")


def test_an_invalid_item_refuses_the_whole_delivery_listing_errors_by_index(client, source):
    items = [
        mention("m1", "acme fine"),
        {"text": "acme", "published_at": 0},
        mention("m3", "acme", like_count=-2),
        "not an object",
    ]

    response = deliver(client, source, items)

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 1, "error": 'missing required field "external_id"'},
        {"index": 2, "error": 'field "like_count" must be an integer >= 0, got -2'},
        {"index": 3, "error": "expected an object with the mention's fields, got a string"},
    ]
    assert "3 of 4 item(s) invalid, nothing stored" in response.json()["error"]
    assert not Mention.objects.exists()


def test_a_body_over_the_cap_is_refused_with_413_before_it_is_read(client, source, settings):
    settings.EARSHOT_WEBHOOK_MAX_BYTES = 200

    response = deliver(client, source, [mention(f"m{i}", "acme " * 10) for i in range(5)])

    assert response.status_code == 413
    assert "over the limit of 200 bytes" in response.json()["error"]
    assert not Mention.objects.exists()


def test_an_unknown_token_is_404_and_records_nothing(client, source):
    response = client.post("/hooks/no-such-token/", data=b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response.json() == {"error": "not found"}
    assert not FetchLog.objects.exists()


def test_a_disabled_webhook_source_answers_like_an_unknown_token(client, source):
    Source.objects.filter(pk=source.pk).update(is_enabled=False)

    assert deliver(client, source, mention("m1", "acme")).status_code == 404


def test_get_is_not_allowed(client, source):
    assert client.get(f"/hooks/{source.token}/").status_code == 405


def test_no_csrf_token_is_needed(source):
    strict = Client(enforce_csrf_checks=True)

    assert deliver(strict, source, mention("m1", "acme")).status_code == 202


def test_accepted_and_refused_deliveries_show_in_the_fetch_log_without_bodies(
    client, source, settings
):
    deliver(client, source, [mention("m1", "acme secret words"), mention("m2", "nobody")])
    deliver(client, source, mention("m3", "acme"), signature="sha256=bad")
    deliver(client, source, mention("m3", "acme"), timestamp=int(time.time()) - 3600)
    deliver(client, source, body=b"[{")
    deliver(client, source, [{"external_id": "m4", "text": "acme secret words"}])
    settings.EARSHOT_WEBHOOK_MAX_BYTES = 10
    deliver(client, source, mention("m5", "acme"))

    logs = list(FetchLog.objects.filter(source=source).order_by("pk"))
    assert [(log.http_status, log.error_class) for log in logs] == [
        (202, ""),
        (401, "bad_signature"),
        (401, "stale_timestamp"),
        (400, "malformed_json"),
        (400, "invalid_items"),
        (413, "too_large"),
    ]
    accepted = logs[0]
    assert (accepted.items_seen, accepted.items_new, accepted.items_unmatched) == (2, 1, 1)
    assert 'item 0: missing required field "published_at"' in logs[4].error_message
    assert not any("secret words" in log.error_message for log in logs)
    source.refresh_from_db()
    assert source.last_success_at is not None
    assert source.last_error.startswith("too_large")
    assert source.consecutive_failures == 5


@pytest.mark.django_db(transaction=True)
def test_a_delivery_over_real_http_is_stored(live_server):
    acme = Brand.objects.create(name="Acme", query="acme")
    source = webhook_source_create(brand=acme)
    body = json.dumps([mention("h1", "Acme over the wire"), mention("h2", "unrelated")]).encode()
    ts = str(int(time.time()))

    response = requests.post(
        f"{live_server.url}/hooks/{source.token}/",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Earshot-Timestamp": ts,
            "X-Earshot-Signature": sign(source.secret, ts, body),
        },
        timeout=10,
    )
    refused = requests.post(
        f"{live_server.url}/hooks/{source.token}/",
        data=body,
        headers={"X-Earshot-Timestamp": ts, "X-Earshot-Signature": "sha256=00"},
        timeout=10,
    )

    assert response.status_code == 202
    assert response.json() == {"received": 2, "new": 1, "duplicate": 0, "unmatched": 1}
    assert list(Mention.objects.values_list("external_id", flat=True)) == ["h1"]
    assert refused.status_code == 401 and refused.json()["error"]


def test_the_sources_platform_option_names_items_that_name_none(client, source):
    source.config = {"platform": "partner-forum"}
    source.full_clean()
    source.save()

    deliver(client, source, [mention("m1", "acme"), mention("m2", "acme", platform="Mastodon")])

    assert dict(Mention.objects.values_list("external_id", "platform")) == {
        "m1": "partner-forum",
        "m2": "mastodon",
    }
