"""Making links (tracking/services.py): the target rule, codes, rights, saved replies'
{link:<code>}, and the click's one read and one insert."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from engagement.models import SavedReply
from engagement.services import saved_reply_render
from tests.tracking.conftest import BROWSER
from tracking.models import Click, TrackedLink
from tracking.services import (
    LinkRefused,
    click_record,
    ip_hash,
    link_code_new,
    link_create,
    postback_secret_rotate,
    tracking_settings_get,
)

pytestmark = pytest.mark.django_db

CODE_RE = re.compile(r"^[A-Za-z0-9_-]{10}$")


def test_a_link_gets_a_short_unguessable_code_and_the_rebuilt_target(shop, marketer):
    links = [
        link_create(
            brand=shop,
            target_url="HTTPS://Shop.Acme.Example:443/Ä",
            campaign=" Spring  sale ",
            created_by=marketer,
        )
        for _ in range(20)
    ]

    assert all(CODE_RE.match(link.code) for link in links)
    assert len({link.code for link in links}) == 20
    assert links[0].target_url == "https://shop.acme.example/%C3%84"
    assert links[0].campaign == "Spring sale"


def test_a_foreign_target_is_refused_when_the_link_is_made_and_nothing_is_stored(shop, agent):
    with pytest.raises(LinkRefused, match="evil.example is not one of the brand's domains"):
        link_create(brand=shop, target_url="https://evil.example/", created_by=agent)
    assert not TrackedLink.objects.exists()


def test_only_members_whose_role_makes_links_may(shop, outsider, other_brand, marketer):
    with pytest.raises(Http404):
        link_create(brand=shop, target_url="https://acme.example/", created_by=outsider)
    other_brand.domains = "initech.example"
    other_brand.save()
    with pytest.raises(Http404):
        link_create(brand=other_brand, target_url="https://initech.example/", created_by=marketer)


def test_a_case_of_another_brand_is_refused(shop, case, outsider, other_brand):
    other_brand.domains = "initech.example"
    other_brand.save()
    with pytest.raises((LinkRefused, PermissionDenied, Http404)):
        link_create(
            brand=other_brand,
            target_url="https://initech.example/",
            case=case,
            created_by=outsider,
        )
    assert not TrackedLink.objects.exists()


def test_an_agent_inserting_the_same_link_twice_on_a_case_gets_one_link(case, agent, teammate):
    first = link_create(
        brand=case.brand, target_url="https://acme.example/x", case=case, created_by=agent
    )
    again = link_create(
        brand=case.brand, target_url="https://acme.example/x", case=case, created_by=agent
    )
    theirs = link_create(
        brand=case.brand, target_url="https://acme.example/x", case=case, created_by=teammate
    )

    assert first.pk == again.pk != theirs.pk
    assert (first.case_id, first.author_id) == (case.pk, case.author_id)


# --- saved replies: {link:<code>} ------------------------------------------------------------


def test_a_saved_replys_link_becomes_the_cases_own_link_once(case, agent, admin_user, settings):
    settings.EARSHOT_TRACKING_BASE_URL = "https://go.example"
    template = link_create(
        brand=case.brand,
        target_url="https://acme.example/roaming",
        campaign="roaming",
        created_by=admin_user,
        is_template=True,
    )
    saved = SavedReply.objects.create(
        brand=case.brand, title="Roaming", body=f"Hi {{author_name}}, see {{link:{template.code}}}"
    )

    text = saved_reply_render(saved_reply=saved, case=case, user=agent)
    again = saved_reply_render(saved_reply=saved, case=case, user=agent)

    own = TrackedLink.objects.get(template=template)
    assert text == f"Hi Carol, see https://go.example/r/{own.code}"
    assert again == text
    assert (own.case_id, own.author_id, own.created_by_id) == (case.pk, case.author_id, agent.pk)
    assert (own.target_url, own.campaign, own.is_template) == (
        "https://acme.example/roaming",
        "roaming",
        False,
    )
    assert (template.case_id, template.author_id) == (None, None)


def test_a_placeholder_that_is_no_template_of_the_brand_stays_as_typed(
    case, agent, marketer, other_brand
):
    plain = link_create(brand=case.brand, target_url="https://acme.example/", created_by=marketer)
    foreign = TrackedLink.objects.create(
        brand=other_brand,
        code="initechtpl",
        target_url="https://initech.example/",
        is_template=True,
    )
    body = f"{{link:{plain.code}}} {{link:{foreign.code}}} {{link:nope}} {{other:x}}"
    saved = SavedReply.objects.create(brand=case.brand, title="T", body=body)

    assert saved_reply_render(saved_reply=saved, case=case, user=agent) == body
    assert TrackedLink.objects.count() == 2


def test_an_authors_name_that_looks_like_a_placeholder_is_not_run(case, agent, admin_user):
    template = link_create(
        brand=case.brand,
        target_url="https://acme.example/",
        created_by=admin_user,
        is_template=True,
    )
    case.author.display_name = f"{{link:{template.code}}}"
    case.author.save()
    saved = SavedReply.objects.create(brand=case.brand, title="T", body="Hi {author_name}")

    assert saved_reply_render(saved_reply=saved, case=case, user=agent) == (
        f"Hi {{link:{template.code}}}"
    )
    assert not TrackedLink.objects.filter(template=template).exists()


# --- clicks -----------------------------------------------------------------------------------


def test_a_click_is_one_read_and_one_insert(case, agent, django_assert_num_queries):
    link = link_create(
        brand=case.brand, target_url="https://acme.example/", case=case, created_by=agent
    )

    with django_assert_num_queries(2):
        url = click_record(code=link.code, ip="203.0.113.9", user_agent=BROWSER)

    assert url.startswith("https://acme.example/?utm_source=earshot")
    assert Click.objects.get().ip_hash == ip_hash("203.0.113.9")


def test_the_ip_hash_is_keyed_with_the_secret_key(settings):
    first = ip_hash("203.0.113.9")
    settings.SECRET_KEY = "another-key-entirely-another-key-entirely-12345"

    assert ip_hash("203.0.113.9") != first
    assert "203" not in first and len(first) == 16
    assert ip_hash("") == ""


def test_the_brands_utm_template_replaces_the_instances(case, agent, settings):
    settings.EARSHOT_TRACKING_UTM = "utm_source=earshot"
    tracking = tracking_settings_get(brand=case.brand)
    tracking.utm_template = "src=social&c={campaign}&k={code}"
    tracking.save()
    link = link_create(
        brand=case.brand, target_url="https://acme.example/", campaign="w", created_by=agent
    )

    url = click_record(code=link.code, ip="", user_agent=BROWSER)

    token = Click.objects.get().token
    assert url == f"https://acme.example/?src=social&c=w&k={link.code}&earshot_click={token}"


def test_no_utm_template_at_all_adds_only_the_click(case, agent, settings):
    settings.EARSHOT_TRACKING_UTM = ""
    link = link_create(brand=case.brand, target_url="https://acme.example/p?x=1", created_by=agent)

    url = click_record(code=link.code, ip="", user_agent=BROWSER)

    assert url == f"https://acme.example/p?x=1&earshot_click={Click.objects.get().token}"


def test_a_rotated_postback_secret_is_new(shop):
    tracking = tracking_settings_get(brand=shop)
    old = tracking.postback_secret

    new = postback_secret_rotate(tracking=tracking)

    assert len(old) == len(new) == 64 and old != new
    assert tracking_settings_get(brand=shop).postback_secret == new


def test_link_codes_never_start_with_a_minus_sign() -> None:
    """A spreadsheet reads "-..." as a formula: the links CSV would escape such a code and its
    code column would not match the URL. One code in 64 would start so; among 2,000, some
    would (all but certain: 1 - (63/64)^2000)."""
    codes = {link_code_new() for _ in range(2000)}
    assert len(codes) == 2000
    assert not any(code.startswith("-") for code in codes)
    assert all(CODE_RE.match(code) for code in codes)
