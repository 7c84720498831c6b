"""The demo's care set-up (issue 11): competitors watched, not served; SLAs, saved replies and
tags for Acme; and a queue where some cases are overdue, not all of them."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone

from brands.models import Brand
from demo import content
from demo.services import (
    DEMO_LIVE_DAYS,
    SAVED_REPLIES,
    TAGS,
    demo_history_file_all,
)
from engagement.models import AutoTagRule, CareSettings, Case, SavedReply, Tag, sla_overdue
from engagement.routing import mentions_route
from listening.models import Mention, MentionMatch, Source
from listening.query import MatchDocument, compile_query


def load_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("load_demo", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_the_demo_competitors_are_watched_with_care_off_and_acme_is_served() -> None:
    output = load_demo()

    care = dict(CareSettings.objects.values_list("brand__name", "care_enabled"))
    assert care == {"Acme Mobile": True, "Globex": False, "Initech Telecom": False}
    assert "Created competitor Globex: globex OR #globex (care off)" in output
    acme = CareSettings.objects.get(brand__name="Acme Mobile")
    assert (acme.first_response_minutes, acme.resolution_minutes) == (2 * 24 * 60, 5 * 24 * 60)


@pytest.mark.django_db
def test_reloading_an_older_demo_turns_its_competitors_care_off_once() -> None:
    load_demo()
    # An older demo: care on for everyone, SLAs at the model defaults.
    CareSettings.objects.update(care_enabled=True, first_response_minutes=60)
    CareSettings.objects.update(resolution_minutes=24 * 60)

    first = load_demo()
    second = load_demo()

    care = dict(CareSettings.objects.values_list("brand__name", "care_enabled"))
    assert care == {"Acme Mobile": True, "Globex": False, "Initech Telecom": False}
    assert "Turned care off for Globex" in first and "Turned care off for Initech" in first
    assert "Set the SLAs of Acme Mobile" in first
    assert "nothing to change" in second


@pytest.mark.django_db
def test_reloading_keeps_slas_someone_tuned() -> None:
    load_demo()
    CareSettings.objects.filter(brand__name="Acme Mobile").update(first_response_minutes=30)
    load_demo()
    assert CareSettings.objects.get(brand__name="Acme Mobile").first_response_minutes == 30


@pytest.mark.django_db
def test_the_demo_ships_saved_replies_and_tags_with_rules_once() -> None:
    load_demo()
    load_demo()
    acme = Brand.objects.get(name="Acme Mobile")

    replies = list(SavedReply.objects.filter(brand=acme))
    assert len(replies) == len(SAVED_REPLIES) >= 4
    assert all("{author_name}" in r.body for r in replies)
    assert set(Tag.objects.filter(brand=acme).values_list("name", flat=True)) == {
        t.name for t in TAGS
    }
    rules = list(AutoTagRule.objects.filter(brand=acme).select_related("tag"))
    assert len(rules) == sum(1 for t in TAGS if t.rule)
    for rule in rules:
        compile_query(rule.query)  # raises on a query the router could not use
    assert not SavedReply.objects.exclude(brand=acme).exists()


def test_every_saved_reply_uses_only_the_placeholders_the_reply_box_fills() -> None:
    known = {"author_name", "author_handle", "brand", "agent_name"}
    for reply in SAVED_REPLIES:
        used = set(re.findall(r"{(\w+)}", reply.body))
        assert "author_name" in used and used <= known, (reply.title, used)
        assert re.sub(r"{\w+}", "", reply.body).count("{") == 0


def test_the_billing_rule_tags_the_demo_s_billing_complaints() -> None:
    rule = compile_query(next(t.rule for t in TAGS if t.name == "billing"))
    assert rule.match(MatchDocument("Billed twice by Acme this month. Furious."))
    assert not rule.match(MatchDocument("Acme 5G in Leeds is fantastic."))


# --- Overdue, right after loading and a day later --------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_after_loading_some_demo_cases_are_overdue_not_all_now_and_a_day_later(
    live_server, settings
) -> None:
    url = urlsplit(live_server.url)
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [url.netloc]
    load_demo("--base-url", live_server.url, "--fetch")
    while mentions_route().routed:
        pass
    # Routing opened a case for every mention that needs an answer, over 90 days.
    assert Case.objects.filter(opened_at__lt=timezone.now() - timedelta(days=30)).exists()
    assert not Case.objects.exclude(brand__name="Acme Mobile").exists()  # care off

    # A day after loading: the demo was loaded a day ago, so the live queue holds the cases
    # of DEMO_LIVE_DAYS before that and of the day since (nobody has worked them).
    now = timezone.now()
    Source.objects.update(created_at=now - timedelta(days=1))
    filed = demo_history_file_all(brand_name=content.ACME.name)
    assert filed > 50
    assert demo_history_file_all(brand_name=content.ACME.name) == 0  # idempotent

    live = list(Case.objects.filter(status__in=Case.OPEN_STATUSES))
    earliest = now - timedelta(days=DEMO_LIVE_DAYS + 1, minutes=5)
    assert live and all(c.opened_at >= earliest for c in live)
    # Right after loading, the live queue is the cases of the last DEMO_LIVE_DAYS.
    fresh = [c for c in live if c.opened_at >= now - timedelta(days=DEMO_LIVE_DAYS)]
    for cases in (fresh, live):
        overdue = [c for c in cases if sla_overdue(c, now)]
        assert 0 < len(overdue) < len(cases), (len(overdue), len(cases))

    history = Case.objects.filter(is_history=True)
    assert not history.exclude(status=Case.Status.RESOLVED).exists()
    assert not history.filter(resolved_at__isnull=True).exists()
    assert not history.exclude(resolved_at__lte=now).exists()
    # Their matches say history too, so routing them again files them the same way.
    history_mentions = Mention.objects.filter(case_links__case__is_history=True)
    assert not MentionMatch.objects.filter(
        mention__in=history_mentions, brand__name="Acme Mobile", is_history=False
    ).exists()
