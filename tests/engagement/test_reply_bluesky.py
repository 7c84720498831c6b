"""Replying to a Bluesky mention from a case, end to end: engagement services on PostgreSQL,
delivery through the Celery task (eager), the Bluesky connector and a real local PDS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from engagement.models import Case, CaseMention, Reply
from engagement.services import CaseActionError, case_claim, reply_send
from listening.connectors.base import RawItem
from listening.connectors.bluesky import tid_decode
from listening.models import Mention, Source
from listening.services import BrandMatcher, items_store, source_brands
from tests import bluesky_server

pytestmark = pytest.mark.django_db

# A recorded real reply (its thread root is another author's post).
CUSTOMER_POST = "at://did:plc:757udrcdjlyuksadpjyoagc6/app.bsky.feed.post/3lpjbedrqxs27"
CUSTOMER = "clumsyfunsucker.bsky.social"


# A post found by search and one seen on the live firehose are answered the same way.
KINDS = {
    "bluesky": ("https://public.api.bsky.app", {"query": "acme"}),
    "jetstream": ("wss://jetstream2.us-east.bsky.network/subscribe", {}),
}


@pytest.fixture(params=sorted(KINDS))
def bluesky_source(request, acme, pds) -> Source:
    url, options = KINDS[request.param]
    source = Source(
        brand=acme,
        kind=request.param,
        url=url,
        config={
            **options,
            "identifier": bluesky_server.IDENTIFIER,
            "app_password": bluesky_server.APP_PASSWORD,
            "pds_url": pds.base_url,
        },
    )
    # What admin and add_source do: the config goes through validate_config.
    source.full_clean(exclude=["brand"])
    source.save()
    return source


def store_bluesky_mention(source: Source, uri: str, text: str) -> Mention:
    """Store one Bluesky post through items_store (real matching and scoring)."""
    rkey = uri.rsplit("/", 1)[1]
    item = RawItem(
        external_id=uri,
        url=f"https://bsky.app/profile/{CUSTOMER}/post/{rkey}",
        body=text,
        author_handle=CUSTOMER,
        author_url=f"https://bsky.app/profile/{CUSTOMER}",
        author_followers=80,
        published_at=timezone.now() - timedelta(minutes=5),
        language="en",
        platform="bluesky",
        thread_id=uri,
    )
    matcher = BrandMatcher.for_brands(source_brands(source))
    items_store(source=source, items=[item], matcher=matcher, platform="bluesky")
    return Mention.objects.get(source=source, external_id=uri)


def claimed_case(brand, mention: Mention, agent) -> Case:
    case = Case.objects.create(brand=brand, author=mention.author, kind="care", status="new")
    CaseMention.objects.create(case=case, mention=mention, brand=brand)
    return case_claim(case_id=case.pk, user=agent)


@pytest.fixture
def bluesky_case(acme, bluesky_source, agent) -> Case:
    mention = store_bluesky_mention(
        bluesky_source, CUSTOMER_POST, "@acme_help my acme order never arrived, awful"
    )
    return claimed_case(acme, mention, agent)


def test_a_reply_is_posted_on_bluesky_and_marked_sent(
    pds, recorded_posts, bluesky_case, agent, eager_tasks, django_capture_on_commit_callbacks
):
    text = "Sorry Carol, we're on it: https://acme.example/track"
    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_send(case=bluesky_case, user=agent, text=text)

    (record,) = pds.records()
    parent = recorded_posts[CUSTOMER_POST]
    root = parent["record"]["reply"]["root"]
    assert record["value"]["reply"] == {
        "root": {"uri": root["uri"], "cid": root["cid"]},
        "parent": {"uri": CUSTOMER_POST, "cid": parent["cid"]},
    }
    assert record["value"]["text"] == text
    assert record["value"]["facets"][0]["features"][0]["uri"] == "https://acme.example/track"
    reply.refresh_from_db()
    assert reply.status == Reply.Status.SENT
    assert reply.attempts == 1
    assert reply.error == ""
    assert reply.external_id == record["uri"]
    rkey = record["uri"].rsplit("/", 1)[1]
    assert record["uri"] == f"at://{bluesky_server.DID}/app.bsky.feed.post/{rkey}"
    assert reply.url == f"https://bsky.app/profile/acme.bsky.social/post/{rkey}"
    # The record key is the reply's creation time, to the microsecond.
    micros, _ = tid_decode(rkey)
    assert (
        datetime.fromtimestamp(micros // 1_000_000, tz=UTC)
        + timedelta(microseconds=micros % 1_000_000)
        == reply.created_at
    )
    bluesky_case.refresh_from_db()
    assert bluesky_case.status == Case.Status.WAITING


def test_a_retry_after_a_lost_answer_does_not_post_twice(
    pds, bluesky_case, agent, eager_tasks, django_capture_on_commit_callbacks
):
    # The first attempt reaches Bluesky but its answer is lost (502): the task retries.
    pds.lose_create_answers = 1
    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_send(case=bluesky_case, user=agent, text="On it!")

    (record,) = pds.records()
    assert len(pds.calls("com.atproto.repo.createRecord")) == 1
    reply.refresh_from_db()
    assert reply.status == Reply.Status.SENT
    assert reply.attempts == 2
    assert reply.external_id == record["uri"]


def test_a_wrong_app_password_fails_the_reply_without_retrying(
    pds, bluesky_source, bluesky_case, agent, eager_tasks, django_capture_on_commit_callbacks
):
    Source.objects.filter(pk=bluesky_source.pk).update(
        config={**bluesky_source.config, "app_password": "revoked-app-password"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_send(case=bluesky_case, user=agent, text="On it!")

    reply.refresh_from_db()
    assert reply.status == Reply.Status.FAILED
    assert reply.attempts == 1
    assert "Bluesky refused the sign-in for acme.bsky.social" in reply.error
    assert pds.records() == []


def test_a_reply_longer_than_300_characters_is_refused(pds, bluesky_case, agent):
    with pytest.raises(CaseActionError, match="Bluesky replies can be at most 300 characters"):
        reply_send(case=bluesky_case, user=agent, text="x" * 301)
    assert not Reply.objects.exists()
    assert pds.requests == []


def test_a_source_without_an_account_cannot_reply(acme, pds, agent):
    source = Source.objects.create(
        brand=acme, kind="bluesky", url="https://public.api.bsky.app", config={"query": "acme"}
    )
    mention = store_bluesky_mention(source, CUSTOMER_POST, "acme lost my parcel")
    case = claimed_case(acme, mention, agent)

    with pytest.raises(CaseActionError) as caught:
        reply_send(case=case, user=agent, text="On it!")
    assert str(caught.value) == (
        "Earshot has no Bluesky account to reply with on this source: reply on Bluesky and "
        "mark it replied, or ask an admin to add the account's handle and an app password."
    )
    assert not Reply.objects.exists()
    assert pds.requests == []
