"""The permission matrix: every URL of the project, for every role of a brand and for a user of
another brand, through the Django test client on real PostgreSQL.

EXPECTED names every URL pattern (test_every_url_is_in_the_matrix walks the resolver, so a new
view without a row here fails the suite) with the Action it requires (brands/permissions.py
ALLOWED decides who may) or "public" / "auth-only". The rules each cell checks:

- anonymous: a redirect to /login/?next=<path> (public pages answer as they do for anyone);
- outsider (an agent of Initech only): 404 for anything naming an Acme object or brand; pages
  that take nothing of Acme's (the queue, the dashboard index) answer as for an agent of their
  own brand, and the leak tests below check they show nothing of Acme's;
- a member of Acme whose role ALLOWED does not list: 403;
- a member whose role is allowed: neither 403 nor 404 (200, 202, 302, or 409 for an action the
  case service refused).

Every test builds its own objects (function-scoped fixtures), so a POST in one cell cannot
change what another cell sees. The Django admin's own URLs are checked per model at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from brands.models import AuditLog, Brand, Membership
from brands.permissions import ALLOWED, Action
from brands.services import membership_staff_sync
from customers.models import AuthorMatch, Customer
from dashboard.models import RoiSettings
from demo import content
from engagement.admin import BrandScopedAdmin
from engagement.models import (
    AutoTagRule,
    CareSettings,
    Case,
    CaseMention,
    Reply,
    SavedReply,
    SentimentCorrection,
    Tag,
)
from listening.models import FetchLog, Mention, SentimentModel, SentimentRescore, Source
from listening.push_services import webhook_signature, webhook_source_create
from tests.engagement.conftest import make_user, store_mention
from tracking.models import Click, Conversion, TrackedLink, TrackingSettings
from tracking.services import click_record, link_create, tracking_settings_get

pytestmark = pytest.mark.django_db

Role = Membership.Role
HX = {"HTTP_HX_REQUEST": "true"}
ACME_MARKER = "zebrafinch7731"
INITECH_MARKER = "quokka4419"
PUBLIC = "public"
AUTH_ONLY = "auth-only"
# Scope of a route: what of Acme's the request names.
OBJECT = "object"  # an Acme case, mention, reply or author in the path
BRAND = "brand"  # ?brand=<Acme's id>
OWN = "own"  # nothing: the page lists whatever the user's own brands hold
ROLES = ("admin", "marketer", "agent", "outsider", "anonymous")
OK = {200, 202, 302, 409}


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Users are created per test; the production hasher would make this module take minutes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- the world: Acme with a case, and Initech with one of its own -----------------------------


@pytest.fixture
def world(acme, other_brand, admin_user, agent, marketer, outsider, social_source):
    membership_staff_sync(membership=admin_user.memberships.get(brand=acme))
    # A token, so a reply can be sent from Earshot (delivery is queued after commit, which a
    # test's transaction never reaches).
    social_source.config = {"access_token": "acme-token"}
    social_source.save(update_fields=["config"])
    admin_user.refresh_from_db()
    first = store_mention(social_source, f"My acme order never arrived {ACME_MARKER}")
    second = store_mention(social_source, f"Still waiting, acme? {ACME_MARKER}")
    case = Case.objects.create(
        brand=acme,
        author=first.author,
        opened_at=first.published_at,
        subject=first.text,
        status=Case.Status.OPEN,
        priority=40.0,
        priority_band="medium",
        similarity_key="order-never-arrived",
        phrase_key="order never arrived",
    )
    for mention in (first, second):
        CaseMention.objects.create(case=case, mention=mention, brand=acme)
    reply = Reply.objects.create(
        case=case, user=agent, text="We are on it", status=Reply.Status.FAILED, error="HTTP 502"
    )
    saved = SavedReply.objects.create(brand=acme, title="Sorry", body="Sorry {author_name}")
    tag = Tag.objects.create(brand=acme, name="shipping")
    SentimentCorrection.objects.create(
        mention=first,
        brand=acme,
        user=marketer,
        original_label=first.label,
        original_compound=first.compound,
        label="negative",
        reason=f"sarcasm {ACME_MARKER}",
    )
    webhook = webhook_source_create(brand=acme)
    # Tracked links (issue 14): a link of the case, clicked once, for the redirect, the
    # postback and the pixel.
    acme.domains = "acme.example"
    acme.save(update_fields=["domains"])
    link = link_create(brand=acme, target_url="https://acme.example/", case=case, created_by=agent)
    click_record(code=link.code, ip="203.0.113.1", user_agent="Mozilla/5.0 (X11; Linux)")
    click = Click.objects.get(link=link)
    tracking = tracking_settings_get(brand=acme)

    # Initech hears the same author, so its author page, queue, lists and exports have rows:
    # each of them must show Initech's and never Acme's.
    initech_source = Source.objects.create(
        brand=other_brand, kind="mastodon", url="https://initech.example"
    )
    initech_mention = store_mention(initech_source, f"initech billing is broken {INITECH_MARKER}")
    initech_case = Case.objects.create(
        brand=other_brand,
        author=initech_mention.author,
        opened_at=initech_mention.published_at,
        subject=initech_mention.text,
        status=Case.Status.OPEN,
        priority=50.0,
        priority_band="medium",
        # The same keys as Acme's case: similar requests must stop at the brand.
        similarity_key="order-never-arrived",
        phrase_key="order never arrived",
    )
    CaseMention.objects.create(case=initech_case, mention=initech_mention, brand=other_brand)
    SentimentCorrection.objects.create(
        mention=initech_mention,
        brand=other_brand,
        user=outsider,
        original_label=initech_mention.label,
        original_compound=initech_mention.compound,
        label="negative",
        reason=f"billing {INITECH_MARKER}",
    )
    initech_tag = Tag.objects.create(brand=other_brand, name="billing")
    initech_saved = SavedReply.objects.create(brand=other_brand, title="Hi", body="Hi")
    initech_reply = Reply.objects.create(
        case=initech_case, user=outsider, text="On it", status=Reply.Status.FAILED
    )
    assert first.author_id == initech_mention.author_id
    # Customer data (issue 14): a customer of Acme's suggested as the case's author.
    customer = Customer.objects.create(brand=acme, customer_id="c-1", name=f"Cy {ACME_MARKER}")
    customer_match = AuthorMatch.objects.create(
        brand=acme,
        customer=customer,
        author=first.author,
        kind=AuthorMatch.Kind.SUGGESTED,
        rule="display_name",
        confidence=0.4,
        status=AuthorMatch.Status.SUGGESTED,
    )
    return SimpleNamespace(
        acme=acme,
        initech=other_brand,
        users={"admin": admin_user, "marketer": marketer, "agent": agent, "outsider": outsider},
        case=case,
        mention=first,
        author=first.author,
        reply=reply,
        saved=saved,
        tag=tag,
        webhook=webhook,
        link=link,
        click=click,
        tracking=tracking,
        initech_source=initech_source,
        initech_mention=initech_mention,
        initech_case=initech_case,
        initech_tag=initech_tag,
        initech_saved=initech_saved,
        initech_reply=initech_reply,
        customer_match=customer_match,
    )


# --- the table --------------------------------------------------------------------------------


def _none(w) -> dict:
    return {}


@dataclass(frozen=True)
class Route:
    requires: Action | str
    scope: str = OWN
    method: str = "get"
    kwargs: Callable[[Any], dict] = _none  # path kwargs
    query: Callable[[Any], dict] = _none  # query string
    data: Callable[[Any], dict] = _none  # POST body
    htmx: bool = False
    # What a member whose role is not allowed gets, when it is not 403 (a friendly page).
    denied_status: int = 403
    send: Callable[[Client, Any, str], Any] | None = None  # a request that is not a form
    # The case is the acting user's (when their role may work cases), so the action runs
    # rather than being refused for want of ownership.
    owned: bool = False
    # What an allowed member gets: case actions through htmx answer 200, or 409 when the
    # service refuses, which none of these requests should provoke.
    ok: frozenset[int] = frozenset(OK)


def _case(w) -> dict:
    return {"case_id": w.case.pk}


def _post_webhook(client: Client, w, path: str):
    body = b"[]"
    stamp = str(int(time.time()))
    signature = webhook_signature(secret=w.webhook.secret, timestamp=stamp, body=body)
    return client.post(
        path,
        body,
        content_type="application/json",
        HTTP_X_EARSHOT_TIMESTAMP=stamp,
        HTTP_X_EARSHOT_SIGNATURE=signature,
    )


def _post_conversion(client: Client, w, path: str):
    body = json.dumps(
        {"click": w.click.token, "order_id": "M-1", "amount": "10", "currency": "EUR"}
    ).encode()
    stamp = str(int(time.time()))
    signature = webhook_signature(secret=w.tracking.postback_secret, timestamp=stamp, body=body)
    return client.post(
        path,
        body,
        content_type="application/json",
        HTTP_X_EARSHOT_TIMESTAMP=stamp,
        HTTP_X_EARSHOT_SIGNATURE=signature,
    )


_FEED = next(iter(content.FEEDS.values()))
_WORK = {
    "requires": Action.WORK_CASES,
    "scope": OBJECT,
    "method": "post",
    "htmx": True,
    "ok": frozenset({200}),
}

EXPECTED: dict[str, Route] = {
    # Sign-in, home, password (no namespace).
    "home": Route(PUBLIC),
    "login": Route(PUBLIC),
    "logout": Route(PUBLIC, method="post"),
    "password_change": Route(AUTH_ONLY),
    "password_change_done": Route(AUTH_ONLY),
    # The demo's feeds and APIs, and webhooks (authenticated by signature, not by user).
    "demo:feed": Route(PUBLIC, kwargs=lambda w: {"name": _FEED.name, "ext": _FEED.ext}),
    "demo:hn-search": Route(PUBLIC, query=lambda w: {"query": "acme"}),
    "demo:hn-user": Route(PUBLIC, kwargs=lambda w: {"username": content.HN_USERS[0]}),
    "demo:mastodon-tag": Route(PUBLIC, kwargs=lambda w: {"tag": "acme"}),
    "hooks:receive": Route(
        PUBLIC, method="post", kwargs=lambda w: {"token": w.webhook.token}, send=_post_webhook
    ),
    # Tracked links (issue 14): the redirect and the conversions are public (the postback is
    # signed, the pixel is unverified by design); the links page and its CSV are for admins
    # and marketers; every role makes links (agents on their cases, marketers on the page).
    "tracking:redirect": Route(PUBLIC, kwargs=lambda w: {"code": w.link.code}),
    "tracking:postback": Route(PUBLIC, method="post", send=_post_conversion),
    "tracking:pixel": Route(
        PUBLIC,
        query=lambda w: {"click": w.click.token, "order": "P-1", "amount": "5", "currency": "EUR"},
    ),
    "tracking:links": Route(Action.VIEW_REFERRALS, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "tracking:links-export": Route(
        Action.VIEW_REFERRALS, BRAND, query=lambda w: {"brand": w.acme.pk}
    ),
    "tracking:link-create": Route(
        Action.MAKE_LINKS,
        BRAND,
        method="post",
        data=lambda w: {"brand": w.acme.pk, "url": "https://acme.example/x", "campaign": "c"},
        htmx=True,
        ok=frozenset({200}),
    ),
    "tracking:case-link-create": Route(
        kwargs=_case, data=lambda w: {"url": "https://acme.example/y", "campaign": "c"}, **_WORK
    ),
    # Dashboard. The index lists the user's dashboard brands; an agent gets it empty with a
    # link to the mentions (pinned in tests/dashboard/test_views.py), not a 403.
    "dashboard:index": Route(Action.VIEW_DASHBOARD, denied_status=200),
    "dashboard:mentions": Route(Action.VIEW_MENTIONS, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "dashboard:mentions-export": Route(Action.EXPORT, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "dashboard:corrections-export": Route(
        Action.EXPORT, BRAND, query=lambda w: {"brand": w.acme.pk}
    ),
    # The charted pages (issue 12); the time zone choice is the user's own session.
    "dashboard:overview": Route(Action.VIEW_DASHBOARD, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "dashboard:share": Route(Action.VIEW_DASHBOARD, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "dashboard:care": Route(Action.VIEW_DASHBOARD, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "dashboard:authors": Route(Action.VIEW_DASHBOARD, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "dashboard:funnel": Route(Action.VIEW_DASHBOARD, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "dashboard:report": Route(Action.VIEW_DASHBOARD, BRAND, query=lambda w: {"brand": w.acme.pk}),
    # The ROI report (issue 14): aggregates for admins and marketers; the funnel's converted
    # authors are customers, for brand admins only.
    "dashboard:roi": Route(Action.VIEW_ROI, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "dashboard:roi-export": Route(
        Action.VIEW_ROI, BRAND, query=lambda w: {"brand": w.acme.pk, "table": "spend"}
    ),
    "dashboard:funnel-converted": Route(
        Action.VIEW_CUSTOMERS, BRAND, query=lambda w: {"brand": w.acme.pk}
    ),
    "dashboard:report-subscription": Route(
        Action.VIEW_DASHBOARD,
        BRAND,
        method="post",
        data=lambda w: {"brand": w.acme.pk, "time_zone": "UTC"},
    ),
    "dashboard:timezone": Route(AUTH_ONLY, method="post", data=lambda w: {"tz": "UTC"}),
    "dashboard:explorer": Route(Action.VIEW_MENTIONS, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "dashboard:explorer-export": Route(Action.EXPORT, BRAND, query=lambda w: {"brand": w.acme.pk}),
    # The queue. A marketer gets the friendly 403 page (no_access).
    "engagement:queue": Route(Action.VIEW_QUEUE),
    "engagement:queue-counts": Route(Action.VIEW_QUEUE),
    "engagement:next": Route(Action.WORK_CASES, method="post"),
    "engagement:claim": Route(Action.WORK_CASES, OBJECT, method="post", kwargs=_case, htmx=True),
    # The case page and its actions.
    "engagement:case": Route(Action.VIEW_QUEUE, OBJECT, kwargs=_case),
    "engagement:case-claim": Route(kwargs=_case, **_WORK),
    "engagement:case-release": Route(kwargs=_case, owned=True, **_WORK),
    "engagement:case-assign": Route(
        kwargs=_case, data=lambda w: {"assignee": w.users["agent"].pk}, **_WORK
    ),
    "engagement:case-takeover": Route(kwargs=_case, **_WORK),
    "engagement:case-status": Route(
        kwargs=_case, data=lambda w: {"status": "waiting"}, owned=True, **_WORK
    ),
    "engagement:case-note": Route(kwargs=_case, data=lambda w: {"text": "VIP"}, **_WORK),
    "engagement:case-tags": Route(kwargs=_case, data=lambda w: {"tags": [w.tag.pk]}, **_WORK),
    "engagement:case-reply": Route(
        kwargs=_case, data=lambda w: {"text": "Sorry!"}, owned=True, **_WORK
    ),
    "engagement:case-reply-manual": Route(
        kwargs=_case,
        data=lambda w: {"text": "Answered", "url": "https://social.example/@acme_help/1"},
        owned=True,
        **_WORK,
    ),
    "engagement:saved-reply-render": Route(
        Action.WORK_CASES,
        OBJECT,
        kwargs=lambda w: {"case_id": w.case.pk, "saved_id": w.saved.pk},
    ),
    # Presence is part of viewing the case page.
    "engagement:case-presence": Route(
        Action.VIEW_QUEUE, OBJECT, method="post", kwargs=_case, data=lambda w: {"is_typing": "on"}
    ),
    "engagement:case-similar-reply": Route(
        kwargs=_case,
        data=lambda w: {"text": "Fixed now", "cases": [w.case.pk], "mode": "manual"},
        **_WORK,
    ),
    "engagement:reply-retry": Route(kwargs=lambda w: {"reply_id": w.reply.pk}, owned=True, **_WORK),
    "engagement:mention-correct": Route(
        kwargs=lambda w: {"mention_id": w.mention.pk},
        data=lambda w: {"case": w.case.pk, "label": "neutral", "reason": "sarcasm"},
        **_WORK,
    ),
    # Explanations are reached from the case page, and answer as it does (marketers 403,
    # pinned in tests/engagement/test_views_case.py).
    "engagement:mention-explain": Route(
        Action.VIEW_QUEUE,
        OBJECT,
        kwargs=lambda w: {"mention_id": w.mention.pk},
        query=lambda w: {"case": w.case.pk},
    ),
    # Author pages: marketers read them too (issue 12), from the dashboard's authors page;
    # read-only for them (tests/engagement/test_views_author.py).
    "engagement:author": Route(
        Action.VIEW_AUTHORS,
        OBJECT,
        kwargs=lambda w: {"author_id": w.author.pk},
        query=lambda w: {"brand": w.acme.pk},
    ),
    # Customer data (issue 14): brand admins only.
    "customers:index": Route(Action.VIEW_CUSTOMERS, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "customers:matches": Route(Action.VIEW_CUSTOMERS, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "customers:loyalty": Route(Action.VIEW_CUSTOMERS, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "customers:loyalty-export": Route(
        Action.VIEW_CUSTOMERS, BRAND, query=lambda w: {"brand": w.acme.pk}
    ),
    "customers:import": Route(Action.MANAGE_CUSTOMERS, BRAND, query=lambda w: {"brand": w.acme.pk}),
    "customers:before-after": Route(
        Action.VIEW_CUSTOMERS, BRAND, query=lambda w: {"brand": w.acme.pk}
    ),
    "customers:match-decide": Route(
        Action.MANAGE_CUSTOMERS,
        BRAND,
        method="post",
        query=lambda w: {"brand": w.acme.pk},
        data=lambda w: {"match": w.customer_match.pk, "decision": "reject"},
    ),
}

# Cells that fail because of a bug in a view: (url name, role) -> reason.
BUGS: dict[tuple[str, str], str] = {}


# --- walking the resolver ---------------------------------------------------------------------


def _walk(patterns, namespaces: tuple[str, ...] = ()):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = (*namespaces, pattern.namespace) if pattern.namespace else namespaces
            yield from _walk(pattern.url_patterns, ns)
        elif isinstance(pattern, URLPattern):
            yield ":".join((*namespaces, pattern.name or f"<unnamed {pattern.pattern}>"))


def project_url_names() -> set[str]:
    return set(_walk(get_resolver().url_patterns))


def test_every_url_is_in_the_matrix():
    found = {name for name in project_url_names() if not name.startswith("admin:")}
    assert found == set(EXPECTED), {
        "missing from EXPECTED": sorted(found - set(EXPECTED)),
        "in EXPECTED but not routed": sorted(set(EXPECTED) - found),
    }


def test_the_admin_site_is_mounted():
    assert "admin:index" in project_url_names()


# --- the matrix -------------------------------------------------------------------------------


def _cells():
    for name in EXPECTED:
        for role in ROLES:
            reason = BUGS.get((name, role))
            marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {reason}")] if reason else []
            yield pytest.param(name, role, id=f"{name}-{role}", marks=marks)


def _path(route: Route, name: str, w) -> str:
    return reverse(name, kwargs=route.kwargs(w))


def request_route(client: Client, name: str, w):
    """Send the route's request; return the URL asked for (with its query) and the response."""
    route = EXPECTED[name]
    path = _path(route, name, w)
    query = route.query(w)
    url = f"{path}?{urlencode(query, doseq=True)}" if query else path
    if route.send is not None:
        return url, route.send(client, w, url)
    extra = HX if route.htmx else {}
    if route.method == "get":
        return url, client.get(url, **extra)
    return url, client.post(url, route.data(w), **extra)


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    # "replace": the conversion pixel answers a GIF.
    return response.content.decode(errors="replace")


def expected_for(route: Route, role: str) -> str:
    """ "login", "404", "403", "denied" (route.denied_status) or "ok"."""
    if route.requires == PUBLIC:
        return "ok"
    if role == "anonymous":
        return "login"
    if route.requires == AUTH_ONLY:
        return "ok"
    if role == "outsider":
        if route.scope in (OBJECT, BRAND):
            return "404"
        role_value = Role.AGENT  # what the outsider is in their own brand
    else:
        role_value = getattr(Role, role.upper())
    return "ok" if role_value in ALLOWED[route.requires] else "denied"


def assert_login_redirect(response, path: str) -> None:
    assert response.status_code == 302, response.status_code
    location = urlsplit(response["Location"])
    assert location.path == reverse("login")
    assert parse_qs(location.query).get("next") == [path]


@pytest.mark.parametrize(("name", "role"), list(_cells()))
def test_matrix(world, name, role):
    route = EXPECTED[name]
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    if route.owned and expected_for(route, role) == "ok":
        world.case.assignee = world.users[role]
        world.case.save(update_fields=["assignee"])
    path, response = request_route(client, name, world)
    status = response.status_code
    body = body_of(response)

    expected = expected_for(route, role)
    if expected == "login":
        assert_login_redirect(response, path)
    elif expected == "404":
        assert status == 404, status
    elif expected == "denied":
        assert status == route.denied_status, status
    else:
        assert status in route.ok, (status, body[:2000])
        if status == 302 and route.requires != PUBLIC:
            # (Public pages may send to sign-in: home does for anonymous, logout for all.)
            assert urlsplit(response["Location"]).path != reverse("login"), response["Location"]
    if role == "outsider":
        assert ACME_MARKER not in body
        if status == 302:
            assert str(world.case.pk) not in response["Location"]


# --- nothing of Acme's in another brand's lists and exports ------------------------------------

# (label, url name, query, htmx, whether Initech's marker must be on the page when it is 200)
LISTS = [
    ("queue", "engagement:queue", {}, False, True),
    ("queue-htmx", "engagement:queue", {}, True, True),
    ("queue-acme-filter", "engagement:queue", {"brand": "ACME"}, True, True),
    ("queue-counts", "engagement:queue-counts", {}, False, False),
    ("dashboard", "dashboard:index", {}, False, False),
    ("mentions", "dashboard:mentions", {}, False, True),
    ("mentions-htmx", "dashboard:mentions", {"brand": "INITECH"}, True, True),
    ("mentions-search", "dashboard:mentions", {"q": "acme"}, True, False),
    ("mentions-export", "dashboard:mentions-export", {}, False, True),
    ("mentions-export-initech", "dashboard:mentions-export", {"brand": "INITECH"}, False, True),
    ("corrections-export", "dashboard:corrections-export", {"brand": "INITECH"}, False, True),
    ("overview", "dashboard:overview", {}, False, False),
    ("share", "dashboard:share", {"brand": "INITECH"}, False, False),
    ("care", "dashboard:care", {"brand": "INITECH"}, False, False),
    ("authors", "dashboard:authors", {"brand": "INITECH"}, False, False),
    ("funnel", "dashboard:funnel", {"brand": "INITECH"}, False, False),
    ("report", "dashboard:report", {"brand": "INITECH"}, False, False),
    ("roi", "dashboard:roi", {"brand": "INITECH"}, False, False),
    ("explorer", "dashboard:explorer", {}, False, True),
    ("explorer-htmx", "dashboard:explorer", {"brand": "INITECH"}, True, True),
    ("explorer-search", "dashboard:explorer", {"q": "acme"}, True, False),
    ("explorer-author", "dashboard:explorer", {"author": "carol@social.example"}, False, True),
    ("explorer-export", "dashboard:explorer-export", {}, False, True),
    ("explorer-export-q", "dashboard:explorer-export", {"q": "order"}, False, False),
    ("author", "engagement:author", {"brand": "INITECH"}, False, True),
    ("author-htmx", "engagement:author", {"brand": "INITECH"}, True, True),
    ("initech-case", "engagement:case", {}, False, True),
]


@pytest.fixture
def initech_users(world):
    return {
        "initech-agent": world.users["outsider"],
        "initech-marketer": make_user("ingrid", world.initech, Role.MARKETER),
        "initech-admin": make_user("ivan", world.initech, Role.ADMIN),
    }


def _list_request(client: Client, w, name: str, query: dict, htmx: bool):
    brands = {"ACME": w.acme.pk, "INITECH": w.initech.pk}
    query = {k: brands.get(v, v) for k, v in query.items()}
    kwargs = {}
    if name == "engagement:author":
        kwargs = {"author_id": w.author.pk}
    elif name == "engagement:case":
        kwargs = {"case_id": w.initech_case.pk}
    return client.get(reverse(name, kwargs=kwargs), query, **(HX if htmx else {}))


@pytest.mark.parametrize("viewer", ["initech-agent", "initech-marketer", "initech-admin"])
@pytest.mark.parametrize(
    ("label", "name", "query", "htmx", "shows_initech"), LISTS, ids=[row[0] for row in LISTS]
)
def test_another_brands_lists_show_nothing_of_acme(
    world, initech_users, viewer, label, name, query, htmx, shows_initech
):
    client = Client()
    client.force_login(initech_users[viewer])
    response = _list_request(client, world, name, query, htmx)
    body = body_of(response)
    # 403/404 when the viewer's role has no such page (an agent exports nothing).
    assert response.status_code in (200, 403, 404), response.status_code
    assert ACME_MARKER not in body
    assert "acme order" not in body.lower()
    if response.status_code == 200 and shows_initech:
        assert INITECH_MARKER in body  # the page does list rows: their absence means something


@pytest.mark.parametrize(
    ("label", "role", "name", "query", "htmx"),
    [
        ("queue", "agent", "engagement:queue", {}, False),
        ("queue-htmx", "admin", "engagement:queue", {}, True),
        ("mentions", "marketer", "dashboard:mentions", {"brand": "ACME"}, True),
        ("mentions-export", "marketer", "dashboard:mentions-export", {"brand": "ACME"}, False),
        ("corrections", "marketer", "dashboard:corrections-export", {"brand": "ACME"}, False),
        ("explorer", "agent", "dashboard:explorer", {"brand": "ACME"}, True),
        ("explorer-export", "marketer", "dashboard:explorer-export", {"brand": "ACME"}, False),
        ("author", "agent", "engagement:author", {"brand": "ACME"}, False),
        ("author-marketer", "marketer", "engagement:author", {"brand": "ACME"}, False),
    ],
)
def test_acmes_own_lists_do_show_the_marker(world, label, role, name, query, htmx):
    """The control for the test above: the marker is on these pages for Acme's own users."""
    client = Client()
    client.force_login(world.users[role])
    response = _list_request(client, world, name, query, htmx)
    assert response.status_code == 200
    body = body_of(response)
    assert ACME_MARKER in body
    assert INITECH_MARKER not in body


def test_next_case_never_hands_another_brand_an_acme_case(world):
    client = Client()
    client.force_login(world.users["outsider"])
    for _ in range(3):
        response = client.post(f"{reverse('engagement:next')}?brand={world.acme.pk}")
        assert response.status_code == 302
        assert response["Location"] in (
            reverse("engagement:case", args=[world.initech_case.pk]),
            reverse("engagement:queue"),
        )
    world.case.refresh_from_db()
    assert world.case.assignee is None


# --- the Django admin: brand admins see their brand's rows only -------------------------------


# --- guessed ids of another brand, for a user with every right in their own ---------------


def initech_view(w) -> SimpleNamespace:
    """The world with Initech's objects where the routes take Acme's."""
    return SimpleNamespace(
        **{
            **vars(w),
            "acme": w.initech,
            "case": w.initech_case,
            "mention": w.initech_mention,
            "reply": w.initech_reply,
            "saved": w.initech_saved,
            "tag": w.initech_tag,
        }
    )


GUESSABLE = [name for name, route in EXPECTED.items() if route.scope in (OBJECT, BRAND)]


@pytest.mark.parametrize("name", GUESSABLE)
def test_acmes_admin_finds_nothing_of_another_brand(world, name):
    """The outsider cells mirrored: Acme's admin (every right in Acme) guesses Initech's ids."""
    client = Client()
    client.force_login(world.users["admin"])

    _, response = request_route(client, name, initech_view(world))

    assert response.status_code == 404
    assert INITECH_MARKER not in body_of(response)
    case = Case.objects.get(pk=world.initech_case.pk)
    assert case.assignee_id is None
    assert case.status == Case.Status.OPEN
    assert not case.tags.exists()
    assert list(Reply.objects.filter(case=case)) == [world.initech_reply]
    assert not case.notes.exists()


def _case_post(client, w, name, data, **kwargs):
    path = reverse(f"engagement:{name}", kwargs={"case_id": w.case.pk, **kwargs})
    return client.post(path, data, **HX)


def test_another_brands_ids_inside_an_acme_request_are_refused(world):
    """Acme's case in the path, Initech's objects in the rest: nothing of Initech's moves."""
    w = world
    client = Client()
    client.force_login(w.users["admin"])
    w.case.assignee = w.users["admin"]
    w.case.save(update_fields=["assignee"])

    saved = reverse(
        "engagement:saved-reply-render",
        kwargs={"case_id": w.case.pk, "saved_id": w.initech_saved.pk},
    )
    assert client.get(saved).status_code == 404
    page = reverse("engagement:case", kwargs={"case_id": w.case.pk})
    assert client.get(page, {"saved": w.initech_saved.pk}).status_code == 404
    for name in ("mention-correct", "mention-explain"):
        path = reverse(f"engagement:{name}", kwargs={"mention_id": w.initech_mention.pk})
        data = {"case": w.case.pk, "label": "neutral", "reason": "x"}
        send = client.post if name == "mention-correct" else client.get
        assert send(path, data).status_code == 404, name
    author = reverse("engagement:author", kwargs={"author_id": w.author.pk})
    assert client.get(author, {"brand": w.initech.pk}).status_code == 404

    assert (
        _case_post(client, w, "case-assign", {"assignee": w.users["outsider"].pk}).status_code
        == 409
    )
    assert _case_post(client, w, "case-tags", {"tags": [w.initech_tag.pk]}).status_code == 409
    similar = {"text": "Fixed", "cases": [w.initech_case.pk], "mode": "manual"}
    assert _case_post(client, w, "case-similar-reply", similar).status_code == 409

    w.case.refresh_from_db()
    assert w.case.assignee == w.users["admin"]
    assert not w.case.tags.exists()
    assert not SentimentCorrection.objects.filter(mention=w.initech_mention, brand=w.acme).exists()
    assert Reply.objects.filter(case=w.initech_case).count() == 1
    w.initech_case.refresh_from_db()
    assert w.initech_case.assignee is None


def test_a_user_of_two_brands_has_each_brands_role_only(world):
    """Marketer of Acme and agent of Initech: works Initech's queue, not Acme's cases."""
    w = world
    both = make_user("bo", w.acme, Role.MARKETER)
    Membership.objects.create(user=both, brand=w.initech, role=Role.AGENT)
    client = Client()
    client.force_login(both)

    for name, route in EXPECTED.items():
        if route.scope == OBJECT:
            _, response = request_route(client, name, w)
            assert response.status_code == (
                200 if Role.MARKETER in ALLOWED[route.requires] else 403
            ), name
    queue = client.get(reverse("engagement:queue")).content.decode()
    assert INITECH_MARKER in queue
    assert ACME_MARKER not in queue
    mentions = client.get(reverse("dashboard:mentions"), {"brand": w.acme.pk})
    assert ACME_MARKER in mentions.content.decode()
    assert (
        client.get(reverse("dashboard:mentions-export"), {"brand": w.initech.pk}).status_code == 403
    )
    for _ in range(2):
        client.post(reverse("engagement:next"))
    w.case.refresh_from_db()
    assert w.case.assignee is None


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _change(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def admin_rows(world):
    """For each brand-scoped model: (a row of Acme, a row of Initech)."""
    w = world
    initech_tag = w.initech_tag
    rows = {
        Brand: (w.acme, w.initech),
        Source: (w.webhook, w.initech_source),
        Mention: (w.mention, w.initech_mention),
        FetchLog: (
            FetchLog.objects.create(source=w.webhook, error_class="acme_timeout"),
            FetchLog.objects.create(source=w.initech_source, error_class="initech_timeout"),
        ),
        Membership: (
            Membership.objects.get(user=w.users["marketer"]),
            Membership.objects.get(user=w.users["outsider"]),
        ),
        SavedReply: (w.saved, w.initech_saved),
        CareSettings: (
            CareSettings.objects.get_or_create(brand=w.acme)[0],
            CareSettings.objects.get_or_create(brand=w.initech)[0],
        ),
        Tag: (w.tag, initech_tag),
        AutoTagRule: (
            AutoTagRule.objects.create(brand=w.acme, query="late", tag=w.tag),
            AutoTagRule.objects.create(brand=w.initech, query="invoice", tag=initech_tag),
        ),
        AuditLog: (
            AuditLog.objects.create(brand=w.acme, action="admin.change", object_type="x"),
            AuditLog.objects.create(brand=w.initech, action="admin.change", object_type="x"),
        ),
        SentimentCorrection: (
            SentimentCorrection.objects.get(brand=w.acme),
            SentimentCorrection.objects.get(brand=w.initech),
        ),
        SentimentModel: (
            SentimentModel.objects.create(brand=w.acme, version=1, status="rejected"),
            SentimentModel.objects.create(
                brand=w.initech, version=1, status="rejected", status_reason=INITECH_MARKER
            ),
        ),
        SentimentRescore: (
            SentimentRescore.objects.create(brand=w.acme, reason="roll back v1 to default"),
            SentimentRescore.objects.create(brand=w.initech, reason=INITECH_MARKER),
        ),
    }
    initech_link = TrackedLink.objects.create(
        brand=w.initech, code="initech01", target_url="https://initech.example/"
    )
    initech_click = Click.objects.create(
        link=initech_link, brand=w.initech, token="initech-click", campaign=INITECH_MARKER
    )
    rows[TrackingSettings] = (w.tracking, tracking_settings_get(brand=w.initech))
    rows[RoiSettings] = (
        RoiSettings.objects.create(brand=w.acme, contact_cost=4, currency="EUR"),
        RoiSettings.objects.create(brand=w.initech, contact_cost=None, currency="USD"),
    )
    rows[TrackedLink] = (w.link, initech_link)
    rows[Click] = (w.click, initech_click)
    rows[Conversion] = (
        Conversion.objects.create(
            brand=w.acme,
            click=w.click,
            order_id="A-1",
            amount=1,
            currency="EUR",
            at=w.click.at,
            channel="postback",
            is_verified=True,
        ),
        Conversion.objects.create(
            brand=w.initech,
            click=initech_click,
            order_id=INITECH_MARKER,
            amount=1,
            currency="EUR",
            at=initech_click.at,
            channel="pixel",
            is_verified=False,
        ),
    )
    return rows


SCOPED_MODELS = [
    Brand,
    Source,
    Mention,
    FetchLog,
    Membership,
    SavedReply,
    CareSettings,
    Tag,
    AutoTagRule,
    AuditLog,
    SentimentCorrection,
    TrackingSettings,
    TrackedLink,
    Click,
    Conversion,
    SentimentModel,
    SentimentRescore,
    RoiSettings,
]


def test_every_brand_scoped_admin_is_checked():
    scoped = {m for m, a in admin.site._registry.items() if isinstance(a, BrandScopedAdmin)}
    assert scoped == set(SCOPED_MODELS)


def test_the_brand_admin_is_staff_through_the_membership(world):
    admin_user = world.users["admin"]
    assert admin_user.is_staff and not admin_user.is_superuser
    assert not admin_user.user_permissions.exists()
    for role in ("marketer", "agent", "outsider"):
        assert not world.users[role].is_staff


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda m: m._meta.label)
def test_a_brand_admin_sees_only_their_brands_rows_in_the_admin(world, admin_rows, model):
    ours, theirs = admin_rows[model]
    client = Client()
    client.force_login(world.users["admin"])

    response = client.get(_changelist(model))

    assert response.status_code == 200
    body = response.content.decode()
    assert _change(ours) in body
    assert _change(theirs) not in body
    assert INITECH_MARKER not in body
    assert client.get(_change(ours)).status_code == 200
    # Another brand's row does not exist for them: the admin sends them back to its index.
    guessed = client.get(_change(theirs))
    assert guessed.status_code == 302
    assert guessed["Location"] == reverse("admin:index")


def test_a_brand_admin_gets_no_unscoped_admin_model(world):
    client = Client()
    client.force_login(world.users["admin"])
    unscoped = [m for m, a in admin.site._registry.items() if not isinstance(a, BrandScopedAdmin)]
    assert unscoped
    for model in unscoped:
        assert client.get(_changelist(model)).status_code == 403, model._meta.label


@pytest.mark.parametrize("role", ["marketer", "agent", "outsider", "anonymous"])
def test_non_staff_users_are_sent_to_the_admin_login(world, role):
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    for path in [reverse("admin:index"), *(_changelist(m) for m in SCOPED_MODELS)]:
        response = client.get(path)
        assert response.status_code == 302, path
        location = urlsplit(response["Location"])
        assert location.path == reverse("admin:login"), path
        assert parse_qs(location.query).get("next") == [path]


def test_the_webhook_cell_really_delivers(world):
    """hooks:receive is public but signed: the matrix's request is a valid delivery."""
    path, response = request_route(Client(), "hooks:receive", world)
    assert response.status_code == 202, json.loads(response.content)
