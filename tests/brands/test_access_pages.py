"""The 403 and 404 pages (issue 11): a refused request says what the user's roles allow and
where to go, for each role; a missing page says so plainly. Status codes stay 403 and 404."""

from __future__ import annotations

import re

import pytest
from django.test import RequestFactory
from django.urls import reverse

from brands.models import Brand, Membership
from brands.views import permission_denied
from engagement.models import Case
from tests.brands.conftest import make_user

pytestmark = pytest.mark.django_db


def main_of(response) -> str:
    """The page's <main>: the top bar's links are the same on every page."""
    return response.content.decode().split("<main>", 1)[1].split("</main>", 1)[0]


def text_of(response) -> str:
    """The main part's visible text, roughly: tags out, whitespace squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main_of(response)))


@pytest.fixture
def case(acme) -> Case:
    return Case.objects.create(brand=acme, subject="Billed twice")


def test_a_marketer_refused_the_queue_sees_their_role_and_the_dashboard_link(client, marketer):
    client.force_login(marketer)
    response = client.get(reverse("engagement:queue"))

    assert response.status_code == 403
    text = text_of(response)
    assert "This page is not open to your role" in text
    assert "Acme Marketer The dashboard, the mention lists and exports." in text
    assert f'href="{reverse("dashboard:overview")}"' in main_of(response)
    assert f'href="{reverse("engagement:queue")}"' not in main_of(response)
    assert "403 Forbidden" not in text and "Nothing here for your role" not in text


def test_a_marketer_refused_a_case_by_permission_denied_gets_the_same_page(client, marketer, case):
    client.force_login(marketer)
    response = client.get(reverse("engagement:case", args=[case.pk]))

    assert response.status_code == 403
    text = text_of(response)
    assert "Your role (marketer) does not allow this." in text
    assert "Acme Marketer" in text and "Not the care queue or its cases." in text


def test_an_agent_refused_the_exports_is_sent_to_the_queue(client, agent, acme):
    client.force_login(agent)
    response = client.get(reverse("dashboard:mentions-export"), {"brand": acme.pk})

    assert response.status_code == 403
    text = text_of(response)
    assert "Acme Agent The care queue and its cases" in text
    assert "The care queue The mention explorer" in text
    assert f'href="{reverse("engagement:queue")}"' in main_of(response)


def test_a_user_with_several_roles_sees_each_brand_with_its_own(client, marketer, other_brand):
    Membership.objects.create(user=marketer, brand=other_brand, role=Membership.Role.AGENT)
    client.force_login(marketer)
    # The queue is open to them now (agent of Initech): a case of Acme is not.
    case = Case.objects.create(brand=Brand.objects.get(name="Acme"), subject="x")
    text = text_of(client.get(reverse("engagement:case", args=[case.pk])))
    assert "What your roles allow" in text
    assert "Acme Marketer" in text and "Initech Agent" in text


def test_an_admin_is_told_everything_their_role_allows(admin_user):
    request = RequestFactory().get("/somewhere/")
    request.user = admin_user
    response = permission_denied(request, PermissionError("csrf or the like"))

    assert response.status_code == 403
    text = text_of(response)
    assert "Acme Admin Everything in the brand" in text
    assert "csrf or the like" not in text  # only our own messages are shown


def test_someone_without_a_brand_is_told_to_ask_an_admin(client, acme, case):
    client.force_login(make_user("nobody", None, None))
    response = client.get(reverse("engagement:queue"))
    assert response.status_code == 403
    assert "not a member of any brand yet" in text_of(response)


def test_an_anonymous_403_offers_sign_in_back_to_the_page(rf, db):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/cases/7/")
    request.user = AnonymousUser()
    response = permission_denied(request, None)
    assert response.status_code == 403
    assert 'href="/login/?next=%2Fcases%2F7%2F"' in main_of(response)


def test_brand_names_on_the_403_page_are_escaped(client, marketer, acme):
    Brand.objects.filter(pk=acme.pk).update(name='<img src=x onerror="alert(1)">')
    client.force_login(marketer)
    body = client.get(reverse("engagement:queue")).content.decode()
    assert "<img src=x" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body


def test_a_missing_page_is_a_plain_404_with_a_way_home(client, marketer):
    anonymous = client.get("/no-such-page/")
    assert anonymous.status_code == 404
    assert "Page not found" in text_of(anonymous)
    assert f'href="{reverse("login")}"' in main_of(anonymous)

    client.force_login(marketer)
    signed_in = client.get("/no-such-page/")
    assert signed_in.status_code == 404
    assert f'href="{reverse("home")}"' in main_of(signed_in)
