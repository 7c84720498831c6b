"""Brand admins configure their own brands in the Django admin, and nothing else."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from brands.models import AuditLog, Brand, Membership
from engagement.models import AutoTagRule, SavedReply, Tag
from listening.models import Source
from tests.brands.conftest import PASSWORD, make_user


@pytest.fixture
def brand_admin(admin_user):
    """Ada: Membership admin of Acme, is_staff, not a superuser, no model permissions."""
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])
    assert not admin_user.user_permissions.exists()
    return admin_user


@pytest.fixture
def initech_rows(other_brand, outsider):
    source = Source.objects.create(brand=other_brand, kind="rss", url="https://initech.example/f")
    reply = SavedReply.objects.create(brand=other_brand, title="Initech hello", body="Hi")
    return {"source": source, "reply": reply}


@pytest.fixture
def acme_reply(acme):
    return SavedReply.objects.create(brand=acme, title="Acme hello", body="Hi {author_name}")


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def add_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")


# -- who gets in -----------------------------------------------------------------------------


@pytest.mark.parametrize("role_fixture", ["agent", "marketer"])
def test_agents_and_marketers_cannot_reach_the_admin(client, request, role_fixture):
    user = request.getfixturevalue(role_fixture)
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_staff_user_of_no_brand_sees_no_brand_models(client, db):
    user = make_user("sam", None, None)
    user.is_staff = True
    user.save()
    client.force_login(user)
    assert client.get(changelist(Source)).status_code == 403
    assert client.get(changelist(SavedReply)).status_code == 403


def test_a_brand_admin_reaches_the_admin_without_model_permissions(client, brand_admin):
    client.force_login(brand_admin)
    body = client.get(reverse("admin:index")).content.decode()
    assert changelist(SavedReply) in body
    assert changelist(Source) in body


# -- scope ------------------------------------------------------------------------------------


def test_a_brand_admin_sees_only_their_brands_rows(
    client, brand_admin, social_source, initech_rows, acme_reply, outsider
):
    client.force_login(brand_admin)

    sources = client.get(changelist(Source)).content.decode()
    assert "social.example" in sources
    assert "initech.example" not in sources

    brands = client.get(changelist(Brand)).content.decode()
    assert change_url(Brand.objects.get(name="Acme")) in brands
    assert change_url(Brand.objects.get(name="Initech")) not in brands
    assert change_url(Brand.objects.get(name="Globex")) not in brands

    memberships = client.get(changelist(Membership)).content.decode()
    assert "ada" in memberships
    assert "oz" not in memberships

    replies = client.get(changelist(SavedReply)).content.decode()
    assert "Acme hello" in replies
    assert "Initech hello" not in replies


def test_filters_list_only_the_brand_admins_brands(
    client, brand_admin, social_source, initech_rows
):
    client.force_login(brand_admin)
    body = client.get(changelist(Source)).content.decode()
    assert "Initech" not in body


def test_a_brand_admin_cannot_open_another_brands_object(client, brand_admin, initech_rows):
    client.force_login(brand_admin)
    for obj in (initech_rows["source"], initech_rows["reply"], Brand.objects.get(name="Initech")):
        response = client.get(change_url(obj))
        assert response.status_code in (302, 403, 404)
        assert str(obj) not in response.content.decode()


def test_a_brand_admin_cannot_change_another_brands_object_by_posting(
    client, brand_admin, initech_rows
):
    client.force_login(brand_admin)
    reply = initech_rows["reply"]
    client.post(change_url(reply), {"brand": reply.brand_id, "title": "pwned", "body": "x"})
    reply.refresh_from_db()
    assert reply.title == "Initech hello"
    assert not AuditLog.objects.exists()


def test_a_brand_admin_cannot_pick_another_brand_in_a_form(client, brand_admin, acme, other_brand):
    client.force_login(brand_admin)
    form_page = client.get(add_url(SavedReply)).content.decode()
    assert f'<option value="{acme.pk}"' in form_page
    assert f'<option value="{other_brand.pk}"' not in form_page

    response = client.post(
        add_url(SavedReply), {"brand": other_brand.pk, "title": "Sneaky", "body": "x"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not SavedReply.objects.filter(title="Sneaky").exists()


def test_a_brand_admin_cannot_add_or_delete_brands(client, brand_admin, acme):
    client.force_login(brand_admin)
    assert client.get(add_url(Brand)).status_code == 403
    delete = reverse("admin:brands_brand_delete", args=[acme.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Brand.objects.filter(pk=acme.pk).exists()


# -- audit ------------------------------------------------------------------------------------


def test_an_edit_writes_an_audit_entry_with_before_and_after(client, brand_admin, acme_reply):
    client.force_login(brand_admin)
    response = client.post(
        change_url(acme_reply),
        {"brand": acme_reply.brand_id, "title": "Acme welcome", "body": acme_reply.body},
    )
    assert response.status_code == 302
    entry = AuditLog.objects.get()
    assert entry.actor == brand_admin
    assert entry.brand_id == acme_reply.brand_id
    assert entry.action == "admin.change"
    assert entry.object_type == "engagement.savedreply"
    assert entry.object_id == str(acme_reply.pk)
    assert entry.before == {"title": "Acme hello"}
    assert entry.after == {"title": "Acme welcome"}


def test_adding_and_deleting_write_audit_entries(client, brand_admin, acme):
    client.force_login(brand_admin)
    client.post(add_url(Tag), {"brand": acme.pk, "name": "refund"})
    tag = Tag.objects.get(name="refund")
    added = AuditLog.objects.get(action="admin.add")
    assert added.after == {"brand": acme.pk, "name": "refund"}
    assert added.before == {}

    delete = reverse("admin:engagement_tag_delete", args=[tag.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    deleted = AuditLog.objects.get(action="admin.delete")
    assert deleted.before["name"] == "refund"
    assert deleted.object_id == str(tag.pk)
    assert deleted.brand_id == acme.pk


def test_a_sources_config_is_redacted_in_the_audit(client, brand_admin, social_source):
    client.force_login(brand_admin)
    response = client.post(
        change_url(social_source),
        {
            "brand": social_source.brand_id,
            "kind": "mastodon",
            "name": "Fediverse",
            "url": social_source.url,
            "config": '{"hashtag": "acme", "access_token": "s3cret"}',
            "backfill_days": 30,
            "poll_interval": 900,
            "is_enabled": "on",
            "next_poll_at_0": "2024-01-01",
            "next_poll_at_1": "00:00:00",
            "fetch_logs-TOTAL_FORMS": 0,
            "fetch_logs-INITIAL_FORMS": 0,
            # social.example does not resolve: the new config is checked and the host is
            # "down now", which may be saved anyway (tests/listening/test_source_check.py).
            "save_anyway": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditLog.objects.get(action="admin.change")
    assert "s3cret" not in str(entry.after)
    assert entry.after["name"] == "Fediverse"


def test_audit_entries_are_read_only_and_scoped(client, brand_admin, acme, other_brand):
    AuditLog.objects.create(brand=acme, action="x.acme", object_type="t", object_id="1")
    AuditLog.objects.create(brand=other_brand, action="x.initech", object_type="t", object_id="2")
    client.force_login(brand_admin)
    body = client.get(changelist(AuditLog)).content.decode()
    assert "x.acme" in body
    assert "x.initech" not in body
    assert client.get(add_url(AuditLog)).status_code == 403


# -- memberships --------------------------------------------------------------------------------


def test_adding_a_new_user_as_admin_makes_them_staff(client, brand_admin, acme):
    client.force_login(brand_admin)
    response = client.post(
        add_url(Membership),
        {
            "username": "newbie",
            "password": PASSWORD,
            "email": "",
            "brand": acme.pk,
            "role": "admin",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    newbie = get_user_model().objects.get(username="newbie")
    assert newbie.is_staff
    assert not newbie.is_superuser
    assert newbie.check_password(PASSWORD)
    assert Membership.objects.get(user=newbie).role == "admin"
    assert AuditLog.objects.get(action="admin.add").object_type == "engagement.membership"


def test_adding_an_existing_user_needs_no_password_and_never_sets_one(
    client, brand_admin, acme, outsider
):
    client.force_login(brand_admin)
    response = client.post(
        add_url(Membership),
        {"username": "oz", "password": "hijack-attempt-123", "brand": acme.pk, "role": "agent"},
    )
    assert response.status_code == 200
    assert "leave the password empty" in response.content.decode()
    outsider.refresh_from_db()
    assert outsider.check_password(PASSWORD)

    response = client.post(
        add_url(Membership), {"username": "oz", "password": "", "brand": acme.pk, "role": "agent"}
    )
    assert response.status_code == 302
    assert Membership.objects.filter(user=outsider, brand=acme, role="agent").exists()
    outsider.refresh_from_db()
    assert not outsider.is_staff


# -- auto-tag rules -----------------------------------------------------------------------------


def test_an_auto_tag_rule_with_a_bad_query_shows_the_query_error(client, brand_admin, acme):
    tag = Tag.objects.create(brand=acme, name="refund")
    client.force_login(brand_admin)
    response = client.post(
        add_url(AutoTagRule), {"brand": acme.pk, "query": "refund AND (", "tag": tag.pk}
    )
    assert response.status_code == 200
    assert "Unbalanced parenthesis" in response.content.decode()
    assert not AutoTagRule.objects.exists()

    response = client.post(
        add_url(AutoTagRule), {"brand": acme.pk, "query": "refund OR money", "tag": tag.pk}
    )
    assert response.status_code == 302
    assert AutoTagRule.objects.get().query == "refund OR money"


def test_an_auto_tag_rule_offers_only_the_brands_tags(client, brand_admin, acme, other_brand):
    ours = Tag.objects.create(brand=acme, name="ours")
    theirs = Tag.objects.create(brand=other_brand, name="theirs")
    client.force_login(brand_admin)
    body = client.get(add_url(AutoTagRule)).content.decode()
    assert f'<option value="{ours.pk}"' in body
    assert f'<option value="{theirs.pk}"' not in body


def test_a_brand_admin_sees_only_their_brands_mentions_and_fetch_logs(
    client, brand_admin, social_source, initech_rows
):
    from listening.models import FetchLog, Mention
    from tests.engagement.conftest import store_mention

    store_mention(social_source, "acme is great")
    FetchLog.objects.create(source=social_source, error_class="acme_timeout")
    FetchLog.objects.create(source=initech_rows["source"], error_class="initech_timeout")
    client.force_login(brand_admin)
    mentions = client.get(changelist(Mention))
    assert mentions.status_code == 200
    assert "acme is great" in mentions.content.decode()
    logs = client.get(changelist(FetchLog)).content.decode()
    assert "acme_timeout" in logs
    assert "initech_timeout" not in logs
    assert client.get(change_url(social_source)).status_code == 200
