"""Care settings in admin (issue 11): the care switch comes first, with what it means."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from engagement.brand_services import brand_add
from engagement.models import CareSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client, django_user_model):
    """A superuser's session (the suite's admin_user is a brand admin, not staff)."""
    client.force_login(django_user_model.objects.create_superuser("root", "r@x.example", "pw"))
    return client


def test_the_care_switch_is_the_first_setting_with_its_help(root_client):
    acme = brand_add(name="Northwind", query="northwind")
    brand_add(name="Contoso", query="contoso", competitor_of="Northwind")
    care = CareSettings.objects.get(brand=acme)

    page = root_client.get(reverse("admin:engagement_caresettings_change", args=[care.pk]))
    html = page.content.decode()

    fields = re.findall(r'name="(\w+)"', html.split('id="caresettings_form"', 1)[1])
    settings_fields = [f for f in fields if f not in ("csrfmiddlewaretoken", "brand")]
    assert settings_fields[0] == "care_enabled", settings_fields
    assert "answer this brand&#x27;s customers" in html.lower()
    assert "only watched" in html and "open no case" in html


def test_the_list_shows_which_brands_are_served(root_client):
    brand_add(name="Northwind", query="northwind")
    brand_add(name="Contoso", query="contoso", competitor_of="Northwind")

    page = root_client.get(reverse("admin:engagement_caresettings_changelist"))
    assert page.status_code == 200
    off = root_client.get(
        reverse("admin:engagement_caresettings_changelist") + "?care_enabled__exact=0"
    )
    assert "Contoso" in off.content.decode() and "Northwind" not in off.content.decode()
