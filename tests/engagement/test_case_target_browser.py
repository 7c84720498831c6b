"""The case page of issue 11 in a real headless Chromium: choosing whom to answer in a
conversation with two customers switches the reply channel, and the overdue badge is readable
and sits beside the deadline it means (and in the queue rows too).

Django's live server on the test database, the page's own static JavaScript under the
Content-Security-Policy, Debian's Chromium through Playwright; assertions are on what the agent
sees.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from engagement.models import Case, Reply
from engagement.selectors.case import CANNOT_POST
from listening.models import Source
from tests.browser import skip_without_chromium
from tests.engagement.test_queue_browser import sign_in
from tests.engagement.test_views_case_targets import thread_case

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bluesky_source(acme) -> Source:
    return Source.objects.create(
        brand=acme,
        kind="bluesky",
        url="",
        config={"identifier": "acme.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
    )


@pytest.fixture
def rss_source(acme) -> Source:
    return Source.objects.create(brand=acme, kind="rss", url="https://news.example/feed.xml")


def _rgba(value: str) -> tuple[float, float, float, float]:
    numbers = [float(n) for n in re.findall(r"[\d.]+", value)]
    return (*numbers[:3], numbers[3] if len(numbers) > 3 else 1.0)


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(badge: Locator) -> tuple[str, str, float]:
    """The badge's computed text colour, its (opaque) background colour, and their contrast
    ratio (WCAG 2)."""
    colour, background = badge.evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]"
    )
    fg, bg = _rgba(colour), _rgba(background)
    assert bg[3] == 1.0, f"the badge has no background of its own: {background}"
    light, dark = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return colour, background, (light + 0.05) / (dark + 0.05)


def assert_readable(badge: Locator) -> None:
    colour, background, ratio = contrast(badge)
    assert colour != background
    # WCAG AA for normal-size text.
    assert ratio >= 4.5, f"{colour} on {background}: contrast {ratio:.2f}"


def fact(page: Page, name: str) -> Locator:
    return page.locator("#case-header dt", has_text=re.compile(f"^{name}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


def assert_beside(badge: Locator, deadline: Locator) -> None:
    """The badge is on the deadline's line, right after it."""
    b, d = badge.bounding_box(), deadline.bounding_box()
    assert b and d
    assert b["x"] >= d["x"] + d["width"] - 1
    assert b["x"] - (d["x"] + d["width"]) < 40
    assert abs((b["y"] + b["height"] / 2) - (d["y"] + d["height"] / 2)) < d["height"]


def test_choosing_whom_to_answer_switches_the_reply_channel(
    page, live_server, acme, agent, bluesky_source, rss_source
):
    # Carol wrote on Bluesky (Earshot can post there), Dave's post came from a feed.
    case = thread_case(acme, carol_source=bluesky_source, dave_source=rss_source, agent=agent)
    carol, dave = case.posts["carol"], case.posts["dave"]
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live_server, agent)
    page.goto(f"{live_server.url}/cases/{case.pk}/")

    target = page.get_by_label("Answer the post of")
    send = page.get_by_role("button", name="Send", exact=True)
    manual = page.locator("details.manual")
    note = page.locator("[data-channel-note]")
    # The post that made the case need an answer is chosen: Carol's, on Bluesky.
    expect(target).to_have_value(str(carol.pk))
    expect(target.locator("option:checked")).to_contain_text(
        re.compile(r"^Carol · .* · needs an answer · “@acme_help my acme router")
    )
    expect(page.get_by_label("Reply to Carol (r)")).to_be_visible()
    expect(send).to_be_visible()
    expect(note).to_have_text("At most 300 characters on this platform.")
    expect(manual).not_to_have_attribute("open", "")

    # Dave's post is on a feed: Send goes away, only "replied on platform" is offered.
    target.select_option(str(dave.pk))
    expect(send).to_be_hidden()
    expect(note).to_have_text(CANNOT_POST)
    expect(manual).to_have_attribute("open", "")
    expect(manual.get_by_role("button", name="Mark replied on platform")).to_be_visible()
    box = page.get_by_label("Reply to Dave (r)")
    box.fill("Hi Dave, a fix ships tonight")
    manual.get_by_role("button", name="Mark replied on platform").click()
    reply = page.locator("#case-conversation article.reply")
    expect(reply).to_have_count(1)
    expect(reply.locator(".delivery")).to_have_text("replied on platform")
    assert list(Reply.objects.values_list("status", "in_reply_to_id")) == [
        (Reply.Status.MANUAL, dave.pk)
    ]

    # "Answer this post" on Carol's post chooses her again, and Send is back.
    page.locator(f"#mention-{carol.pk}").get_by_role("link", name="Answer this post").click()
    expect(target).to_have_value(str(carol.pk))
    expect(send).to_be_visible()
    expect(page.get_by_label("Reply to Carol (r)")).to_be_focused()
    page.get_by_label("Reply to Carol (r)").fill("Hi Carol, a fix ships tonight")
    send.click()
    expect(reply).to_have_count(2)
    assert list(Reply.objects.order_by("pk").values_list("status", "in_reply_to_id", "text"))[
        1
    ] == (Reply.Status.SENDING, carol.pk, "Hi Carol, a fix ships tonight")

    # The post that made the case need an answer is named, with a link to it on the page.
    needs = fact(page, "Needs an answer")
    expect(needs).to_contain_text("because of Carol: “@acme_help my acme router")
    needs.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"#mention-{carol.pk}$"))
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors


def test_the_overdue_badge_is_readable_and_beside_the_deadline_it_means(
    page, live_server, acme, agent, bluesky_source, rss_source
):
    now = timezone.now()
    late_answer = thread_case(
        acme,
        carol_source=bluesky_source,
        dave_source=rss_source,
        agent=agent,
        first_response_due=now - timedelta(minutes=5),
        resolution_due=now + timedelta(hours=20),
        priority=90,
    )
    late_resolution = thread_case(
        acme,
        carol_source=rss_source,
        dave_source=rss_source,
        agent=agent,
        first_response_due=now - timedelta(hours=30),
        first_response_at=now - timedelta(hours=29, minutes=30),
        resolution_due=now - timedelta(hours=2),
        priority=80,
    )
    sign_in(page, live_server, agent)

    # Not answered in time: the badge is beside "First response due", not under Resolution.
    page.goto(f"{live_server.url}/cases/{late_answer.pk}/")
    first, resolution = fact(page, "First response"), fact(page, "Resolution")
    badge = first.locator(".overdue")
    expect(badge).to_have_text("overdue")
    expect(resolution.locator(".overdue")).to_have_count(0)
    assert_readable(badge)
    assert_beside(badge, first.locator("time"))

    # Answered, but past the resolution deadline: the badge is beside "Resolution due".
    page.goto(f"{live_server.url}/cases/{late_resolution.pk}/")
    first, resolution = fact(page, "First response"), fact(page, "Resolution")
    expect(first).to_contain_text("answered")
    expect(first.locator(".overdue")).to_have_count(0)
    badge = resolution.locator(".overdue")
    expect(badge).to_have_text("overdue")
    assert_readable(badge)
    assert_beside(badge, resolution.locator("time"))

    # The queue rows say which deadline, beside the waited-of label, just as readable.
    page.goto(f"{live_server.url}/queue/")
    rows = page.locator("tr[data-row]")
    expect(rows).to_have_count(2)
    first_row = page.locator(f"#case-{late_answer.pk} td.sla")
    expect(first_row).to_contain_text("First response overdue")
    assert_readable(first_row.locator(".overdue"))
    second_row = page.locator(f"#case-{late_resolution.pk} td.sla")
    expect(second_row).to_contain_text("Resolution overdue")
    assert_readable(second_row.locator(".overdue"))
    assert Case.objects.count() == 2
