"""Data migrations of the engagement app, run forwards on real rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.database import migrate, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("engagement", "0005_case_similar_open_idx")]
AFTER = [("engagement", "0006_reply_in_reply_to")]


@pytest.fixture(autouse=True)
def latest_schema_afterwards():
    yield
    migrate_to_latest()


def test_existing_replies_get_the_post_they_answered():
    apps = migrate(BEFORE)
    brand = apps.get_model("listening", "Brand").objects.create(name="Acme", query="acme")
    source = apps.get_model("listening", "Source").objects.create(brand=brand, kind="mastodon")
    user = apps.get_model("auth", "User").objects.create(username="ana")
    case = apps.get_model("engagement", "Case").objects.create(brand=brand)
    now = timezone.now()
    mention_model = apps.get_model("listening", "Mention")
    link_model = apps.get_model("engagement", "CaseMention")

    def mention(external_id, minutes_ago, *, brand_reply=False):
        at = now - timedelta(minutes=minutes_ago)
        m = mention_model.objects.create(
            source=source,
            external_id=external_id,
            published_at=at,
            fetched_at=at,
            neg=0.0,
            neu=1.0,
            pos=0.0,
            compound=0.0,
        )
        link_model.objects.create(case=case, mention=m, brand=brand, is_brand_reply=brand_reply)
        return m

    first = mention("1", 30)
    ours = mention("2", 20, brand_reply=True)
    second = mention("3", 10)
    mention("4", 1)  # arrived after both replies were written
    reply_model = apps.get_model("engagement", "Reply")
    early = reply_model.objects.create(
        case=case, user=user, text="a", status="sent", created_at=now - timedelta(minutes=25)
    )
    late = reply_model.objects.create(
        case=case, user=user, text="b", status="sent", created_at=now - timedelta(minutes=5)
    )

    apps = migrate(AFTER)

    reply_model = apps.get_model("engagement", "Reply")
    assert reply_model.objects.get(pk=early.pk).in_reply_to_id == first.pk
    assert reply_model.objects.get(pk=late.pk).in_reply_to_id == second.pk
    assert ours.pk not in set(reply_model.objects.values_list("in_reply_to_id", flat=True))
