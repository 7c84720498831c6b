"""The queue page: scoping, tabs, filters, sorting, paging, claiming and "next case"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from brands.models import Membership
from engagement.models import Case, CaseMention, Tag
from listening.models import Source
from tests.engagement.conftest import make_user, store_mention

pytestmark = pytest.mark.django_db

QUEUE = "/queue/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def make_case(
    source: Source,
    text: str = "acme my order is late",
    *,
    author_handle: str = "carol@social.example",
    author_name: str = "Carol",
    followers: int | None = 120,
    **fields,
) -> Case:
    """A case of the source's brand with one customer mention stored through the pipeline."""
    mention = store_mention(
        source, text, author_handle=author_handle, author_name=author_name, followers=followers
    )
    fields.setdefault("subject", text[:140])
    fields.setdefault("priority", 50.0)
    fields.setdefault("priority_band", "medium")
    case = Case.objects.create(brand=source.brand, author=mention.author, **fields)
    CaseMention.objects.create(case=case, mention=mention, brand=source.brand)
    return case


def bare_cases(brand, n: int, **fields) -> list[Case]:
    """n cases without mentions (the queue needs none), priorities n..1."""
    now = timezone.now()
    return Case.objects.bulk_create(
        [
            Case(
                brand=brand,
                subject=f"acme case number {i}",
                priority=float(i),
                opened_at=now - timedelta(minutes=i),
                **fields,
            )
            for i in range(n, 0, -1)
        ]
    )


def subjects(response) -> list[str]:
    return [row.subject for row in response.context["rows"]]


@pytest.fixture
def initech_source(other_brand) -> Source:
    return Source.objects.create(brand=other_brand, kind="rss", url="https://initech.example/f")


# --- access ----------------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_sign_in(client, db):
    response = client.get(QUEUE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_queue_shows_only_cases_of_the_users_brands(
    client, agent, outsider, social_source, initech_source
):
    make_case(social_source, "acme my parcel never came")
    make_case(initech_source, "initech printer is on fire", author_handle="bob@x")
    client.force_login(agent)
    response = client.get(QUEUE)
    assert response.status_code == 200
    assert subjects(response) == ["acme my parcel never came"]
    assert b"initech printer" not in response.content

    client.force_login(outsider)
    response = client.get(QUEUE)
    assert subjects(response) == ["initech printer is on fire"]
    assert b"acme my parcel" not in response.content


def test_a_brand_filter_for_someone_elses_brand_is_ignored_and_reveals_nothing(
    client, acme, outsider, social_source, initech_source
):
    make_case(social_source, "acme my parcel never came")
    client.force_login(outsider)
    response = client.get(QUEUE, {"brand": acme.pk})
    assert response.status_code == 200
    assert subjects(response) == []
    assert b"acme my parcel" not in response.content
    assert b"Select a valid choice" in response.content
    assert b"Acme" not in response.content


def test_a_marketer_gets_a_friendly_403(client, marketer):
    client.force_login(marketer)
    response = client.get(QUEUE)
    assert response.status_code == 403
    assert b"The queue is for agents and admins" in response.content


def test_a_user_without_a_brand_gets_403_on_the_queue(client, db):
    from tests.engagement.conftest import make_user

    client.force_login(make_user("nobody", None, None))
    assert client.get(QUEUE).status_code == 403


# --- tabs, counts and empty states -----------------------------------------------------------


def test_tabs_split_care_advocate_and_resolved_with_counts(client, agent, social_source):
    make_case(social_source, "acme app crashes on start")
    make_case(social_source, "acme why is my bill higher?", status=Case.Status.OPEN)
    make_case(social_source, "acme you are wonderful", kind=Case.Kind.ADVOCATE)
    make_case(
        social_source,
        "acme fixed it",
        status=Case.Status.RESOLVED,
        resolved_at=timezone.now(),
    )
    client.force_login(agent)

    response = client.get(QUEUE)
    assert sorted(subjects(response)) == [
        "acme app crashes on start",
        "acme why is my bill higher?",
    ]
    tabs = {t["key"]: t["count"] for t in response.context["tabs"]}
    assert tabs == {"care": "2", "advocate": "1", "resolved": "1"}
    assert subjects(client.get(QUEUE, {"tab": "advocate"})) == ["acme you are wonderful"]
    assert subjects(client.get(QUEUE, {"tab": "resolved"})) == ["acme fixed it"]


def test_an_empty_tab_says_new_cases_arrive_within_seconds(client, agent):
    client.force_login(agent)
    response = client.get(QUEUE)
    assert b"No cases need an answer. New mentions that need one appear here within seconds." in (
        response.content
    )


def test_filters_that_match_nothing_offer_to_clear_them(client, agent, social_source):
    make_case(social_source, priority_band="low")
    client.force_login(agent)
    response = client.get(QUEUE, {"band": "high"})
    assert b"No cases match these filters." in response.content
    assert b">Clear filters</a>" in response.content
    assert b'href="/queue/?tab=care"' in response.content


def test_the_counts_fragment_polls_itself_with_the_same_filters(client, agent, social_source):
    make_case(social_source, priority_band="high")
    make_case(social_source, "acme still waiting", author_handle="dan@x", priority_band="low")
    client.force_login(agent)
    response = client.get(reverse("engagement:queue-counts"), {"band": "high"}, **HTMX)
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'hx-trigger="every 15s"' in response.content
    assert b"band=high" in response.content
    assert {t["key"]: t["count"] for t in response.context["tabs"]}["care"] == "1"


def test_the_page_polls_the_counts_every_15_seconds(client, agent):
    client.force_login(agent)
    content = client.get(QUEUE).content.decode()
    assert 'hx-get="/queue/counts/?' in content
    assert 'hx-trigger="every 15s"' in content


def test_open_statuses_are_all_but_resolved_as_the_partial_indexes_spell_them():
    """Case.OPEN_STATUSES is what the tabs, counts and similar requests filter on; the partial
    indexes that serve those filters repeat it as literals, so they must not drift apart."""
    assert set(Case.OPEN_STATUSES) == set(Case.Status.values) - {Case.Status.RESOLVED}
    names = {"case_open_priority_idx", "case_similar_open_idx", "case_phrase_open_idx"}
    spelled = {
        index.name: [
            child[1]
            for child in index.condition.children
            if isinstance(child, tuple) and child[0] == "status__in"
        ]
        for index in Case._meta.indexes
        if index.name in names
    }

    assert spelled == {name: [list(Case.OPEN_STATUSES)] for name in spelled}
    assert len(spelled) == 3


# --- filters and sorting ---------------------------------------------------------------------


@pytest.fixture
def assorted(acme, agent, teammate, social_source):
    """Five care cases that differ in one filterable way each."""
    now = timezone.now()
    return {
        "negative": make_case(
            social_source,
            "acme this is terrible and I hate it",
            author_handle="neg@x",
            priority=90,
            priority_band="high",
            status=Case.Status.OPEN,
            assignee=agent,
        ),
        "neutral": make_case(
            social_source,
            "acme store opens at nine tomorrow",
            author_handle="neu@x",
            priority=50,
            priority_band="medium",
            assignee=teammate,
            status=Case.Status.WAITING,
        ),
        "positive": make_case(
            social_source,
            "acme support was great, love it",
            author_handle="pos@x",
            priority=10,
            priority_band="low",
        ),
        "overdue": make_case(
            social_source,
            "acme my order number is 1234",
            author_handle="late@x",
            priority=40,
            priority_band="medium",
            opened_at=now - timedelta(hours=3),
            first_response_due=now - timedelta(hours=2),
        ),
        "answered_late": make_case(
            social_source,
            "acme sent the form on monday",
            author_handle="slow@x",
            priority=30,
            priority_band="medium",
            status=Case.Status.OPEN,
            opened_at=now - timedelta(days=3),
            first_response_at=now - timedelta(days=3),
            resolution_due=now - timedelta(days=2),
            assignee=teammate,
        ),
    }


def keys(response, cases) -> list[str]:
    by_pk = {c.pk: k for k, c in cases.items()}
    return [by_pk[row.pk] for row in response.context["rows"]]


def test_the_default_sort_is_highest_priority_first(client, agent, assorted):
    client.force_login(agent)
    response = client.get(QUEUE)
    assert keys(response, assorted) == [
        "negative",
        "neutral",
        "overdue",
        "answered_late",
        "positive",
    ]


def test_sorting_by_age_puts_the_oldest_first(client, agent, assorted):
    client.force_login(agent)
    response = client.get(QUEUE, {"sort": "age"})
    assert keys(response, assorted)[:2] == ["answered_late", "overdue"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "waiting"}, ["neutral"]),
        ({"status": "new"}, ["overdue", "positive"]),
        ({"band": "high"}, ["negative"]),
        ({"band": "low"}, ["positive"]),
        ({"sentiment": "negative"}, ["negative"]),
        ({"sentiment": "positive"}, ["positive"]),
        ({"assignee": "unassigned"}, ["overdue", "positive"]),
        ({"mine": "on"}, ["negative"]),
        ({"overdue": "on"}, ["overdue", "answered_late"]),
        ({"source": "mastodon"}, ["negative", "neutral", "overdue", "answered_late", "positive"]),
        ({"source": "rss"}, []),
        ({"band": "medium", "assignee": "unassigned"}, ["overdue"]),
    ],
)
def test_each_filter_narrows_the_queue(client, agent, assorted, params, expected):
    client.force_login(agent)
    assert keys(client.get(QUEUE, params), assorted) == expected


def test_the_neutral_sentiment_filter_excludes_cases_with_a_negative_mention(
    client, agent, social_source, assorted
):
    # A later negative mention makes the neutral case's worst mention negative.
    worse = store_mention(social_source, "acme this is awful", author_handle="neu@x")
    CaseMention.objects.create(case=assorted["neutral"], mention=worse, brand=social_source.brand)
    client.force_login(agent)
    assert "neutral" not in keys(client.get(QUEUE, {"sentiment": "neutral"}), assorted)
    assert "neutral" in keys(client.get(QUEUE, {"sentiment": "negative"}), assorted)


def test_the_assignee_filter_lists_agents_of_the_brand(client, agent, teammate, assorted):
    client.force_login(agent)
    response = client.get(QUEUE, {"assignee": teammate.pk})
    assert keys(response, assorted) == ["neutral", "answered_late"]
    assert b'<option value="unassigned">Unassigned</option>' in response.content
    assert f'<option value="{teammate.pk}" selected>tom</option>'.encode() in response.content


def test_an_unknown_assignee_value_is_ignored(client, agent, outsider, assorted):
    client.force_login(agent)
    response = client.get(QUEUE, {"assignee": outsider.pk})
    assert len(response.context["rows"]) == 5


def test_the_brand_filter_keeps_to_one_brand(client, acme, other_brand, social_source):
    from brands.models import Membership
    from tests.engagement.conftest import make_user

    both = make_user("bea", acme, Membership.Role.AGENT)
    Membership.objects.create(user=both, brand=other_brand, role=Membership.Role.ADMIN)
    make_case(social_source, "acme broken again")
    bare_cases(other_brand, 2)
    client.force_login(both)
    assert len(client.get(QUEUE).context["rows"]) == 3
    assert subjects(client.get(QUEUE, {"brand": acme.pk})) == ["acme broken again"]


def test_an_htmx_filter_request_gets_the_results_fragment_only(client, agent, assorted):
    client.force_login(agent)
    response = client.get(QUEUE, {"band": "high"}, **HTMX)
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="queue-tabs"' in response.content
    assert keys(response, assorted) == ["negative"]


# --- rows ------------------------------------------------------------------------------------


def test_a_row_shows_priority_author_brand_status_waited_time_and_tags(
    client, agent, acme, social_source
):
    now = timezone.now()
    case = make_case(
        social_source,
        "acme where is my refund?",
        author_handle="erin@social.example",
        author_name="Erin",
        followers=12345,
        priority=72.4,
        priority_band="high",
        opened_at=now - timedelta(minutes=90),
        first_response_due=now - timedelta(minutes=30),
    )
    case.tags.add(Tag.objects.create(brand=acme, name="refunds"))
    client.force_login(agent)
    content = client.get(QUEUE).content.decode()
    assert '<span class="chip band-high">High</span> <span class="score">72</span>' in content
    assert "acme where is my refund?" in content
    assert '<span class="name">Erin</span>' in content
    assert "erin@social.example" in content
    assert "12,345 followers" in content
    assert "Acme" in content
    assert "New" in content
    # The overdue badge says which deadline, beside the waited-of label of that deadline.
    assert (
        'waited 1 h 30 min of 1 h <span class="overdue" data-overdue="first_response">'
        "First response overdue</span>"
    ) in content
    assert '<span class="tag">refunds</span>' in content
    assert f'href="{reverse("engagement:case", kwargs={"case_id": case.pk})}"' in content


def test_hostile_subject_and_author_text_is_shown_as_text(client, agent, social_source):
    make_case(
        social_source,
        'acme <script>alert("x")</script> <img src=x onerror=alert(1)>',
        author_handle="<b>evil</b>@x",
        author_name='<script>alert("name")</script>',
    )
    client.force_login(agent)
    content = client.get(QUEUE).content.decode()
    assert "<script>alert" not in content
    assert "<img src=x" not in content
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in content
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in content
    assert "&lt;b&gt;evil&lt;/b&gt;@x" in content


def test_hostile_brand_tag_and_user_names_are_escaped_in_rows_and_filters(
    client, agent, acme, social_source
):
    acme.name = 'Acme <i>&</i> "Co"'
    acme.save()
    owner = make_user("<b>bob</b>", acme, Membership.Role.AGENT)
    case = make_case(social_source, assignee=owner)
    case.tags.add(Tag.objects.create(brand=acme, name="<script>tag</script>"))
    client.force_login(agent)
    content = client.get(QUEUE).content.decode()
    assert "<i>&</i>" not in content
    assert "<b>bob" not in content
    assert "<script>tag" not in content
    escaped_brand = "Acme &lt;i&gt;&amp;&lt;/i&gt; &quot;Co&quot;"
    assert f"<td>{escaped_brand}</td>" in content  # the row
    assert f">{escaped_brand}</option>" in content  # the brand filter
    assert '<td class="assignee">&lt;b&gt;bob&lt;/b&gt;</td>' in content
    assert ">&lt;b&gt;bob&lt;/b&gt;</option>" in content  # the assignee filter
    assert '<span class="tag">&lt;script&gt;tag&lt;/script&gt;</span>' in content


def test_filters_keep_their_selected_values(client, agent, teammate, acme):
    client.force_login(agent)
    content = client.get(
        QUEUE, {"brand": acme.pk, "band": "high", "assignee": teammate.pk, "sort": "age"}
    ).content.decode()
    assert f'<option value="{acme.pk}" selected>Acme</option>' in content
    assert '<option value="high" selected>High</option>' in content
    assert f'<option value="{teammate.pk}" selected>tom</option>' in content
    assert '<option value="age" selected>Age (oldest first)</option>' in content
    assert '<option value="" selected>Any sentiment</option>' in content
    # The four chosen, and "Any ..." for the three left open (status, sentiment, source).
    assert content.count(" selected>") == 7


def test_rows_count_other_open_cases_with_the_same_request(client, agent, acme, social_source):
    a = make_case(social_source, "acme login broken", author_handle="a@x", similarity_key="k1")
    make_case(social_source, "acme login broken!", author_handle="b@x", similarity_key="k1")
    make_case(social_source, "acme login broken!!", author_handle="c@x", similarity_key="k1")
    make_case(
        social_source,
        "acme login broken (old)",
        author_handle="d@x",
        similarity_key="k1",
        status=Case.Status.RESOLVED,
    )
    make_case(social_source, "acme something else", author_handle="e@x", similarity_key="k2")
    client.force_login(agent)
    response = client.get(QUEUE)
    similar = {row.pk: row.similar for row in response.context["rows"]}
    assert similar[a.pk] == 2
    assert sorted(similar.values()) == [0, 2, 2, 2]
    assert b"+2 similar" in response.content


# --- paging ----------------------------------------------------------------------------------


def test_the_queue_pages_by_fifty_with_counts_and_links(client, agent, acme):
    bare_cases(acme, 120)
    client.force_login(agent)
    first = client.get(QUEUE)
    assert len(first.context["rows"]) == 50
    assert b"1-50 of 120" in first.content
    assert first.context["rows"][0].priority == 120
    assert b'href="?page=2"' in first.content
    assert b'href="?page=3"' in first.content

    last = client.get(QUEUE, {"page": 3})
    assert len(last.context["rows"]) == 20
    assert b"101-120 of 120" in last.content
    assert last.context["rows"][-1].priority == 1


def test_a_page_past_the_end_shows_the_last_page(client, agent, acme):
    bare_cases(acme, 60)
    client.force_login(agent)
    response = client.get(QUEUE, {"page": 99})
    assert b"51-60 of 60" in response.content


def test_page_links_keep_the_filters(client, agent, acme):
    bare_cases(acme, 60, priority_band="high")
    client.force_login(agent)
    response = client.get(QUEUE, {"band": "high", "sort": "age"})
    assert b'href="?band=high&amp;sort=age&amp;page=2"' in response.content


def test_counts_above_the_cap_are_shown_as_capped(client, agent, acme, monkeypatch):
    from engagement.selectors import queue as selectors

    monkeypatch.setattr(selectors, "QUEUE_COUNT_CAP", 100)
    bare_cases(acme, 120)
    client.force_login(agent)
    response = client.get(QUEUE)
    assert {t["key"]: t["count"] for t in response.context["tabs"]}["care"] == "100+"
    assert b"1-50 of 100+" in response.content


def test_the_queue_page_makes_a_fixed_number_of_queries(
    client, agent, teammate, acme, social_source, django_assert_max_num_queries
):
    tag = Tag.objects.create(brand=acme, name="billing")
    for i in range(60):
        case = make_case(
            social_source,
            f"acme problem number {i}",
            author_handle=f"user{i}@x",
            assignee=teammate if i % 2 else None,
            similarity_key=f"k{i % 5}",
        )
        case.tags.add(tag)
    client.force_login(agent)
    # session, user, memberships, brands, assignees, 3 tab counts, rows, tags, similar, and
    # the user's brands whose care is off.
    with django_assert_max_num_queries(12):
        response = client.get(QUEUE)
    assert len(response.context["rows"]) == 50


# --- claiming --------------------------------------------------------------------------------


def claim_url(case):
    return reverse("engagement:claim", kwargs={"case_id": case.pk})


def test_claiming_by_htmx_returns_the_row_with_the_new_owner(client, agent, social_source):
    case = make_case(social_source)
    client.force_login(agent)
    response = client.post(claim_url(case), **HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith("<tr")
    assert "ana" in content
    assert "data-claim" not in content
    case.refresh_from_db()
    assert case.assignee == agent
    assert case.status == Case.Status.OPEN


def test_claiming_without_htmx_redirects_back_with_a_message(client, agent, social_source):
    case = make_case(social_source)
    client.force_login(agent)
    response = client.post(claim_url(case), {"next": "/queue/?band=medium"})
    assert response.status_code == 302
    assert response["Location"] == "/queue/?band=medium"
    case.refresh_from_db()
    assert case.assignee == agent


def test_claiming_redirects_only_within_the_site(client, agent, social_source):
    case = make_case(social_source)
    client.force_login(agent)
    response = client.post(claim_url(case), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("engagement:queue")


def test_a_second_claim_says_who_has_the_case(client, agent, teammate, social_source):
    case = make_case(social_source)
    client.force_login(teammate)
    client.post(claim_url(case), **HTMX)
    client.force_login(agent)
    response = client.post(claim_url(case), **HTMX)
    assert response.status_code == 200
    assert b"Already claimed by tom." in response.content
    case.refresh_from_db()
    assert case.assignee == teammate

    response = client.post(claim_url(case), follow=True)
    assert b"Already claimed by tom." in response.content


def test_claiming_is_post_only(client, agent, social_source):
    case = make_case(social_source)
    client.force_login(agent)
    assert client.get(claim_url(case)).status_code == 405


def test_claiming_needs_the_csrf_token(agent, social_source):
    from django.test import Client

    case = make_case(social_source)
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    assert client.post(claim_url(case), **HTMX).status_code == 403


def test_an_outsider_cannot_claim_and_learns_nothing(client, outsider, social_source):
    case = make_case(social_source)
    client.force_login(outsider)
    assert client.post(claim_url(case), **HTMX).status_code == 404
    case.refresh_from_db()
    assert case.assignee is None


def test_a_marketer_cannot_claim(client, marketer, social_source):
    case = make_case(social_source)
    client.force_login(marketer)
    assert client.post(claim_url(case)).status_code == 403


# --- next case -------------------------------------------------------------------------------


def test_next_case_claims_the_highest_priority_unclaimed_case_and_opens_it(
    client, agent, teammate, social_source
):
    make_case(social_source, "acme low", author_handle="l@x", priority=10)
    make_case(social_source, "acme taken", author_handle="t@x", priority=99, assignee=teammate)
    top = make_case(social_source, "acme top", author_handle="h@x", priority=80)
    client.force_login(agent)
    response = client.post(reverse("engagement:next"))
    assert response.status_code == 302
    assert response["Location"] == reverse("engagement:case", kwargs={"case_id": top.pk})
    top.refresh_from_db()
    assert top.assignee == agent


def test_next_case_on_an_empty_queue_says_so(client, agent):
    client.force_login(agent)
    response = client.post(reverse("engagement:next"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("engagement:queue")
    assert b"The queue is empty." in response.content


def test_next_case_is_post_only(client, agent):
    client.force_login(agent)
    assert client.get(reverse("engagement:next")).status_code == 405


def test_the_next_button_and_shortcuts_are_on_the_page(client, agent):
    client.force_login(agent)
    content = client.get(QUEUE).content.decode()
    assert f'action="{reverse("engagement:next")}"' in content
    assert 'data-shortcuts="queue"' in content
    assert "earshot/shortcuts.js" in content


def test_similar_counts_stop_at_99_plus_for_a_viral_complaint(client, agent, acme):
    from engagement.selectors.queue import SIMILAR_COUNT_CAP

    bare_cases(acme, SIMILAR_COUNT_CAP + 20, similarity_key="same-words")
    rare = bare_cases(acme, 3, similarity_key="rare")
    Case.objects.filter(pk__in=[c.pk for c in rare]).update(priority=1000)  # on page one
    client.force_login(agent)

    response = client.get(reverse("engagement:queue"))

    page = response.content.decode()
    assert f"+{SIMILAR_COUNT_CAP - 1}+ similar" in page
    assert "+2 similar" in page
