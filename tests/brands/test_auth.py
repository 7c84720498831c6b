"""Sign-in with its rate limit, sign-out, password change and the home page by role."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from brands.models import LoginAttempt
from brands.signin_services import login_attempts_prune
from brands.tasks import login_attempts_prune_task
from tests.brands.conftest import PASSWORD

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
    assert response["Location"] == reverse("dashboard:overview")


def test_a_user_without_a_brand_sees_a_page_saying_so(client, db):
    from tests.brands.conftest import make_user

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


def test_the_username_limit_holds_at_that_address_for_any_password(client, agent, settings):
    settings.EARSHOT_LOGIN_RATE_LIMIT = 2
    for _ in range(2):
        sign_in(client, "ana", password="nope", ip="10.0.0.3")
    response = sign_in(client, "ana", ip="10.0.0.3")
    assert response.status_code == 429


def test_failures_from_elsewhere_do_not_lock_a_user_out(client, agent, settings):
    """Issue 9: a stranger guessing ana's password from other addresses must not lock ana
    out of her own (this used to pin the opposite: one count per username everywhere)."""
    settings.EARSHOT_LOGIN_RATE_LIMIT = 2
    for ip in ("10.0.0.1", "10.0.0.2"):
        sign_in(client, "ana", password="nope", ip=ip)
    response = sign_in(client, "ana", ip="10.0.0.3")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(agent.pk)


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
            LoginAttempt(username="ana", ip="10.0.0.1", at=now - timedelta(minutes=8, seconds=30)),
            LoginAttempt(username="ana", ip="10.0.0.1", at=now - timedelta(minutes=8)),
        ]
    )
    response = sign_in(client, "ana")
    assert response.status_code == 429
    assert b"try again in 2 minutes." in response.content


def test_attempts_no_limit_reads_are_pruned_and_the_limits_still_hold(client, agent, settings):
    settings.EARSHOT_LOGIN_RATE_LIMIT = 2
    settings.EARSHOT_LOGIN_RATE_WINDOW = 600
    settings.EARSHOT_LOGIN_FAILURES_KEEP_DAYS = 7
    settings.EARSHOT_LOGIN_KNOWN_ADDRESS_DAYS = 90
    now = timezone.now()

    def attempt(username, days, succeeded=False, ip="10.0.0.1"):
        return LoginAttempt(username=username, ip=ip, succeeded=succeeded, at=now - days)

    LoginAttempt.objects.bulk_create(
        [
            *[attempt("old-failure", timedelta(days=8)) for _ in range(3)],
            attempt("kept-failure", timedelta(days=6)),
            attempt("old-success", timedelta(days=91), succeeded=True),
            attempt("known", timedelta(days=89), succeeded=True, ip="10.0.0.2"),
            # Within the window: this pair is refused now.
            *[attempt("ana", timedelta(minutes=1)) for _ in range(2)],
        ]
    )
    assert login_attempts_prune_task() == 4
    assert set(LoginAttempt.objects.values_list("username", flat=True)) == {
        "kept-failure",
        "known",
        "ana",
    }
    assert sign_in(client, "ana").status_code == 429
    assert login_attempts_prune() == 0
    entry = settings.CELERY_BEAT_SCHEDULE["brands-prune-login-attempts"]
    assert entry["task"] == "brands.tasks.login_attempts_prune_task"


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


# --- One limiter on every path that checks a password (issue 9) ---------------------------

ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def superuser(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)


def admin_sign_in(client, username, password=PASSWORD, ip="10.0.0.1"):
    return client.post(
        ADMIN_LOGIN,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=ip,
    )


def test_thirty_wrong_admin_passwords_then_the_right_one_is_refused(client, superuser):
    for _ in range(30):
        response = admin_sign_in(client, "root", password="guess")
        assert response.status_code in (200, 429)
    response = admin_sign_in(client, "root")
    assert response.status_code == 429
    assert b"Too many sign-in attempts; try again in 5 minutes." in response.content
    assert "_auth_user_id" not in client.session
    # The page still offers the form, and the admin itself stays unreachable.
    assert b'name="password"' in response.content
    assert client.get("/admin/").status_code == 302


def test_the_admin_sign_in_still_works_below_the_limit(client, superuser):
    admin_sign_in(client, "root", password="guess")
    response = admin_sign_in(client, "root")
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_and_sign_in_page_failures_share_one_count(client, agent, settings):
    settings.EARSHOT_LOGIN_RATE_LIMIT = 4
    for _ in range(2):
        admin_sign_in(client, "ana", password="nope")
        sign_in(client, "ana", password="nope")
    response = sign_in(client, "ana")
    assert response.status_code == 429
    assert LoginAttempt.objects.filter(username="ana", succeeded=False).count() == 5


def test_a_refused_attempt_never_checks_the_password(client, agent, settings):
    """While refused, right and wrong passwords get the same answer: nothing is confirmed."""
    settings.EARSHOT_LOGIN_RATE_LIMIT = 2
    for _ in range(2):
        sign_in(client, "ana", password="nope")
    right, wrong = sign_in(client, "ana"), sign_in(client, "ana", password="nope")
    assert right.status_code == wrong.status_code == 429
    assert b"do not match" not in right.content + wrong.content


def test_any_authenticate_call_is_limited(rf, agent, settings):
    """A later API that calls authenticate(request=...) gets the same limit."""
    from django.contrib.auth import authenticate

    settings.EARSHOT_LOGIN_RATE_LIMIT = 3
    request = rf.post("/api/token", REMOTE_ADDR="10.0.0.5")
    for _ in range(3):
        assert authenticate(request, username="ana", password="nope") is None
    assert authenticate(request, username="ana", password=PASSWORD) is None
    other = rf.post("/api/token", REMOTE_ADDR="10.0.0.6")
    assert authenticate(other, username="ana", password=PASSWORD) == agent


def test_a_user_locked_from_one_address_signs_in_from_another(client, agent):
    for _ in range(30):
        sign_in(client, "ana", password="guess", ip="198.51.100.7")
    assert sign_in(client, "ana", ip="198.51.100.7").status_code == 429
    response = sign_in(client, "ana", ip="203.0.113.9")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(agent.pk)


def test_a_nat_neighbour_keeps_signing_in_to_their_own_account(client, agent, teammate):
    """An attacker behind the office NAT sprays usernames; tom, who signs in from that
    address every day, is not locked out of his own account."""
    office = "192.0.2.10"
    assert sign_in(client, "tom", ip=office).status_code == 302
    client.post("/logout/")
    for name in ["ana", "bob", "carl", "dina", "ed", "fay"] * 5:
        sign_in(client, name, password="guess", ip=office)
    # The address is over its limit for anyone new to it...
    assert sign_in(client, "ana", ip=office).status_code == 429
    # ...but not for a username that has signed in from it before.
    response = sign_in(client, "tom", ip=office)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(teammate.pk)


def test_an_address_is_not_trusted_for_long_ago_sign_ins(client, teammate, settings):
    settings.EARSHOT_LOGIN_RATE_LIMIT = 2
    settings.EARSHOT_LOGIN_KNOWN_ADDRESS_DAYS = 30
    LoginAttempt.objects.create(
        username="tom", ip="192.0.2.10", succeeded=True, at=timezone.now() - timedelta(days=31)
    )
    for name in ("x", "y"):
        sign_in(client, name, password="guess", ip="192.0.2.10")
    assert sign_in(client, "tom", ip="192.0.2.10").status_code == 429


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    username=st.one_of(
        st.text(max_size=300),
        st.sampled_from(["\x00", "ana\x00", "\ud800", "a" * 1_000_000, "  ", "\u202eana"]),
    ),
    ip=st.sampled_from(["10.0.0.1", "", "not-an-ip", "::1", "999.1.1.1"]),
)
def test_hostile_usernames_and_addresses_get_an_answer_not_an_error(client, agent, username, ip):
    # Percent-encoded by hand: a lone surrogate has no UTF-8 form the test client would send.
    body = f"username={quote(username, errors='surrogatepass')}&password=nope"
    response = client.post(
        LOGIN, body, content_type="application/x-www-form-urlencoded", REMOTE_ADDR=ip
    )
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session


def test_hostile_usernames_are_recorded_safely_by_authenticate(rf, agent):
    from django.contrib.auth import authenticate

    for username in ("ana\x00", "\ud800x", "b" * 5000):
        request = rf.post(LOGIN, REMOTE_ADDR="garbage")
        assert authenticate(request, username=username, password="nope") is None
    stored = list(LoginAttempt.objects.values_list("username", "ip"))
    assert ("ana\ufffd", None) in stored
    assert all(len(name) <= 150 for name, _ in stored)
