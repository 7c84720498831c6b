"""The queue of issue 11: brands whose care is off (watched only, such as competitors) and
imported history cases never enter the live queue; a care-off brand's filter says so, and
where to turn care on to those who may."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from brands.models import Brand, Membership
from engagement.models import CareSettings, Case
from listening.models import Source
from tests.engagement.conftest import make_user
from tests.engagement.test_views_queue import make_case

pytestmark = pytest.mark.django_db

QUEUE = "/queue/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def initech_source(other_brand) -> Source:
    return Source.objects.create(brand=other_brand, kind="rss", url="https://initech.example/f")


@pytest.fixture
def ada(acme, other_brand):
    """An admin of Acme and of Initech, who may reach the admin site."""
    user = make_user("ada", acme, Membership.Role.ADMIN)
    Membership.objects.create(user=user, brand=other_brand, role=Membership.Role.ADMIN)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def ivan(acme, other_brand):
    """An agent of Acme and of Initech: works the queue, may not change care settings."""
    user = make_user("ivan", acme, Membership.Role.AGENT)
    Membership.objects.create(user=user, brand=other_brand, role=Membership.Role.AGENT)
    return user


def care_off(brand: Brand) -> CareSettings:
    care, _ = CareSettings.objects.update_or_create(brand=brand, defaults={"care_enabled": False})
    return care


def listed(response) -> list[str]:
    return [row.subject for row in response.context["rows"]]


def counts(response) -> dict[str, str]:
    return {t["key"]: t["count"] for t in response.context["tabs"]}


def test_a_brand_whose_care_is_off_leaves_every_tab_even_its_open_cases(
    client, ivan, social_source, initech_source
):
    make_case(social_source, "acme my order is late", author_handle="a@x")
    # Opened while Initech's care was on; then care was switched off.
    make_case(initech_source, "initech lost my parcel", author_handle="b@x")
    make_case(
        initech_source,
        "initech refund took ages",
        author_handle="c@x",
        status=Case.Status.RESOLVED,
        resolved_at=timezone.now(),
    )
    client.force_login(ivan)
    response = client.get(QUEUE)
    assert set(listed(response)) == {"acme my order is late", "initech lost my parcel"}

    care_off(initech_source.brand)

    response = client.get(QUEUE)
    assert listed(response) == ["acme my order is late"]
    assert counts(response) == {"care": "1", "advocate": "0", "resolved": "0"}
    assert listed(client.get(QUEUE, {"tab": "resolved"})) == []
    counts_fragment = client.get(reverse("engagement:queue-counts")).content.decode()
    assert 'Resolved <span class="count">0</span>' in counts_fragment
    content = response.content.decode()
    assert "Not listed here, care is off:" in content
    assert "<bdi>Initech</bdi>" in content
    # An agent is told, but not sent to a settings page they may not change.
    assert "Care settings" not in content


def test_next_case_skips_brands_whose_care_is_off_and_history_cases(
    client, ivan, social_source, initech_source
):
    make_case(initech_source, "initech lost my parcel", author_handle="b@x", priority=99)
    make_case(social_source, "acme imported", author_handle="h@x", priority=98, is_history=True)
    wanted = make_case(social_source, "acme my order is late", author_handle="a@x", priority=5)
    care_off(initech_source.brand)
    client.force_login(ivan)

    response = client.post(reverse("engagement:next"))

    assert response["Location"] == reverse("engagement:case", kwargs={"case_id": wanted.pk})
    response = client.post(reverse("engagement:next"), follow=True)
    assert b"The queue is empty." in response.content


def test_filtering_by_a_care_off_brand_says_care_is_off_and_where_to_turn_it_on(
    client, ada, initech_source
):
    make_case(initech_source, "initech lost my parcel", author_handle="b@x")
    care = care_off(initech_source.brand)
    client.force_login(ada)

    response = client.get(QUEUE, {"brand": initech_source.brand_id})

    content = response.content.decode()
    assert listed(response) == []
    assert "<strong>Care is off for <bdi>Initech</bdi>.</strong>" in content
    settings_url = reverse("admin:engagement_caresettings_change", args=[care.pk])
    assert f'<a href="{settings_url}">Care settings</a>' in content
    # The link leads to the switch, which this admin may change.
    page = client.get(settings_url)
    assert page.status_code == 200
    assert b"care_enabled" in page.content
    # The same empty state when the filter changes through htmx.
    fragment = client.get(QUEUE, {"brand": initech_source.brand_id}, **HTMX).content.decode()
    assert "Care is off for <bdi>Initech</bdi>." in fragment
    assert settings_url in fragment


def test_an_agent_filtering_by_a_care_off_brand_is_told_without_the_settings_link(
    client, ivan, initech_source
):
    care = care_off(initech_source.brand)
    client.force_login(ivan)

    content = client.get(QUEUE, {"brand": initech_source.brand_id}).content.decode()

    assert "Care is off for <bdi>Initech</bdi>." in content
    assert reverse("admin:engagement_caresettings_change", args=[care.pk]) not in content
    assert "turn on" not in content


def test_a_care_off_brand_name_is_escaped(client, ada, other_brand):
    other_brand.name = "<img src=x onerror=alert(1)>"
    other_brand.save(update_fields=["name"])
    care_off(other_brand)
    client.force_login(ada)

    for params in ({}, {"brand": other_brand.pk}):
        content = client.get(QUEUE, params).content.decode()
        assert "<img src=x" not in content
        assert "&lt;img src=x onerror=alert(1)&gt;" in content


def test_history_cases_never_show_in_the_open_tabs_and_are_labelled_when_resolved(
    client, ivan, social_source
):
    now = timezone.now()
    make_case(social_source, "acme live complaint", author_handle="a@x")
    make_case(
        social_source,
        "acme imported, never answered",
        author_handle="h1@x",
        status=Case.Status.RESOLVED,
        opened_at=now - timedelta(days=60),
        resolved_at=now - timedelta(days=59),
        is_history=True,
    )
    make_case(
        social_source,
        "acme imported, answered",
        author_handle="h2@x",
        status=Case.Status.RESOLVED,
        opened_at=now - timedelta(days=50),
        first_response_at=now - timedelta(days=50) + timedelta(hours=2),
        resolved_at=now - timedelta(days=50) + timedelta(hours=3),
        is_history=True,
    )
    # A history case left open by mistake still stays out of the live queue.
    make_case(social_source, "acme imported, left open", author_handle="h3@x", is_history=True)
    client.force_login(ivan)

    response = client.get(QUEUE)
    assert listed(response) == ["acme live complaint"]
    assert counts(response)["care"] == "1"

    response = client.get(QUEUE, {"tab": "resolved"})
    assert set(listed(response)) == {"acme imported, never answered", "acme imported, answered"}
    content = response.content.decode()
    assert content.count('<span class="chip history">Imported history</span>') == 2
    assert "no answer, imported" in content
    assert "resolved after 3 h" in content
