"""Sign-in with its rate limit, sign-out, password change and the home page by role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from engagement.models import LoginAttempt
from tests.engagement.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/login/"


def sign_in(client, username, password=PASSWORD, ip="10.0.0.1", **extra):
    return client.post(LOGIN, {"username": username, "password": password, **extra}, REMOTE_ADDR=ip)


def test_the_login_page_renders_a_form_with_a_csrf_token(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content
    assert b'name="username"' in response.content


def test_an_agent_signs_in_and_lands_on_the_queue(client, agent):
    response = sign_in(client, "ana")
    assert response.status_code == 302
    assert response["Location"] == reverse("engagement:queue")
    assert client.get("/").url == reverse("engagement:queue")
    assert LoginAttempt.objects.get().succeeded is True


def test_an_admin_is_sent_from_home_to_the_queue(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("engagement:queue")


def test_a_marketer_is_sent_from_home_to_the_dashboard(client, marketer):
    client.force_login(marketer)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:mentions")


def test_a_user_without_a_brand_sees_a_page_saying_so(client, db):
    from tests.engagement.conftest import make_user

    client.force_login(make_user("nobody", None, None))
    response = client.get("/")
    assert response.status_code == 200
    assert b"not a member of any brand" in response.content


def test_an_anonymous_visitor_of_home_is_sent_to_sign_in(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login")


def test_the_next_parameter_is_followed_after_sign_in(client, agent):
    response = sign_in(client, "ana", next="/queue/?tab=resolved")
    assert response["Location"] == "/queue/?tab=resolved"


def test_a_next_parameter_to_another_site_is_ignored(client, agent):
    response = sign_in(client, "ana", next="https://evil.example/")
    assert response["Location"] == reverse("engagement:queue")


def test_a_wrong_password_says_so_and_is_recorded(client, agent):
    response = sign_in(client, "ana", password="nope")
    assert response.status_code == 200
    assert b"That username and password do not match" in response.content
    attempt = LoginAttempt.objects.get()
    assert (attempt.username, attempt.ip, attempt.succeeded) == ("ana", "10.0.0.1", False)
    assert "_auth_user_id" not in client.session


def test_too_many_failures_refuse_even_the_right_password(client, agent, settings):
    settings.EARSHOT_LOGIN_RATE_LIMIT = 3
    settings.EARSHOT_LOGIN_RATE_WINDOW = 300
    for _ in range(3):
        assert sign_in(client, "ana", password="nope").status_code == 200
    response = sign_in(client, "ana")
    assert response.status_code == 429
    assert b"Too many sign-in attempts; try again in 5 minutes." in response.content
    assert "_auth_user_id" not in client.session
    # The refused attempt is recorded too.
    assert LoginAttempt.objects.filter(username="ana", succeeded=False).count() == 4


def test_the_username_limit_holds_from_another_address(client, agent, settings):
    settings.EARSHOT_LOGIN_RATE_LIMIT = 2
    for ip in ("10.0.0.1", "10.0.0.2"):
        sign_in(client, "ana", password="nope", ip=ip)
    response = sign_in(client, "ana", ip="10.0.0.3")
    assert response.status_code == 429


def test_the_address_limit_covers_other_usernames(client, agent, teammate, settings):
    settings.EARSHOT_LOGIN_RATE_LIMIT = 3
    for name in ("ana", "bob", "carl"):
        sign_in(client, name, password="nope")
    response = sign_in(client, "tom")
    assert response.status_code == 429
    assert b"Too many sign-in attempts" in response.content
    # Another address is not affected by that address's failures.
    assert sign_in(client, "tom", ip="10.9.9.9").status_code == 302


def test_failures_older_than_the_window_no_longer_count(client, agent, settings):
    settings.EARSHOT_LOGIN_RATE_LIMIT = 2
    settings.EARSHOT_LOGIN_RATE_WINDOW = 300
    old = timezone.now() - timedelta(seconds=301)
    LoginAttempt.objects.bulk_create(
        [LoginAttempt(username="ana", ip="10.0.0.1", at=old) for _ in range(5)]
    )
    assert sign_in(client, "ana").status_code == 302


def test_the_wait_counts_down_from_the_oldest_failure_that_matters(client, agent, settings):
    settings.EARSHOT_LOGIN_RATE_LIMIT = 2
    settings.EARSHOT_LOGIN_RATE_WINDOW = 600
    now = timezone.now()
    LoginAttempt.objects.bulk_create(
        [
            LoginAttempt(username="ana", ip="10.0.0.7", at=now - timedelta(minutes=8, seconds=30)),
            LoginAttempt(username="ana", ip="10.0.0.8", at=now - timedelta(minutes=8)),
        ]
    )
    response = sign_in(client, "ana")
    assert response.status_code == 429
    assert b"try again in 2 minutes." in response.content


def test_sign_out_is_a_post(client, agent):
    client.force_login(agent)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_sign_out_needs_the_csrf_token(agent):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    assert client.post("/logout/").status_code == 403


def test_a_user_changes_their_password_and_can_sign_in_with_it(client, agent):
    client.force_login(agent)
    assert client.get(reverse("password_change")).status_code == 200
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a much longer new passphrase",
            "new_password2": "a much longer new passphrase",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    assert b"Password changed" in client.get(reverse("password_change_done")).content
    client.post("/logout/")
    assert sign_in(client, "ana", password="a much longer new passphrase").status_code == 302


def test_a_wrong_old_password_does_not_change_it(client, agent):
    client.force_login(agent)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "wrong",
            "new_password1": "a much longer new passphrase",
            "new_password2": "a much longer new passphrase",
        },
    )
    assert response.status_code == 200
    agent.refresh_from_db()
    assert agent.check_password(PASSWORD)


def test_password_change_needs_sign_in(client, db):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
