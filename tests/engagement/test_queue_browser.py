"""An agent's day on the queue, in a real headless Chromium.

Everything is real: Django's live server on the test database, mentions stored and routed by
the real listening and routing code, and Debian's Chromium driven through Playwright. The
agent works only through the pages (clicks, keys and typing); the assertions are on what the
agent reads. The README's screenshots of the queue and the case page come from here.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from engagement.followup import followups_evaluate
from engagement.models import Case, Reply, SavedReply
from engagement.routing import mentions_route
from engagement.services import case_claim, case_status_set, reply_mark_manual
from tests.browser import SCREENSHOTS, skip_without_chromium
from tests.engagement.conftest import PASSWORD, store_mention

COMPLAINT = "acme my bill is wrong again, terrible service"
THANKS = "thanks acme, all sorted now, great support!"
SAVED_BODY = "Hi {author_name}, sorry about this. We are on it. - {agent_name}"
RENDERED = "Hi Carol Jones, sorry about this. We are on it. - Ana Lopez"

skip_without_chromium()


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ana(agent):
    """The conftest's agent with a full name, which saved replies sign with."""
    agent.first_name, agent.last_name = "Ana", "Lopez"
    agent.save(update_fields=["first_name", "last_name"])
    return agent


def sign_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/login/")
    expect(page.get_by_role("heading", name="Sign in to Earshot")).to_be_visible()
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def complaint_case(acme, social_source) -> Case:
    """Carol's complaint, stored and routed into a care case."""
    store_mention(
        social_source,
        COMPLAINT,
        author_handle="carol@social.example",
        author_name="Carol Jones",
        followers=840,
        published_at=timezone.now() - timedelta(minutes=12),
    )
    result = mentions_route()
    case = Case.objects.get(brand=acme, author__handle="carol@social.example")
    assert case.kind == Case.Kind.CARE and case.status == Case.Status.NEW, result
    assert case.subject == COMPLAINT
    return case


def other_traffic(social_source) -> None:
    """The rest of the morning's mentions, so the queue looks like a queue."""
    for handle, name, followers, minutes, text in [
        ("dave@social.example", "Dave Kim", 35, 30, "does acme ship to canada?"),
        ("erin@social.example", "Erin Walsh", 60, 8, "acme app crashed twice today, annoying"),
        ("finn@social.example", "Finn Hale", 210, 20, "love the new acme phone, great battery"),
    ]:
        store_mention(
            social_source,
            text,
            author_handle=handle,
            author_name=name,
            followers=followers,
            published_at=timezone.now() - timedelta(minutes=minutes),
        )


def thanks_routed(social_source) -> None:
    """Carol comes back, happy, after the reply; routing and the follow-up sweep run."""
    store_mention(
        social_source,
        THANKS,
        author_handle="carol@social.example",
        author_name="Carol Jones",
        followers=840,
        published_at=timezone.now() + timedelta(seconds=1),
    )
    mentions_route()
    followups_evaluate()


def test_an_agent_claims_answers_and_resolves_a_case_and_the_customer_converts(
    page, live_server, acme, ana, social_source
):
    SavedReply.objects.create(brand=acme, title="Billing apology", body=SAVED_BODY)
    SavedReply.objects.create(brand=acme, title="Thanks for the love", body="Thank you!")
    other_traffic(social_source)
    case = complaint_case(acme, social_source)

    # Sign in: the queue is where an agent lands.
    sign_in(page, live_server, ana)
    expect(page).to_have_url(re.compile(r"/queue/"))
    expect(page.get_by_role("heading", name="Queue", exact=True)).to_be_visible()
    expect(page.locator(".topbar .who")).to_have_text("ana")

    rows = page.locator("tr[data-row]")
    expect(rows).to_have_count(3)  # Finn's praise waits under "Advocates"
    expect(page.get_by_role("link", name=re.compile(r"^Advocates"))).to_contain_text("1")
    # The highest priority comes first: Carol is angry and has the most followers.
    row = rows.first
    expect(row).to_contain_text(COMPLAINT)
    expect(row.locator("td.subject a")).to_have_text(COMPLAINT)
    assert case.priority_band == "medium"
    expect(row.locator(".chip")).to_have_text("Medium")
    expect(row.locator(".chip")).to_have_class(re.compile(r"\bband-medium\b"))
    expect(row.locator("td.author .name")).to_have_text("Carol Jones")
    expect(row.locator("td.author .followers")).to_have_text("840 followers")
    expect(row.locator("td").nth(4)).to_have_text("New")
    expect(row.get_by_role("button", name="Claim")).to_be_visible()

    # "?" lists the keyboard shortcuts, "?" again hides them.
    page.keyboard.press("?")
    overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(overlay).to_be_visible()
    queue_keys = overlay.locator("h3", has_text="Queue").locator("xpath=following-sibling::dl[1]")
    expect(queue_keys).to_contain_text("Select the next row")
    expect(queue_keys).to_contain_text("Claim the selected case")
    expect(queue_keys).to_contain_text("Take the next case")
    expect(overlay).to_contain_text("Press ? or Esc to close.")
    page.keyboard.press("?")
    expect(overlay).to_be_hidden()

    screenshot(page, "queue.png")

    # Claim with the keyboard: j selects the row, c claims it; the row shows the new owner.
    page.keyboard.press("j")
    expect(row).to_have_class(re.compile(r"\bis-selected\b"))
    page.keyboard.press("c")
    expect(row.locator("td.assignee")).to_have_text("ana")
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)
    expect(row.locator("td").nth(4)).to_have_text("Open")

    # Open the case.
    row.get_by_role("link", name=COMPLAINT).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(COMPLAINT)
    header = page.locator("#case-header")
    expect(header.locator(".status")).to_have_text("Open")
    expect(header.locator("dd").nth(1).locator("strong")).to_have_text("ana")
    expect(header.locator("dd").nth(1)).to_contain_text("(you)")
    conversation = page.locator("#case-conversation")
    expect(conversation.locator(".mention .text")).to_have_text(COMPLAINT)
    expect(conversation.locator(".mention .author")).to_have_text("Carol Jones")
    expect(conversation.locator(".mention .label")).to_have_text("negative")

    # A saved reply, rendered for this case, goes into the reply box.
    page.get_by_label("Saved reply (s)").select_option(label="Billing apology")
    page.get_by_role("button", name="Insert").click()
    reply_box = page.get_by_label("Reply to Carol Jones (r)")
    expect(reply_box).to_have_value(RENDERED)

    # Earshot holds no token for this Mastodon source: no Send button, the reply box says
    # why and offers "mark replied on platform", which the agent uses after answering there.
    expect(page.get_by_role("button", name="Send", exact=True)).to_have_count(0)
    expect(page.locator("#case-reply [data-channel-note]")).to_have_text(
        "Earshot has no access token to reply on this source: reply there and mark it "
        "replied, or ask an admin to add one."
    )
    manual = page.locator("details.manual")
    expect(manual).to_have_attribute("open", "")
    manual.get_by_role("button", name="Mark replied on platform").click()

    reply = conversation.locator("article.reply")
    expect(reply).to_have_count(1)
    expect(reply.locator(".text")).to_have_text(RENDERED)
    expect(reply.locator(".delivery")).to_have_text("replied on platform")
    expect(page.locator("#case-reply .error")).to_have_count(0)
    expect(reply_box).to_have_value("")
    assert list(Reply.objects.filter(case=case).values_list("status", "text")) == [
        (Reply.Status.MANUAL, RENDERED)
    ]
    page.reload()
    expect(header.locator(".status")).to_have_text("Waiting on customer")
    first_response_fact = header.locator("dt", has_text="First response").locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(first_response_fact).to_contain_text("answered")
    screenshot(page, "case.png")

    # Resolve.
    header.get_by_role("button", name="Resolve (e)").click()
    expect(header.locator(".status")).to_have_text("Resolved")
    expect(header.get_by_role("button", name="Reopen")).to_be_visible()
    case.refresh_from_db()
    assert case.status == Case.Status.RESOLVED and case.first_response_at is not None

    # Carol comes back, happy: a new advocate case, and the answered case "converted".
    thanks_routed(social_source)
    case.refresh_from_db()
    assert case.outcome == Case.Outcome.CONVERTED
    assert case.compound_before < -0.05 and case.compound_after >= 0.05
    before, after = f"{case.compound_before:.2f}", f"{case.compound_after:.2f}"
    thanks = Case.objects.get(brand=acme, kind=Case.Kind.ADVOCATE, author=case.author)

    page.reload()
    expect(header.locator(".status")).to_have_text("Resolved")
    card = page.locator(".author-card")
    expect(card.locator(".other-cases li")).to_have_text(
        re.compile(rf"^#{thanks.pk} New · Watching ")
    )
    card.get_by_role("link", name="History and trajectory").click()

    # The author page: the outcome and the tone before and after the reply.
    expect(page.get_by_role("heading", level=1)).to_have_text("Carol Jones as heard by Acme")
    cases = page.locator("h2:text-is('Cases') + table tbody tr")
    answered = cases.filter(has=page.get_by_role("link", name=f"#{case.pk}", exact=True))
    expect(answered.locator("td")).to_have_text(
        [
            f"#{case.pk} {COMPLAINT}",
            re.compile(r"^\d{4}-\d\d-\d\d$"),
            "Resolved",
            "ana",
            "Converted",
        ]
    )
    first_response = page.locator(".trajectory-table tr.first_response")
    expect(first_response.locator("td").nth(1)).to_have_text("First response · outcome converted")
    expect(first_response.locator("td").nth(2)).to_have_text(f"{before} → {after}")
    expect(page.locator("svg.trajectory line.first-response")).to_have_count(1)

    # The thank-you case's page tells the agent Carol's earlier case converted.
    cases.filter(has=page.get_by_role("link", name=f"#{thanks.pk}", exact=True)).get_by_role(
        "link"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(THANKS)
    expect(page.locator(".author-card .other-cases li")).to_have_text(
        re.compile(rf"^#{case.pk} Resolved · Converted ")
    )
    expect(page.locator(".author-card")).to_contain_text("Standing:")
    screenshot(page, "case-converted.png")


def test_the_answered_case_page_shows_that_the_customer_converted(
    page, live_server, acme, ana, social_source
):
    case = complaint_case(acme, social_source)
    case_claim(case_id=case.pk, user=ana)
    case.refresh_from_db()
    reply_mark_manual(case=case, user=ana, text="Hi Carol, sorry about this.")
    case_status_set(case=case, user=ana, status=Case.Status.RESOLVED)
    thanks_routed(social_source)
    case.refresh_from_db()
    assert case.outcome == Case.Outcome.CONVERTED

    sign_in(page, live_server, ana)
    expect(page.get_by_role("heading", name="Queue", exact=True)).to_be_visible()
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    expect(page.locator("#case-header .status")).to_have_text("Resolved")
    expect(page.locator("#case-header")).to_contain_text("Converted", timeout=2_000)
