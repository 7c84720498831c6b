"""Shared fixtures for the engagement tests: a brand with a competitor, users in every role
(and an outsider who belongs to another brand), and a helper that stores mentions through
the real listening pipeline (matching and VADER scoring included)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from brands.models import Brand, Membership
from config.celery import app as celery_app
from listening.connectors.base import RawItem
from listening.models import Mention, Source
from listening.services import BrandMatcher, brand_create, items_store, source_brands

PASSWORD = "correct horse battery staple"
_ids = itertools.count(1)


@pytest.fixture
def acme(db) -> Brand:
    brand = brand_create(name="Acme", query="acme OR @acme_help", handles="@acme_help")
    brand_create(name="Globex", query="globex", competitor_of="Acme")
    return brand


@pytest.fixture
def other_brand(db) -> Brand:
    return brand_create(name="Initech", query="initech")


def make_user(username: str, brand: Brand | None, role: str | None):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)
    if brand is not None and role is not None:
        Membership.objects.create(user=user, brand=brand, role=role)
    return user


@pytest.fixture
def admin_user(acme):
    return make_user("ada", acme, Membership.Role.ADMIN)


@pytest.fixture
def agent(acme):
    return make_user("ana", acme, Membership.Role.AGENT)


@pytest.fixture
def teammate(acme):
    return make_user("tom", acme, Membership.Role.AGENT)


@pytest.fixture
def marketer(acme):
    return make_user("mia", acme, Membership.Role.MARKETER)


@pytest.fixture
def outsider(other_brand):
    """An agent of another brand: must see nothing of Acme's."""
    return make_user("oz", other_brand, Membership.Role.AGENT)


@pytest.fixture
def social_source(acme) -> Source:
    return Source.objects.create(brand=acme, kind="mastodon", url="https://social.example")


def store_mention(
    source: Source,
    text: str,
    *,
    author_handle: str = "carol@social.example",
    author_name: str = "Carol",
    followers: int | None = 120,
    published_at: datetime | None = None,
    external_id: str | None = None,
    thread_id: str = "",
    in_reply_to: str = "",
    reply_count: int | None = None,
    repost_count: int | None = None,
) -> Mention:
    """Store one mention through items_store (real matching and scoring) and return it."""
    external_id = external_id or f"m{next(_ids)}"
    item = RawItem(
        external_id=external_id,
        url=f"https://social.example/@x/{external_id}",
        body=text,
        author_handle=author_handle,
        author_name=author_name,
        author_followers=followers,
        published_at=published_at or timezone.now() - timedelta(minutes=5),
        language="en",
        thread_id=thread_id or external_id,
        in_reply_to=in_reply_to,
        reply_count=reply_count,
        repost_count=repost_count,
    )
    matcher = BrandMatcher.for_brands(source_brands(source))
    items_store(source=source, items=[item], matcher=matcher, platform="mastodon")
    return Mention.objects.get(source=source, external_id=external_id)


@pytest.fixture
def eager_tasks():
    """Run .delay() in process (retries included) so on-commit delivery can be observed."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = previous
