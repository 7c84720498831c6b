"""brands 0001 takes over Brand, Membership, AuditLog and LoginAttempt from listening and
engagement (issue 10 point 1), state only: run on real rows, nothing is lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from tests.database import migrate, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

# ("brands", None): brands unapplied, the models back in listening and engagement. The
# contrib apps are named so that their models in this state are today's (no migration of
# ours depends on their newest ones).
BEFORE = [
    ("listening", "0007_mention_scorer"),
    ("engagement", "0008_effective_labels"),
    ("brands", None),
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0012_alter_user_first_name_max_length"),
    ("admin", "0003_logentry_add_action_flag_choices"),
]
AFTER = [
    ("brands", "0001_initial"),
    ("engagement", "0009_move_access_to_brands"),
    ("listening", "0008_move_brand_to_brands"),
]
AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def latest_schema_afterwards():
    yield
    migrate_to_latest()
    ContentType.objects.clear_cache()


def test_brands_memberships_audit_and_sign_ins_survive_the_move_with_their_relations():
    apps = migrate(BEFORE)
    content_types = apps.get_model("contenttypes", "ContentType")
    brand_type = content_types.objects.get_or_create(app_label="listening", model="brand")[0]
    assert not content_types.objects.filter(app_label="brands").exists()
    user = apps.get_model("auth", "User").objects.create(username="ana")
    brand_model = apps.get_model("listening", "Brand")
    acme = brand_model.objects.create(
        name="Acme", query="acme", handles="@acme", domains="acme.example", created_at=AT
    )
    globex = brand_model.objects.create(name="Globex", query="globex")
    initech = brand_model.objects.create(name="Initech", query="initech")
    acme.competitors.add(globex, initech)
    source = apps.get_model("listening", "Source").objects.create(brand=acme, kind="webhook")
    mention = apps.get_model("listening", "Mention").objects.create(
        source=source,
        external_id="m1",
        text="acme broke",
        published_at=AT,
        fetched_at=AT,
        neg=0.5,
        neu=0.5,
        pos=0.0,
        compound=-0.4,
    )
    apps.get_model("listening", "MentionMatch").objects.create(
        mention=mention, brand=globex, published_at=AT
    )
    case = apps.get_model("engagement", "Case").objects.create(brand=acme)
    apps.get_model("engagement", "CaseMention").objects.create(
        case=case, mention=mention, brand=acme
    )
    apps.get_model("engagement", "Tag").objects.create(brand=initech, name="billing")
    membership = apps.get_model("engagement", "Membership").objects.create(
        user=user, brand=acme, role="agent", created_at=AT
    )
    audit = apps.get_model("engagement", "AuditLog").objects.create(
        actor=user,
        brand=acme,
        action="claim",
        object_type="case",
        object_id=str(case.pk),
        before={"assignee": None},
        after={"assignee": "ana"},
        at=AT,
    )
    attempt = apps.get_model("engagement", "LoginAttempt").objects.create(
        username="ana", ip="10.0.0.1", succeeded=False, at=AT
    )
    # What the admin wrote about the brand, by content type: it must keep finding the brand.
    log = apps.get_model("admin", "LogEntry").objects.create(
        user=user,
        content_type=brand_type,
        object_id=str(acme.pk),
        object_repr="Acme",
        action_flag=ADDITION,
        action_time=AT,
    )

    migrate(AFTER)
    ContentType.objects.clear_cache()

    from brands.models import AuditLog, Brand, LoginAttempt, Membership
    from engagement.models import Case, CaseMention, Tag
    from listening.models import Mention, MentionMatch, Source

    acme_now = Brand.objects.get(pk=acme.pk)
    assert (acme_now.name, acme_now.query, acme_now.handles, acme_now.domains) == (
        "Acme",
        "acme",
        "@acme",
        "acme.example",
    )
    assert acme_now.created_at == AT
    assert sorted(acme_now.competitors.values_list("name", flat=True)) == ["Globex", "Initech"]
    assert list(Brand.objects.get(pk=globex.pk).competitor_of.all()) == [acme_now]
    assert Source.objects.get(pk=source.pk).brand == acme_now
    # Today's Mention, MentionMatch and Case have columns added after this state
    # (earshot_label, is_history, ...):
    # read only the columns the move is about.
    assert (
        MentionMatch.objects.values_list("brand__name", flat=True).get(mention_id=mention.pk)
        == "Globex"
    )
    assert Mention.objects.filter(pk=mention.pk).values_list(
        "matches__brand_id", flat=True
    ).get() == (globex.pk)
    assert Case.objects.only("brand").get(pk=case.pk).brand == acme_now
    assert CaseMention.objects.only("brand").get(case_id=case.pk).brand == acme_now
    assert Tag.objects.get(name="billing").brand.name == "Initech"

    member = Membership.objects.select_related("user", "brand").get(pk=membership.pk)
    assert (member.user.username, member.brand, member.role) == ("ana", acme_now, "agent")
    assert member.created_at == AT
    assert list(acme_now.memberships.all()) == [member]
    entry = AuditLog.objects.get(pk=audit.pk)
    assert (entry.actor.username, entry.brand, entry.action) == ("ana", acme_now, "claim")
    assert (entry.before, entry.after, entry.at) == ({"assignee": None}, {"assignee": "ana"}, AT)
    signin = LoginAttempt.objects.get(pk=attempt.pk)
    assert (signin.username, signin.ip, signin.succeeded, signin.at) == (
        "ana",
        "10.0.0.1",
        False,
        AT,
    )

    # The content type moved with the model: same row, so the admin's log still finds it.
    moved = ContentType.objects.get(pk=brand_type.pk)
    assert (moved.app_label, moved.model) == ("brands", "brand")
    assert moved.model_class() is Brand
    assert LogEntry.objects.get(pk=log.pk).get_edited_object() == acme_now
    assert not ContentType.objects.filter(app_label="listening", model="brand").exists()
    for model in ("membership", "auditlog", "loginattempt"):
        assert not ContentType.objects.filter(app_label="engagement", model=model).exists()


def test_the_tables_keep_their_names():
    migrate(AFTER)
    from brands.models import AuditLog, Brand, LoginAttempt, Membership

    tables = {
        Brand._meta.db_table,
        Brand.competitors.through._meta.db_table,
        Membership._meta.db_table,
        AuditLog._meta.db_table,
        LoginAttempt._meta.db_table,
    }
    assert tables == {
        "listening_brand",
        "listening_brand_competitors",
        "engagement_membership",
        "engagement_auditlog",
        "engagement_loginattempt",
    }
    assert tables <= set(connection.introspection.table_names())


def test_the_move_is_reversible_and_the_permissions_follow_the_models():
    add_brand = Permission.objects.get(codename="add_brand")
    assert add_brand.content_type.app_label == "brands"

    apps = migrate(BEFORE)
    permission_model = apps.get_model("auth", "Permission")
    assert permission_model.objects.get(pk=add_brand.pk).content_type.app_label == "listening"
    assert (
        permission_model.objects.get(codename="add_membership").content_type.app_label
        == "engagement"
    )

    migrate(AFTER)
    ContentType.objects.clear_cache()
    assert Permission.objects.get(pk=add_brand.pk).content_type.app_label == "brands"
    assert Permission.objects.get(codename="view_auditlog").content_type.model_class().__name__ == (
        "AuditLog"
    )
