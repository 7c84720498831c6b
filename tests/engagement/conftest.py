"""Shared fixtures for the engagement tests: the brands and users in every role of
tests/brands/conftest.py, a source, and a helper that stores mentions through the real
listening pipeline (matching and VADER scoring included)."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from listening.connectors.base import RawItem
from listening.models import Mention, Source
from listening.services import BrandMatcher, items_store, source_brands

# The brand and role fixtures, imported so pytest finds them for these tests too.
from tests.brands.conftest import (
    PASSWORD,
    acme,
    admin_user,
    agent,
    make_user,
    marketer,
    other_brand,
    outsider,
    teammate,
)

_ids = itertools.count(1)


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
    language: str = "en",
) -> Mention:
    """Store one mention through items_store (real matching and scoring) and return it.
    language "" leaves it to detection (listening.scoring), as a source that gives none."""
    external_id = external_id or f"m{next(_ids)}"
    item = RawItem(
        external_id=external_id,
        url=f"https://social.example/@x/{external_id}",
        body=text,
        author_handle=author_handle,
        author_name=author_name,
        author_followers=followers,
        published_at=published_at or timezone.now() - timedelta(minutes=5),
        language=language,
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
