"""What a new user hit first (issue 11, "tried as a new user would"): each role lands on its
own page, a weak password is a form error, and the admin speaks Earshot."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from brands.models import Membership
from tests.brands.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client, username: str):
    return client.post(reverse("login"), {"username": username, "password": PASSWORD})


def test_a_marketer_lands_on_the_dashboard_and_an_agent_on_the_queue(client, marketer, agent):
    assert sign_in(client, "mia")["Location"] == reverse("dashboard:overview")
    client.logout()
    assert sign_in(client, "ana")["Location"] == reverse("engagement:queue")


def test_a_weak_password_for_a_new_member_is_a_form_error_not_a_500(client, acme, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:brands_membership_add"),
        {"username": "newbie", "password": "123", "brand": acme.pk, "role": "agent"},
    )

    assert response.status_code == 200
    assert "This password is too short" in response.content.decode()
    assert not get_user_model().objects.filter(username="newbie").exists()
    assert not Membership.objects.filter(user__username="newbie").exists()


def test_the_admin_names_earshot_and_its_models_properly(client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(root)

    page = client.get(reverse("admin:index")).content.decode()

    assert "Earshot administration" in page and "Django administration" not in page
    assert "Care settings</a>" in page and "Care settingss" not in page
    assert "Saved replies</a>" in page and "Saved replys" not in page
