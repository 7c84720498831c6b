"""The weekly e-mail of the report (issue 12): who gets it, what it says, once a week, in the
subscriber's time zone; the service without Celery, then the task and the command."""

# The engagement fixtures are imported by name, which ruff reads as redefinitions.
# ruff: noqa: F401, F811

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from brands.models import Membership
from dashboard.models import ReportSubscription
from dashboard.report import last_full_week
from dashboard.services import weekly_reports_send
from dashboard.tasks import weekly_reports_send_task
from tests.engagement.conftest import (
    acme,
    agent,
    make_user,
    marketer,
    other_brand,
    social_source,
    store_mention,
)

pytestmark = pytest.mark.django_db

# Tuesday 1 December 2026, 09:00 UTC: the last whole week is Mon 23 to Sun 29 November.
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MONDAY = date(2026, 11, 23)
SUNDAY = date(2026, 11, 29)


@pytest.fixture
def subscribed(marketer, acme):
    return ReportSubscription.objects.create(user=marketer, brand=acme, time_zone="UTC")


@pytest.fixture
def last_week(social_source):
    """Three mentions in the week (one positive, one negative), one the week before."""
    noon = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    store_mention(social_source, "I love acme, great service", followers=100, published_at=noon)
    store_mention(social_source, "acme is awful and broken", followers=20, published_at=noon)
    store_mention(social_source, "acme opens a shop", followers=None, published_at=noon)
    store_mention(social_source, "acme is wonderful", published_at=noon - timedelta(days=7))


def test_a_subscriber_gets_last_weeks_report(settings, marketer, acme, subscribed, last_week):
    settings.EARSHOT_BASE_URL = "https://earshot.example"
    run = weekly_reports_send(now=NOW)
    assert run.sent == [("mia@example.com", "Acme", MONDAY)]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["mia@example.com"]
    assert message.subject == "Acme: weekly report, 2026-11-23 to 2026-11-29"
    text = message.body
    assert "Mon 23 Nov 2026 to Sun 29 Nov 2026 (UTC)" in text
    assert "Mentions: 3 (+200.0 %), previous week: 1" in text
    assert "Estimated reach: 120" in text
    assert "Net sentiment: 0.0 % (-100.0 points), previous week: 100.0 %" in text
    assert "No spike" in text
    (html, kind) = message.alternatives[0]
    assert kind == "text/html"
    assert "<script" not in html and "<img" not in html and "<style" not in html
    assert 'style="' in html  # inline styles: mail clients drop style blocks
    link = next(line for line in text.splitlines() if "/dashboard/report/" in line).strip()
    assert link.startswith("https://earshot.example/dashboard/report/?")
    assert parse_qs(urlsplit(link).query) == {
        "brand": [str(acme.pk)],
        "range": ["custom"],
        "since": ["2026-11-23"],
        "until": ["2026-11-29"],
    }
    assert link.replace("&", "&amp;") in html
    subscribed.refresh_from_db()
    assert subscribed.last_sent_week == MONDAY


def test_a_rerun_in_the_same_week_sends_nothing_and_the_next_week_sends_again(
    subscribed, last_week
):
    weekly_reports_send(now=NOW)
    again = weekly_reports_send(now=NOW + timedelta(days=3))
    assert again.sent == [] and again.already_sent == 1
    assert len(mail.outbox) == 1
    weekly_reports_send(now=NOW + timedelta(days=7))
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "Acme: weekly report, 2026-11-30 to 2026-12-06"


def test_the_week_is_the_subscribers_local_week(marketer, acme):
    # Monday 30 November 00:30 in Kolkata is still Sunday 19:00 in UTC.
    now = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
    kolkata = last_full_week(now=now, zone=ZoneInfo("Asia/Kolkata"))
    assert (kolkata.first, kolkata.last) == (MONDAY, SUNDAY)
    assert kolkata.since == datetime(2026, 11, 23, tzinfo=ZoneInfo("Asia/Kolkata"))
    utc = last_full_week(now=now, zone=ZoneInfo("UTC"))
    assert (utc.first, utc.last) == (MONDAY - timedelta(days=7), SUNDAY - timedelta(days=7))

    ReportSubscription.objects.create(user=marketer, brand=acme, time_zone="Asia/Kolkata")
    weekly_reports_send(now=now)
    assert mail.outbox[0].subject == "Acme: weekly report, 2026-11-23 to 2026-11-29"
    assert "(Asia/Kolkata)" in mail.outbox[0].body


def test_a_week_across_a_dst_change_is_whole_local_days():
    # Europe/Berlin went back an hour on Sunday 25 October 2026: a week of 169 hours.
    week = last_full_week(now=datetime(2026, 10, 27, tzinfo=UTC), zone=ZoneInfo("Europe/Berlin"))
    assert (week.first, week.last) == (date(2026, 10, 19), date(2026, 10, 25))
    assert week.until.astimezone(UTC) - week.since.astimezone(UTC) == timedelta(hours=169)


def test_a_user_who_lost_access_gets_nothing_and_the_subscription_goes(
    marketer, acme, subscribed, last_week
):
    Membership.objects.filter(user=marketer, brand=acme).update(role=Membership.Role.AGENT)
    run = weekly_reports_send(now=NOW)
    assert mail.outbox == []
    assert run.dropped == [("mia", "Acme")]
    assert not ReportSubscription.objects.exists()


def test_a_former_member_and_a_deactivated_user_get_nothing(marketer, acme, last_week):
    gone = make_user("gus", acme, Membership.Role.MARKETER)
    ReportSubscription.objects.create(user=gone, brand=acme)
    ReportSubscription.objects.create(user=marketer, brand=acme)
    Membership.objects.filter(user=gone).delete()
    marketer.is_active = False
    marketer.save(update_fields=["is_active"])
    run = weekly_reports_send(now=NOW)
    assert mail.outbox == []
    assert sorted(run.dropped) == [("gus", "Acme"), ("mia", "Acme")]


def test_each_subscriber_gets_their_own_message(marketer, acme, other_brand, last_week):
    colleague = make_user("max", acme, Membership.Role.ADMIN)
    Membership.objects.create(user=marketer, brand=other_brand, role=Membership.Role.MARKETER)
    ReportSubscription.objects.create(user=marketer, brand=acme)
    ReportSubscription.objects.create(user=marketer, brand=other_brand)
    ReportSubscription.objects.create(user=colleague, brand=acme)
    weekly_reports_send(now=NOW)
    sent = sorted((m.to[0], m.subject.split(":")[0]) for m in mail.outbox)
    assert sent == [
        ("max@example.com", "Acme"),
        ("mia@example.com", "Acme"),
        ("mia@example.com", "Initech"),
    ]


def test_strangers_text_is_escaped_in_the_html_and_plain_in_the_text(
    marketer, acme, social_source, subscribed
):
    # A spike on Wednesday 25 November, driven by an author whose name is markup.
    noon = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for back in range(1, 29):
        store_mention(social_source, f"acme note {back}", published_at=noon - timedelta(days=back))
    for n in range(8):
        store_mention(
            social_source,
            f"acme outage #down {n}",
            author_handle="loud@social.example" if n < 3 else f"p{n}@social.example",
            author_name='<script>alert("x")</script>' if n < 3 else f"P{n}",
            published_at=noon + timedelta(minutes=n),
        )
    weekly_reports_send(now=NOW)
    message = mail.outbox[0]
    html = message.alternatives[0][0]
    assert "Wed 25 Nov 2026" in message.body and "8 mentions (usually 1 a day)" in message.body
    assert '<script>alert("x")</script> (3)' in message.body  # plain text is not HTML
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<script" not in html
    assert "#down" in html


def test_a_dry_run_sends_and_changes_nothing(marketer, acme, subscribed, last_week):
    run = weekly_reports_send(now=NOW, dry_run=True)
    assert run.sent == [("mia@example.com", "Acme", MONDAY)]
    assert mail.outbox == []
    subscribed.refresh_from_db()
    assert subscribed.last_sent_week is None


def test_a_user_without_an_address_is_skipped(marketer, acme, subscribed):
    marketer.email = ""
    marketer.save(update_fields=["email"])
    run = weekly_reports_send(now=NOW)
    assert mail.outbox == [] and run.no_address == 1
    assert ReportSubscription.objects.exists()


class _RefusingBackend:
    """An SMTP server that is down (a real backend class, configured through settings)."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")


def test_a_failed_send_gives_the_week_back(settings, subscribed, last_week):
    settings.EMAIL_BACKEND = f"{__name__}._RefusingBackend"
    run = weekly_reports_send(now=NOW)
    assert run.sent == []
    subscribed.refresh_from_db()
    assert subscribed.last_sent_week is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    weekly_reports_send(now=NOW)
    assert len(mail.outbox) == 1


def test_the_task_and_the_command_send_once(subscribed, last_week):
    assert weekly_reports_send_task() == 1
    assert weekly_reports_send_task() == 0
    out = io.StringIO()
    call_command("send_weekly_reports", stdout=out)
    assert "0 sent, 1 already sent this week" in out.getvalue()
    assert len(mail.outbox) == 1


def test_the_command_lists_what_a_dry_run_would_send(subscribed, last_week):
    out = io.StringIO()
    call_command("send_weekly_reports", "--dry-run", stdout=out)
    assert "would send: Acme, week of" in out.getvalue()
    assert "to mia@example.com" in out.getvalue()
    assert mail.outbox == []


def test_the_task_is_in_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["dashboard-send-weekly-reports"]
    assert entry["task"] == "dashboard.tasks.weekly_reports_send_task"
    assert entry["schedule"] <= 3600  # hourly: within the first hour of a local Monday


def test_subscribers_of_one_brand_and_zone_share_its_figures(acme, last_week):
    users = [make_user(f"m{n}", acme, Membership.Role.MARKETER) for n in range(4)]
    ReportSubscription.objects.create(user=users[0], brand=acme)
    with CaptureQueriesContext(connection) as one:
        weekly_reports_send(now=NOW)
    for user in users[1:]:
        ReportSubscription.objects.create(user=user, brand=acme)
    with CaptureQueriesContext(connection) as four:
        weekly_reports_send(now=NOW + timedelta(days=7))
    assert len(mail.outbox) == 5
    # Each more subscriber costs their roles and the claim of their week, not the figures.
    assert len(four) <= len(one) + 3 * 2, [q["sql"] for q in four.captured_queries]
