"""The security headers on responses: HTTPS redirect and HSTS, the Content-Security-Policy,
secure cookies, and `Cache-Control: private, no-store` on signed-in pages (issue 9).

The suite runs over plain HTTP (config/settings_test.py); these tests switch the production
values back on, which SecurityMiddleware reads when the test client first builds it.
"""

from __future__ import annotations

import pytest
from django.test import Client

from brands.models import Membership
from listening.services import brand_create
from tests.brands.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(db):
    return make_user("ana", brand_create(name="Acme", query="acme"), Membership.Role.AGENT)


@pytest.fixture
def https_only(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    return settings


def test_production_settings_are_https_only_unless_opted_out():
    """What config.settings makes of EARSHOT_PLAIN_HTTP, read in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"
    )
    base = {
        "PATH": "/usr/bin:/bin",
        "EARSHOT_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "x" * 60,
        "DATABASE_URL": "sqlite://:memory:",
    }
    out = {}
    for plain in ("", "true"):
        env = dict(base, EARSHOT_PLAIN_HTTP=plain) if plain else base
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        out[plain] = result.stdout.strip()
    assert out[""] == "True True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')"
    assert out["true"].startswith("False False False 0 ")


def test_plain_http_is_redirected_to_https(https_only, client):
    response = client.get("/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/login/"


def test_the_proxy_header_says_the_request_was_https(https_only, client):
    response = client.get("/login/", headers={"x-forwarded-proto": "https"})
    assert response.status_code == 200


def test_https_responses_carry_hsts_and_a_strict_csp(https_only, client):
    response = client.get("/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_sign_in_sets_secure_http_only_cookies(https_only, agent):
    client = Client()
    response = client.post("/login/", {"username": "ana", "password": PASSWORD}, secure=True)
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] is True and session["httponly"] is True
    assert response.cookies["csrftoken"]["secure"] is True


def test_signed_in_pages_are_private_and_not_stored(https_only, client, agent):
    client.force_login(agent)
    for path in ("/queue/", "/"):
        response = client.get(path, secure=True)
        assert response.status_code in (200, 302), path
        cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= cache_control, path


def test_static_files_stay_cacheable_for_a_signed_in_user(https_only, client, agent):
    https_only.WHITENOISE_USE_FINDERS = True
    client.force_login(agent)
    response = client.get("/static/earshot/earshot.css", secure=True)
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    assert "private" not in response.get("Cache-Control", "")
    b"".join(response.streaming_content)
