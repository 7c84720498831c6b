"""Shared fixtures for the brands tests (and, imported, the engagement and dashboard ones): a
brand with a competitor, users in every role, and an outsider who belongs to another brand."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from brands.models import Brand, Membership
from listening.services import brand_create

PASSWORD = "correct horse battery staple"


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
