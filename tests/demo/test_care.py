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
    demo_history_file,
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
    assert live and all(max(c.opened_at, c.last_mention_at) >= earliest for c in live)
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


@pytest.mark.django_db
def test_history_filing_resolves_at_the_last_answer_or_post_and_keeps_ongoing_cases_live():
    from engagement.brand_services import brand_add
    from engagement.models import CaseMention
    from tests.engagement.conftest import store_mention

    now = timezone.now()
    brand = brand_add(name="Acme", query="acme", handles="@acme_help")
    other = brand_add(name="Initech", query="initech")
    source = Source.objects.create(brand=brand, kind="mastodon", url="https://social.example")

    def case_with(posts: list[tuple[str, str, int]], case_brand=brand) -> Case:
        """posts: (author handle, text, days ago); the first opens the case."""
        mentions = [
            (
                store_mention(
                    source, text, author_handle=handle, published_at=now - timedelta(days=days)
                ),
                handle == "acme_help",
            )
            for handle, text, days in posts
        ]
        case = Case.objects.create(
            brand=case_brand,
            opened_at=mentions[0][0].published_at,
            last_mention_at=max(m.published_at for m, is_brand in mentions if not is_brand),
            first_response_at=next((m.published_at for m, is_brand in mentions if is_brand), None),
        )
        CaseMention.objects.bulk_create(
            CaseMention(case=case, mention=m, brand=case_brand, is_brand_reply=is_brand)
            for m, is_brand in mentions
        )
        return case

    answered = case_with(
        [
            ("gus@x", "acme billed me twice", 10),
            ("acme_help", "sorry acme will fix it", 9.5),
            ("gus@x", "acme still billed twice", 9),
            ("acme_help", "acme refunded you", 8),
        ]
    )
    unanswered = case_with([("ana@x", "acme is down", 7), ("ana@x", "acme still down", 6)])
    ongoing = case_with([("bo@x", "acme lost my order", 6), ("bo@x", "acme still nothing", 0.5)])
    recent = case_with([("cy@x", "acme no signal", 1)])
    elsewhere = case_with([("di@x", "acme and initech", 9)], case_brand=other)

    filed = demo_history_file(brand=brand, before=now - timedelta(days=3))

    assert filed == 2
    answered.refresh_from_db()
    unanswered.refresh_from_db()
    assert (answered.status, answered.is_history) == (Case.Status.RESOLVED, True)
    assert answered.resolved_at == now - timedelta(days=8)  # the last brand answer
    assert (unanswered.status, unanswered.is_history) == (Case.Status.RESOLVED, True)
    assert unanswered.resolved_at == now - timedelta(days=6)  # the customer's last post
    assert unanswered.first_response_at is None  # "no answer, imported"
    for case in (ongoing, recent, elsewhere):
        case.refresh_from_db()
        assert (case.status, case.is_history) == (Case.Status.NEW, False)
    assert set(
        MentionMatch.objects.filter(brand=brand, is_history=True).values_list(
            "mention__text", flat=True
        )
    ) == {"acme billed me twice", "sorry acme will fix it", "acme still billed twice",
          "acme refunded you", "acme is down", "acme still down"}  # fmt: skip
    assert demo_history_file(brand=brand, before=now - timedelta(days=3)) == 0
