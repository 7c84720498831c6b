"""The case page of issue 11: the reply target in a conversation with several customers, the
post priority comes from, the overdue badge beside its deadline, and history cases. Through the
Django test client on real PostgreSQL; mentions stored through the real listening pipeline."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from engagement.models import CareSettings, Case, CaseMention, Reply, sla_overdue
from engagement.selectors.case import CANNOT_POST, NOT_A_TARGET, sla_overdue_deadline
from engagement.services import CaseActionError, reply_mark_manual, reply_send
from listening.models import Source
from tests.engagement.conftest import store_mention

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
CAROL_TEXT = "@acme_help my acme router drops every evening, third time this week"
DAVE_TEXT = "acme same here, my router is dead since monday. anyone?"
BRAND_TEXT = "@carol sorry about that, acme is looking into it"


def url(name, *args) -> str:
    return reverse(f"engagement:{name}", args=args)


@pytest.fixture
def bluesky_source(acme) -> Source:
    """A source Earshot can reply on (an account to post with)."""
    return Source.objects.create(
        brand=acme,
        kind="bluesky",
        url="",
        config={"identifier": "acme.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
    )


@pytest.fixture
def rss_source(acme) -> Source:
    """A source Earshot cannot reply on (a feed)."""
    return Source.objects.create(brand=acme, kind="rss", url="https://news.example/feed.xml")


def thread_case(brand, *, carol_source, dave_source, agent=None, answer_target="carol", **fields):
    """One conversation with two customers: Carol asks first (on carol_source), the brand
    answers her, Dave joins later (on dave_source). answer_target names the post that made the
    case need an answer ("carol", "dave" or None)."""
    now = timezone.now()
    carol = store_mention(
        carol_source,
        CAROL_TEXT,
        author_handle="carol@social.example",
        author_name="Carol",
        published_at=now - timedelta(minutes=40),
    )
    brand_reply = store_mention(
        carol_source,
        BRAND_TEXT,
        author_handle="acme_help@social.example",
        author_name="Acme Help",
        published_at=now - timedelta(minutes=30),
    )
    dave = store_mention(
        dave_source,
        DAVE_TEXT,
        author_handle="dave@social.example",
        author_name="Dave",
        published_at=now - timedelta(minutes=10),
    )
    posts = {"carol": carol, "dave": dave, None: None}
    fields.setdefault("status", Case.Status.OPEN)
    case = Case.objects.create(
        brand=brand,
        author=carol.author,
        subject=carol.text,
        opened_at=carol.published_at,
        assignee=agent,
        answer_target=posts[answer_target],
        needs_answer_at=posts[answer_target].published_at if answer_target else None,
        **fields,
    )
    for mention, is_brand in ((carol, False), (brand_reply, True), (dave, False)):
        CaseMention.objects.create(case=case, mention=mention, brand=brand, is_brand_reply=is_brand)
    case.posts = {"carol": carol, "dave": dave, "brand": brand_reply}
    return case


def target_select(page: str) -> str:
    select = re.search(r'<select name="target" id="reply-target".*?</select>', page, re.S)
    assert select, "no reply target select on the page"
    return select.group(0)


def target_options(page: str) -> dict[str, bool]:
    """The reply target select's options: the value of each, and whether it is selected."""
    return {
        value: bool(selected)
        for value, selected in re.findall(
            r'<option value="(\d+)"( selected)?', target_select(page), re.S
        )
    }


def send_button(page: str) -> str | None:
    match = re.search(r"<button type=\"submit\" data-send[^>]*>", page, re.S)
    return match.group(0) if match else None


# --- the reply target ---------------------------------------------------------------------------


def test_the_form_offers_each_customer_post_and_defaults_to_the_one_that_needs_an_answer(
    client, acme, social_source, agent
):
    case = thread_case(acme, carol_source=social_source, dave_source=social_source, agent=agent)
    carol, dave, brand = (case.posts[k] for k in ("carol", "dave", "brand"))
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()

    # Carol's post made the case need an answer: it is the default, not Dave's later one.
    assert target_options(page) == {str(carol.pk): True, str(dave.pk): False}
    # The brand's own reply is never a target.
    assert f'<option value="{brand.pk}"' not in page
    option = re.search(rf'<option value="{carol.pk}".*?</option>', target_select(page), re.S)
    option = option.group(0)
    assert re.search(
        r"Carol · \d{4}-\d\d-\d\d \d\d:\d\d on mastodon · needs an answer · "
        "“@acme_help my acme router drops every evening",
        unescape(option),
    )
    assert "Reply to <bdi>Carol</bdi> (r)" in page


def test_without_an_answer_target_the_latest_customer_post_is_the_default(
    client, acme, social_source, agent
):
    case = thread_case(
        acme,
        carol_source=social_source,
        dave_source=social_source,
        agent=agent,
        answer_target=None,
    )
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()

    assert target_options(page)[str(case.posts["dave"].pk)] is True
    assert "Reply to <bdi>Dave</bdi> (r)" in page


def test_a_reply_answers_the_default_post_or_the_one_chosen(client, acme, bluesky_source, agent):
    case = thread_case(
        acme,
        carol_source=bluesky_source,
        dave_source=bluesky_source,
        agent=agent,
        answer_target="carol",
    )
    carol, dave = case.posts["carol"], case.posts["dave"]
    client.force_login(agent)

    client.post(url("case-reply", case.pk), {"text": "Hi Carol, a fix is on its way"}, **HX)
    client.post(url("case-reply", case.pk), {"text": "Hi Dave, same fix", "target": dave.pk}, **HX)

    replies = list(Reply.objects.filter(case=case).order_by("pk"))
    assert [(r.text, r.in_reply_to_id, r.status) for r in replies] == [
        ("Hi Carol, a fix is on its way", carol.pk, Reply.Status.SENDING),
        ("Hi Dave, same fix", dave.pk, Reply.Status.SENDING),
    ]


@pytest.mark.parametrize("route", ["case-reply", "case-reply-manual"])
@pytest.mark.parametrize(
    "foreign", ["other_case", "other_brand", "brand_reply", "not_a_number", "huge", "gone"]
)
def test_a_target_that_is_not_a_customer_post_of_the_case_is_a_form_error(
    client, acme, other_brand, bluesky_source, agent, route, foreign
):
    case = thread_case(acme, carol_source=bluesky_source, dave_source=bluesky_source, agent=agent)
    # The same author's post in another case of the brand, and a post of another brand's case.
    elsewhere = store_mention(
        bluesky_source, "acme still broken", author_handle="carol@social.example"
    )
    other = Case.objects.create(brand=acme, author=elsewhere.author)
    CaseMention.objects.create(case=other, mention=elsewhere, brand=acme)
    initech_source = Source.objects.create(brand=other_brand, kind="rss", url="https://i.example/f")
    initech_post = store_mention(initech_source, "initech lost my order")
    initech_case = Case.objects.create(brand=other_brand, author=initech_post.author)
    CaseMention.objects.create(case=initech_case, mention=initech_post, brand=other_brand)
    target = {
        "other_case": elsewhere.pk,
        "other_brand": initech_post.pk,
        "brand_reply": case.posts["brand"].pk,
        "not_a_number": "carol",
        "huge": "9" * 30,
        "gone": 10**12,
    }[foreign]
    client.force_login(agent)

    response = client.post(url(route, case.pk), {"text": "Hello", "target": target}, **HX)

    assert response.status_code == 409
    body = unescape(response.content.decode())
    assert f'<p class="error" role="alert">{NOT_A_TARGET}</p>' in body
    # What the agent wrote stays in the box.
    assert re.search(r">\s*Hello</textarea>", body)
    assert not Reply.objects.exists()

    # Without htmx: back to the case with the message, never a 500.
    response = client.post(url(route, case.pk), {"text": "Hello", "target": target})
    assert response.status_code == 302
    assert [str(m) for m in response.wsgi_request._messages] == [NOT_A_TARGET]
    assert not Reply.objects.exists()


def test_the_services_refuse_a_post_of_another_case(acme, social_source, bluesky_source, agent):
    case = thread_case(acme, carol_source=bluesky_source, dave_source=social_source, agent=agent)
    elsewhere = store_mention(social_source, "acme, hello?", author_handle="erin@social.example")
    with pytest.raises(CaseActionError, match=NOT_A_TARGET):
        reply_send(case=case, user=agent, text="Hi", in_reply_to_id=elsewhere.pk)
    with pytest.raises(CaseActionError, match=NOT_A_TARGET):
        reply_mark_manual(case=case, user=agent, text="Hi", in_reply_to_id=elsewhere.pk)
    assert not Reply.objects.exists()


def test_send_is_offered_only_for_a_target_whose_source_can_post_replies(
    client, acme, bluesky_source, rss_source, agent
):
    # Carol wrote on Bluesky (Earshot can answer there), Dave's post came from a feed.
    case = thread_case(acme, carol_source=bluesky_source, dave_source=rss_source, agent=agent)
    carol, dave = case.posts["carol"], case.posts["dave"]
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()
    assert "hidden" not in send_button(page)
    assert 'action="' + url("case-reply", case.pk) + '"' in page
    assert "At most 300 characters on this platform." in page
    assert '<details class="manual">' in page
    # Each option says what its channel is, for case.js to switch without a reload.
    option = re.search(rf'<option value="{dave.pk}"[^>]*>', target_select(page)).group(0)
    assert 'data-can-send="false"' in option
    assert f'data-why-not="{CANNOT_POST}"' in unescape(option)
    option = re.search(rf'<option value="{carol.pk}"[^>]*>', target_select(page)).group(0)
    assert 'data-can-send="true"' in option

    # Dave chosen (the page's ?target=, or a refused Send): only "replied on platform".
    page = client.get(url("case", case.pk), {"target": dave.pk}).content.decode()
    assert target_options(page)[str(dave.pk)] is True
    assert " hidden>Send</button>" in send_button(page) + "Send</button>"
    assert 'action="' + url("case-reply-manual", case.pk) + '"' in page
    assert '<details class="manual" open>' in page
    assert CANNOT_POST in unescape(page)

    # Sending to Dave anyway (no JavaScript, target switched): refused, text kept, Dave
    # still chosen; marking it replied on the platform records the answer to Dave.
    response = client.post(url("case-reply", case.pk), {"text": "Hi Dave", "target": dave.pk}, **HX)
    assert response.status_code == 409
    body = unescape(response.content.decode())
    assert CANNOT_POST in body
    assert re.search(r">\s*Hi Dave</textarea>", body)
    assert target_options(body)[str(dave.pk)] is True
    response = client.post(
        url("case-reply-manual", case.pk),
        {"text": "Hi Dave", "target": dave.pk, "url": "https://news.example/c/1"},
        **HX,
    )
    assert response.status_code == 200
    reply = Reply.objects.get(case=case)
    assert (reply.status, reply.in_reply_to_id) == (Reply.Status.MANUAL, dave.pk)


def test_a_case_no_source_of_which_can_reply_shows_no_send_button(client, acme, rss_source, agent):
    case = thread_case(acme, carol_source=rss_source, dave_source=rss_source, agent=agent)
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()

    assert send_button(page) is None
    assert ">Send</button>" not in page
    assert '<details class="manual" open>' in page
    assert "Mark replied on platform</button>" in page


def test_a_stray_target_in_the_address_falls_back_to_the_default(
    client, acme, social_source, agent
):
    case = thread_case(acme, carol_source=social_source, dave_source=social_source, agent=agent)
    client.force_login(agent)
    for stray in (case.posts["brand"].pk, "x", "0", "9" * 30):
        response = client.get(url("case", case.pk), {"target": stray})
        assert response.status_code == 200
        assert target_options(response.content.decode())[str(case.posts["carol"].pk)] is True


def test_target_names_are_escaped(client, acme, social_source, agent):
    case = thread_case(acme, carol_source=social_source, dave_source=social_source, agent=agent)
    dave = case.posts["dave"]
    dave.author.display_name = '<img src=x onerror=alert(1)>"'
    dave.author.save(update_fields=["display_name"])
    dave.text = 'acme <script>alert("x")</script> broken'
    dave.save(update_fields=["text"])
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()

    assert "<img src=x" not in page
    assert "<script>alert" not in page
    assert 'data-author="&lt;img src=x onerror=alert(1)&gt;&quot;"' in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


# --- where priority comes from ------------------------------------------------------------------


def test_priority_parts_name_the_post_they_come_from(client, acme, social_source, agent):
    case = thread_case(acme, carol_source=social_source, dave_source=social_source, agent=agent)
    carol, dave = case.posts["carol"], case.posts["dave"]
    case.priority_parts = {
        "negativity": {
            "points": 30.0,
            "text": "most negative compound -0.72",
            "mention_id": dave.pk,
        },
        "reach": {"points": 12.5, "text": "840 followers", "mention_id": carol.pk},
        "spread": {"points": 0.0, "text": "no reply or repost counts"},
        # A post no longer in the case is not named (and never looked up elsewhere).
        "waiting": {"points": 5.0, "text": "waited 10 of 60 min", "mention_id": 10**9},
    }
    case.save(update_fields=["priority_parts"])
    client.force_login(agent)

    page = unescape(client.get(url("case", case.pk)).content.decode())

    parts = re.search(r'<ul class="priority-parts">(.*?)</ul>', page, re.S).group(1)
    lines = [
        " ".join(re.sub(r"<[^>]+>", "", li).split())
        for li in re.findall(r"<li>(.*?)</li>", parts, re.S)
    ]
    # (jsonb keeps its own key order)
    assert sorted(lines) == [
        "negativity: most negative compound -0.72 (+30.00) from Dave: “acme same here, my "
        "router is dead since monday. anyone?”",
        "reach: 840 followers (+12.50) from Carol: “@acme_help my acme router drops every "
        "evening, third time this week”",
        "spread: no reply or repost counts (+0.00)",
        "waiting: waited 10 of 60 min (+5.00)",
    ]
    assert f'<a href="#mention-{dave.pk}" class="post-ref"' in parts
    assert f'id="mention-{dave.pk}"' in page
    assert "mention_id" not in parts

    # And which post made the case need an answer.
    needs = re.search(r'<dd class="needs-answer">(.*?)</dd>', page, re.S).group(1)
    assert f'<a href="#mention-{carol.pk}" class="post-ref"' in needs
    assert "because of Carol: “@acme_help my acme router" in re.sub(r"<[^>]+>", "", needs)


# --- the overdue badge --------------------------------------------------------------------------


def fact(page: str, name: str) -> str:
    match = re.search(rf"<dt>{name}</dt>\s*<dd[^>]*>(.*?)</dd>", page, re.S)
    assert match, f"no {name} on the page"
    return re.sub(r"\s+", " ", match.group(1))


def test_a_late_first_response_is_overdue_beside_first_response_due(
    client, acme, social_source, agent
):
    now = timezone.now()
    case = thread_case(
        acme,
        carol_source=social_source,
        dave_source=social_source,
        agent=agent,
        first_response_due=now - timedelta(minutes=5),
        resolution_due=now + timedelta(hours=20),
    )
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()

    assert "due" in fact(page, "First response")
    assert 'class="overdue" data-overdue="first_response">overdue<' in fact(page, "First response")
    assert "overdue" not in fact(page, "Resolution")


def test_an_answered_case_past_resolution_is_overdue_beside_resolution_due(
    client, acme, social_source, agent
):
    now = timezone.now()
    case = thread_case(
        acme,
        carol_source=social_source,
        dave_source=social_source,
        agent=agent,
        first_response_due=now - timedelta(hours=30),
        first_response_at=now - timedelta(hours=29, minutes=30),
        resolution_due=now - timedelta(hours=2),
    )
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()

    assert "answered" in fact(page, "First response")
    assert "overdue" not in fact(page, "First response")
    resolution = fact(page, "Resolution")
    assert "due <time" in resolution
    assert 'class="overdue" data-overdue="resolution">overdue<' in resolution


def test_the_case_page_no_longer_paints_the_badge_red_on_red():
    # case.css once coloured .overdue text var(--neg) over earshot.css's var(--neg) background.
    from pathlib import Path

    static = Path(__file__).resolve().parents[2] / "static" / "earshot"
    for name in ("case.css", "earshot.css"):
        css = (static / name).read_text()
        for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
            if ".overdue" in selectors and "color:" in body and "background" not in body:
                pytest.fail(f"{name}: {selectors.strip()} sets a text colour only: {body}")


NOW = timezone.now()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"first_response_due": NOW - timedelta(minutes=1)}, "first_response"),
        ({"first_response_due": NOW + timedelta(minutes=1)}, ""),
        (
            {
                "first_response_due": NOW + timedelta(minutes=1),
                "resolution_due": NOW - timedelta(minutes=1),
            },
            "",
        ),
        ({"resolution_due": NOW - timedelta(minutes=1)}, "resolution"),
        (
            {
                "first_response_at": NOW - timedelta(hours=3),
                "first_response_due": NOW - timedelta(hours=2),
                "resolution_due": NOW - timedelta(minutes=1),
            },
            "resolution",
        ),
        (
            {
                "first_response_at": NOW - timedelta(hours=3),
                "resolution_due": NOW + timedelta(minutes=1),
            },
            "",
        ),
        (
            {"status": Case.Status.RESOLVED, "first_response_due": NOW - timedelta(hours=1)},
            "",
        ),
    ],
)
def test_the_overdue_deadline_is_the_one_sla_overdue_finds_passed(fields, expected):
    case = Case(status=fields.pop("status", Case.Status.OPEN), **fields)
    assert sla_overdue_deadline(case, NOW) == expected
    assert bool(expected) == sla_overdue(case, NOW)


# --- history cases and brands whose care is off ---------------------------------------------------


def test_a_history_case_says_imported_and_takes_no_reply(client, acme, bluesky_source, agent):
    case = thread_case(
        acme,
        carol_source=bluesky_source,
        dave_source=bluesky_source,
        agent=agent,
        status=Case.Status.RESOLVED,
        resolved_at=timezone.now() - timedelta(days=30),
        is_history=True,
    )
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()

    assert '<span class="chip history">Imported history</span>' in page
    assert "No answer, imported" in fact(page, "First response")
    assert 'id="reply-form"' not in page
    assert url("case-reply", case.pk) not in page
    assert "Answer this post" not in page
    assert "It takes no replies here." in page

    response = client.post(url("case-reply", case.pk), {"text": "Late hello"}, **HX)
    assert response.status_code == 409
    assert "imported from history: it takes no replies" in response.content.decode()
    response = client.post(url("case-reply-manual", case.pk), {"text": "Late hello"}, **HX)
    assert response.status_code == 409
    assert not Reply.objects.exists()


def test_an_answered_history_case_says_when_it_was_answered(client, acme, social_source, agent):
    answered = timezone.now() - timedelta(days=40)
    case = thread_case(
        acme,
        carol_source=social_source,
        dave_source=social_source,
        status=Case.Status.RESOLVED,
        first_response_at=answered,
        resolved_at=answered,
        is_history=True,
    )
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()

    assert "Imported history" in page
    assert "answered" in fact(page, "First response")
    assert "No answer, imported" not in page


def test_a_case_of_a_brand_whose_care_is_off_says_so(client, acme, social_source, agent):
    CareSettings.objects.update_or_create(brand=acme, defaults={"care_enabled": False})
    case = thread_case(acme, carol_source=social_source, dave_source=social_source, agent=agent)
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()

    assert "Care is off for <bdi>Acme</bdi>: its cases are not in the queue." in page


# --- through real routing -------------------------------------------------------------------------


def test_a_routed_two_customer_thread_offers_both_and_names_its_posts(
    client, acme, social_source, agent
):
    from engagement.routing import mentions_route

    now = timezone.now()
    store_mention(
        social_source,
        CAROL_TEXT,
        author_handle="carol@social.example",
        author_name="Carol",
        followers=50,
        published_at=now - timedelta(minutes=40),
        external_id="t1",
        thread_id="t1",
    )
    store_mention(
        social_source,
        BRAND_TEXT,
        author_handle="acme_help@social.example",
        author_name="Acme Help",
        published_at=now - timedelta(minutes=30),
        external_id="t2",
        thread_id="t1",
        in_reply_to="t1",
    )
    store_mention(
        social_source,
        "acme this is awful, my router died too and nobody answers me",
        author_handle="dave@social.example",
        author_name="Dave",
        followers=9000,
        published_at=now - timedelta(minutes=10),
        external_id="t3",
        thread_id="t1",
        in_reply_to="t2",
    )
    mentions_route()
    case = Case.objects.get(brand=acme, kind=Case.Kind.CARE)
    links = {
        link.mention.external_id: link for link in case.case_mentions.select_related("mention")
    }
    assert set(links) == {"t1", "t2", "t3"}, "routing put the thread in one case"
    assert case.answer_target_id is not None
    client.force_login(agent)

    page = client.get(url("case", case.pk)).content.decode()

    options = target_options(page)
    assert set(options) == {str(links["t1"].mention_id), str(links["t3"].mention_id)}
    assert options[str(case.answer_target_id)] is True
    parts = unescape(re.search(r'<ul class="priority-parts">(.*?)</ul>', page, re.S).group(1))
    authors = {links["t1"].mention_id: "Carol", links["t3"].mention_id: "Dave"}
    named = [
        (name, value.get("mention_id"))
        for name, value in case.priority_parts.items()
        if isinstance(value, dict) and value.get("mention_id")
    ]
    assert named, "routing names the post of each part"
    for name, mention_id in named:
        line = re.search(rf"<li>{name}: (.*?)</li>", parts, re.S).group(1)
        assert f'href="#mention-{mention_id}"' in line
        assert f"{authors[mention_id]}</bdi>" in line
    assert f'<a href="#mention-{case.answer_target_id}" class="post-ref"' in page
