"""The demo's care set-up: care settings, saved replies, tags and the history it starts from.

Earshot opens a case at the time of the mention that needs an answer, and the demo's sources
hold 90 days of mentions. Without a care team behind it, every one of those cases would be
overdue by up to 89 days the moment routing ran (issue 11), and the overdue filter would mean
nothing. So the demo starts from a history: cases of the demo brand opened more than
DEMO_LIVE_DAYS before the demo was loaded are filed the way ``import_mentions --history``
files a past conversation (closed as of its data: resolved at the last brand answer, else at
the customer's last post, "no answer, imported"), and only the last DEMO_LIVE_DAYS and what
arrives afterwards reach the live queue. With the demo's SLAs (first response within two days,
resolution within five) that gives a queue where some cases are overdue and some are not,
right after loading and the days after.

Every function here is idempotent: load_demo runs them on every load, and the beat task
``demo.tasks.demo_history_file_task`` files the cases routing opens after loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max, OuterRef, Subquery
from django.db.models.functions import Coalesce

from brands.models import Brand
from engagement.models import AutoTagRule, CareSettings, Case, CaseMention, SavedReply, Tag
from listening.models import MentionMatch, Source

# Cases opened up to this long before the demo was loaded stay live; older ones are history.
DEMO_LIVE_DAYS = 3
# The demo brand's SLAs: first response within two days, resolution within five, as a brand
# might promise for the forums, review sites and news comments most demo mentions come from.
# With about three cases a day and nobody working the demo's queue, some live cases are
# overdue and some are not, right after loading and a day later (tests/demo/test_care.py).
DEMO_FIRST_RESPONSE_MINUTES = 2 * 24 * 60
DEMO_RESOLUTION_MINUTES = 5 * 24 * 60
# A week of follow-up after the first response (the default is two): the care page of the
# last 30 days then holds cases whose window has closed "no further word" as well as cases
# still being watched (demo/content.py: care conversations, issue 12).
DEMO_FOLLOWUP_DAYS = 7
# The model defaults: settings still at these were never tuned, so the demo may set its own.
_DEFAULT_SLAS = (
    CareSettings._meta.get_field("first_response_minutes").default,
    CareSettings._meta.get_field("resolution_minutes").default,
)
_DEFAULT_FOLLOWUP_DAYS = CareSettings._meta.get_field("followup_days").default


@dataclass(frozen=True, slots=True)
class DemoSavedReply:
    title: str
    body: str


# Written for the demo. Placeholders: {author_name}, {author_handle}, {brand}, {agent_name}.
SAVED_REPLIES: tuple[DemoSavedReply, ...] = (
    DemoSavedReply(
        "Outage: we are on it",
        "Hi {author_name}, sorry about the signal trouble. Our engineers are working on the "
        "network in your area now; the status page has the latest. We will let you know here "
        "when it is fixed. {agent_name}, {brand}",
    ),
    DemoSavedReply(
        "Billing: send us a direct message",
        "Hi {author_name}, that charge should not be there and we want to put it right. "
        "Please send us a direct message with your account number (never your password) and "
        "we will check your bill today. {agent_name}, {brand}",
    ),
    DemoSavedReply(
        "Refund: status update",
        "Hi {author_name}, thank you for your patience, and sorry your refund is taking so "
        "long. We have chased it with our billing team; send us a direct message and we will "
        "confirm the date it reaches your account. {agent_name}, {brand}",
    ),
    DemoSavedReply(
        "Roaming: how charges work",
        "Hi {author_name}, roaming is included in most of our plans, but not in every "
        "country. Send us a direct message with the dates and the country and we will check "
        "every charge with you. {agent_name}, {brand}",
    ),
    DemoSavedReply(
        "Thanks for the kind words",
        "Thank you, {author_name}! We are glad it worked out, and we will pass your message "
        "on to the team. {agent_name}, {brand}",
    ),
)


@dataclass(frozen=True, slots=True)
class DemoTag:
    name: str
    # An auto-tag rule's query (Earshot's query language), or "" for a tag agents set by hand.
    rule: str = ""


TAGS: tuple[DemoTag, ...] = (
    DemoTag("billing", 'bill OR billed OR billing OR charged OR charging OR "hidden fees"'),
    DemoTag("outage", 'outage OR down OR "no signal" OR "dropped calls" OR "dropping"'),
    DemoTag("refund", "refund*"),
    DemoTag("roaming", "roaming"),
    DemoTag("coverage", 'coverage OR signal OR mast OR "5g"'),
    DemoTag("escalated"),
)


def demo_care_set_up(*, brand: Brand, changes: list[str]) -> None:
    """The demo brand's care settings (care on, the demo's SLAs and follow-up window while
    still at the defaults), saved replies and tags with their auto-tag rules. Idempotent:
    adds what is missing and never overwrites what someone changed. Touches CareSettings,
    SavedReply, Tag, AutoTagRule; appends a line per change to ``changes``."""
    care, created = CareSettings.objects.get_or_create(
        brand=brand,
        defaults={
            "first_response_minutes": DEMO_FIRST_RESPONSE_MINUTES,
            "resolution_minutes": DEMO_RESOLUTION_MINUTES,
            "followup_days": DEMO_FOLLOWUP_DAYS,
        },
    )
    if not created and (care.first_response_minutes, care.resolution_minutes) == _DEFAULT_SLAS:
        care.first_response_minutes = DEMO_FIRST_RESPONSE_MINUTES
        care.resolution_minutes = DEMO_RESOLUTION_MINUTES
        care.save(update_fields=["first_response_minutes", "resolution_minutes"])
        created = True
    if created:
        changes.append(
            f"Set the SLAs of {brand.name}: first response within "
            f"{DEMO_FIRST_RESPONSE_MINUTES // 60} h, resolution within "
            f"{DEMO_RESOLUTION_MINUTES // (24 * 60)} days"
        )
    if care.followup_days == _DEFAULT_FOLLOWUP_DAYS:
        # An older demo's settings, never tuned: the demo's follow-up window.
        care.followup_days = DEMO_FOLLOWUP_DAYS
        care.save(update_fields=["followup_days"])
        changes.append(f"Set the follow-up window of {brand.name} to {DEMO_FOLLOWUP_DAYS} days")

    have = set(SavedReply.objects.filter(brand=brand).values_list("title", flat=True))
    new_replies = [
        SavedReply(brand=brand, title=r.title, body=r.body)
        for r in SAVED_REPLIES
        if r.title not in have
    ]
    SavedReply.objects.bulk_create(new_replies, ignore_conflicts=True)
    if new_replies:
        changes.append(f"Added {len(new_replies)} saved replies to {brand.name}")

    tags = {t.name: t for t in Tag.objects.filter(brand=brand)}
    missing = [Tag(brand=brand, name=t.name) for t in TAGS if t.name not in tags]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        tags = {t.name: t for t in Tag.objects.filter(brand=brand)}
        changes.append(f"Added tags to {brand.name}: {', '.join(t.name for t in missing)}")
    ruled = set(AutoTagRule.objects.filter(brand=brand).values_list("tag__name", flat=True))
    rules = [
        AutoTagRule(brand=brand, tag=tags[t.name], query=t.rule)
        for t in TAGS
        if t.rule and t.name not in ruled and t.name in tags
    ]
    AutoTagRule.objects.bulk_create(rules)
    if rules:
        changes.append(f"Added {len(rules)} auto-tag rules to {brand.name}")


def demo_loaded_at(*, brand: Brand) -> datetime | None:
    """When the demo was first loaded: its brand's first source (None without one)."""
    return (
        Source.objects.filter(brand=brand)
        .order_by("created_at")
        .values_list("created_at", flat=True)
    ).first()


def demo_history_file(*, brand: Brand, before: datetime) -> int:
    """File the brand's live cases opened and last posted in before ``before`` as history:
    resolved at their last brand answer (answered) or their customer's last post ("no answer,
    imported"), marked is_history with their mentions' matches, so they never enter the live
    queue and routing them again (after clearing routed_at) files them the same way.

    Idempotent (filed cases are not live any more); two UPDATEs and one SELECT whatever the
    number of cases. Touches Case.status/resolved_at/is_history and MentionMatch.is_history.
    Returns the number of cases filed.
    """
    # A conversation still going on at the cutoff (a post after it) stays live.
    live = Case.objects.filter(
        brand=brand, is_history=False, opened_at__lt=before, last_mention_at__lt=before
    )
    ids = list(live.values_list("pk", flat=True))
    if not ids:
        return 0

    def last_post(*, is_brand_reply: bool) -> Subquery:
        return Subquery(
            CaseMention.objects.filter(case_id=OuterRef("pk"), is_brand_reply=is_brand_reply)
            .values("case_id")
            .annotate(last=Max("mention__published_at"))
            .values("last")[:1]
        )

    with transaction.atomic():
        Case.objects.filter(pk__in=ids, first_response_at__isnull=False).update(
            status=Case.Status.RESOLVED,
            is_history=True,
            resolved_at=Coalesce(
                last_post(is_brand_reply=True), "first_response_at", "last_mention_at"
            ),
        )
        Case.objects.filter(pk__in=ids, first_response_at__isnull=True).update(
            status=Case.Status.RESOLVED,
            is_history=True,
            resolved_at=Coalesce(last_post(is_brand_reply=False), "last_mention_at"),
        )
        MentionMatch.objects.filter(
            brand=brand,
            mention_id__in=CaseMention.objects.filter(case_id__in=ids).values("mention_id"),
        ).update(is_history=True)
    return len(ids)


def demo_history_file_all(*, brand_name: str) -> int:
    """demo_history_file for the demo brand, before its load time minus DEMO_LIVE_DAYS.
    Idempotent; a quiet 0 when the demo is not loaded."""
    brand = Brand.objects.filter(name__iexact=brand_name).first()
    if brand is None:
        return 0
    loaded_at = demo_loaded_at(brand=brand)
    if loaded_at is None:
        return 0
    return demo_history_file(brand=brand, before=loaded_at - timedelta(days=DEMO_LIVE_DAYS))
