"""Fixtures of the tracking tests: Acme (with its own domains) and its users in every role
(tests/brands/conftest.py), a source, a case of Carol's, and helpers that sign postbacks."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import json
import time

import pytest

from engagement.models import Case
from listening.push_services import webhook_signature
from tests.engagement.conftest import (
    acme,
    admin_user,
    agent,
    make_user,
    marketer,
    other_brand,
    outsider,
    social_source,
    store_mention,
    teammate,
)
from tracking.services import tracking_settings_get

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


@pytest.fixture
def shop(acme):
    """Acme with its own domains: the shop and the main site."""
    acme.domains = "acme.example, shop.acme.example"
    acme.save(update_fields=["domains"])
    return acme


@pytest.fixture
def case(shop, social_source):
    mention = store_mention(social_source, "acme my order never arrived", author_name="Carol")
    return Case.objects.create(
        brand=shop,
        author=mention.author,
        opened_at=mention.published_at,
        subject=mention.text,
        status=Case.Status.OPEN,
    )


@pytest.fixture
def secret(shop) -> str:
    return tracking_settings_get(brand=shop).postback_secret


def signed(secret: str, payload: dict | bytes, *, at: int | None = None) -> tuple[bytes, dict]:
    """(body, headers) of a postback signed as the README says."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    stamp = str(at if at is not None else int(time.time()))
    return body, {
        "Content-Type": "application/json",
        "X-Earshot-Timestamp": stamp,
        "X-Earshot-Signature": webhook_signature(secret=secret, timestamp=stamp, body=body),
    }
