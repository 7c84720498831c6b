"""The mention explorer (dashboard/explorer/): every filter, sort and search on hand-made
mentions, keyset pages, permissions, hostile text, empty states and the streamed CSV."""

# The engagement fixtures are imported by name, which ruff reads as redefinitions.
# ruff: noqa: F401, F811

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import F, Value
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from brands.models import Brand
from dashboard.explorer import explorer_url
from dashboard.explorer.forms import Cursor
from dashboard.explorer.selectors import (
    PAGE_SIZE,
    ExplorerFilters,
    explorer_matches,
    explorer_page,
    search_candidates,
)
from engagement.models import Case, CaseMention
from listening.models import Author, Mention, MentionMatch, Source
from listening.search import search_ids_sql, search_index_catch_up
from tests.engagement.conftest import (
    acme,
    admin_user,
    agent,
    marketer,
    other_brand,
    outsider,
    social_source,
    store_mention,
)

pytestmark = pytest.mark.django_db

EXPLORER = reverse("dashboard:explorer")
EXPORT = reverse("dashboard:explorer-export")
HOSTILE = '<script>alert("x")</script> acme <img src=x onerror=alert(1)>'
_ids = itertools.count(1)
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def make(
    source: Source,
    text: str,
    *,
    brand: Brand | None = None,
    label: str = "neutral",
    scorer_label: str | None = None,
    platform: str = "mastodon",
    language: str = "en",
    handle: str = "carol",
    name: str = "",
    followers: int | None = None,
    likes: int | None = None,
    replies: int | None = None,
    reposts: int | None = None,
    terms: tuple[str, ...] = ("acme",),
    at: datetime = NOW,
    url: str = "",
) -> MentionMatch:
    """One hand-made mention and its match for brand (default: the source's brand)."""
    n = next(_ids)
    author, _ = Author.objects.get_or_create(
        platform=platform, handle=handle, defaults={"display_name": name}
    )
    mention = Mention.objects.create(
        source=source,
        external_id=f"x{n}",
        url=url or f"https://social.example/@{handle}/{n}",
        author=author,
        text=text,
        language=language,
        published_at=at,
        platform=platform,
        author_followers=followers,
        like_count=likes,
        reply_count=replies,
        repost_count=reposts,
        neg=0.0,
        neu=1.0,
        pos=0.0,
        compound=0.0,
        label=scorer_label or label,
    )
    return MentionMatch.objects.create(
        mention=mention,
        brand=brand or source.brand,
        matched_terms=list(terms),
        published_at=at,
        label=label,
    )


def texts(matches) -> list[str]:
    return [m.mention.text for m in matches]


def run(acme: Brand, **kwargs) -> list[str]:
    matched = kwargs.pop("matched", acme)
    return texts(explorer_matches(filters=ExplorerFilters(brand=acme, matched=matched, **kwargs)))


# -- filters -----------------------------------------------------------------------------


def test_it_filters_by_effective_label_not_the_scorers(acme, social_source):
    make(social_source, "acme corrected to negative", label="negative", scorer_label="positive")
    make(social_source, "acme plainly positive", label="positive")
    assert run(acme, label="negative") == ["acme corrected to negative"]
    assert run(acme, label="positive") == ["acme plainly positive"]


def test_it_offers_not_scored_and_writes_it_wherever_a_label_is_shown(
    client, acme, marketer, social_source
):
    # Written for this test: plain VADER reads it as negative, Earshot leaves it unscored.
    spanish = "Acme, mi teléfono no funciona desde ayer y nadie me responde. Pésimo servicio."
    store_mention(social_source, spanish, language="")
    store_mention(social_source, "acme is awful and broken")
    client.force_login(marketer)

    unscored = client.get(EXPLORER, {"brand": acme.pk, "label": "unscored"}).content.decode()
    negative = client.get(EXPLORER, {"brand": acme.pk, "label": "negative"}).content.decode()

    assert '<option value="unscored">Not scored (language)</option>' in negative
    assert '<option value="unscored" selected>Not scored (language)</option>' in unscored
    assert spanish in unscored and "acme is awful" not in unscored
    assert "<td>not scored (language)</td>" in unscored
    assert "acme is awful" in negative and spanish not in negative
    header, *rows = csv_rows(client.get(EXPORT, {"brand": acme.pk, "label": "unscored"}))
    named = [dict(zip(header, row, strict=True)) for row in rows]
    assert [(r["effective_label"], r["earshot_label"], r["label"]) for r in named] == [
        ("unscored", "unscored", "negative")
    ]


def test_it_filters_by_platform_language_source_and_author(acme, social_source):
    rss = Source.objects.create(brand=acme, kind="rss", url="https://blog.example/feed")
    make(social_source, "acme on mastodon in english", handle="ann")
    make(social_source, "acme auf deutsch", language="de", handle="bob")
    make(rss, "acme on the web", platform="web", handle="ann")
    assert run(acme, platform="web") == ["acme on the web"]
    assert run(acme, language="de") == ["acme auf deutsch"]
    assert run(acme, source_id=rss.pk) == ["acme on the web"]
    assert sorted(run(acme, author="ann")) == ["acme on mastodon in english", "acme on the web"]
    assert run(acme, author="nobody") == []


def test_it_filters_by_matched_term(acme, social_source):
    make(social_source, "acme help me", terms=("@acme_help",))
    make(social_source, "acme alone", terms=("acme",))
    make(social_source, "acme helpers", terms=("acme", "acme helpers"))
    assert run(acme, term="@acme_help") == ["acme help me"]
    # A whole term, never a part of one.
    assert run(acme, term="acme help") == []
    assert sorted(run(acme, term="acme")) == ["acme alone", "acme helpers"]


def test_dates_are_whole_days_in_the_users_time_zone(acme, social_source, settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # +05:30
    # 23:30 UTC on the 14th is 05:00 on the 15th in India.
    make(social_source, "acme late utc", at=datetime(2026, 3, 14, 23, 30, tzinfo=UTC))
    make(social_source, "acme early utc", at=datetime(2026, 3, 14, 18, 29, tzinfo=UTC))
    make(social_source, "acme local midnight", at=datetime(2026, 3, 14, 18, 30, tzinfo=UTC))
    from dashboard.explorer.forms import ExplorerForm

    form = ExplorerForm({"since": "2026-03-15", "until": "2026-03-15"})
    assert form.is_valid(), form.errors
    found = run(acme, since=form.since_moment, until=form.until_moment)
    assert sorted(found) == ["acme late utc", "acme local midnight"]


def test_it_filters_by_whether_the_mention_is_in_a_case(acme, social_source, other_brand):
    filed = make(social_source, "acme filed")
    make(social_source, "acme not filed")
    case = Case.objects.create(brand=acme, author=filed.mention.author)
    CaseMention.objects.create(case=case, mention=filed.mention, brand=acme)
    # A case of another brand for the other mention does not count for Acme.
    loose = Mention.objects.get(text="acme not filed")
    other_case = Case.objects.create(brand=other_brand)
    CaseMention.objects.create(case=other_case, mention=loose, brand=other_brand)
    assert run(acme, has_case=True) == ["acme filed"]
    assert run(acme, has_case=False) == ["acme not filed"]


def test_a_competitor_shows_only_what_the_brands_own_sources_caught(acme, social_source):
    globex = Brand.objects.get(name="Globex")
    globex_own = Source.objects.create(brand=globex, kind="rss", url="https://globex.example/f")
    make(social_source, "globex heard by acme", brand=globex, terms=("globex",))
    make(globex_own, "globex in its own workspace", terms=("globex",))
    make(social_source, "acme itself")
    assert run(acme, matched=globex) == ["globex heard by acme"]
    assert run(acme) == ["acme itself"]


def test_a_competitors_own_cases_are_neither_shown_nor_filtered_on(
    client, admin_user, acme, social_source
):
    globex = Brand.objects.get(name="Globex")
    heard = make(social_source, "globex heard by acme", brand=globex, terms=("globex",))
    case = Case.objects.create(brand=globex, author=heard.mention.author)
    CaseMention.objects.create(case=case, mention=heard.mention, brand=globex)
    assert run(acme, matched=globex, has_case=True) == []
    assert run(acme, matched=globex, has_case=False) == ["globex heard by acme"]
    client.force_login(admin_user)  # an admin of Acme only
    body = client.get(EXPLORER, {"brand": acme.pk, "matched": globex.pk}).content.decode()
    assert "globex heard by acme" in body
    assert "in a case</td>" not in body
    assert reverse("engagement:case", args=[case.pk]) not in body


# -- full-text search --------------------------------------------------------------------


POSTGRESQL_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="full-text search is PostgreSQL's"
)


@POSTGRESQL_ONLY
def test_full_text_search_matches_words_phrases_or_and_exclusions(acme, social_source):
    make(social_source, "Acme refund took three weeks", at=NOW)
    make(social_source, "acme REFUND please", at=NOW - timedelta(minutes=1))
    make(social_source, "acme refunds are slow", at=NOW - timedelta(minutes=2))
    make(social_source, "acme late delivery again", at=NOW - timedelta(minutes=3))
    make(social_source, "acme delivery was late", at=NOW - timedelta(minutes=4))
    make(social_source, "acmerefund is not a word", at=NOW - timedelta(minutes=5))
    assert run(acme, q="refund") == ["Acme refund took three weeks", "acme REFUND please"]
    assert run(acme, q='"late delivery"') == ["acme late delivery again"]
    assert run(acme, q="late delivery") == ["acme late delivery again", "acme delivery was late"]
    assert run(acme, q="refund or refunds") == [
        "Acme refund took three weeks",
        "acme REFUND please",
        "acme refunds are slow",
    ]
    assert run(acme, q="refund -please") == ["Acme refund took three weeks"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite fallback")
def test_sqlite_searches_a_case_insensitive_substring(acme, social_source):
    make(social_source, "Acme REFUND please", at=NOW)
    make(social_source, "acme refunds are slow", at=NOW - timedelta(minutes=1))
    make(social_source, "acme late", at=NOW - timedelta(minutes=2))
    assert run(acme, q="refund") == ["Acme REFUND please", "acme refunds are slow"]


def test_full_text_search_survives_any_input(acme, social_source):
    make(social_source, "acme fine")
    for q in ['"', "&&||!!", "():*", "-", "'; drop table x; --", "\\", "or", "a" * 200]:
        run(acme, q=q)  # no error: websearch_to_tsquery never raises a syntax error


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index is PostgreSQL's")
def test_full_text_search_can_use_the_gin_index(acme, social_source):
    make(social_source, "acme refund")
    assert search_index_catch_up() == 1
    with connection.cursor() as cursor:
        # A few rows make a sequential scan cheapest; forbid it to see the index is usable
        # (search_candidates asks the condition on its own, as here).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {search_ids_sql(10)}", ["refund", "refund"])
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "mentionsearch_document_gin" in plan, plan
    assert search_candidates(filters=ExplorerFilters(brand=acme, matched=acme, q="refund")) == list(
        Mention.objects.filter(text="acme refund").values_list("pk", flat=True)
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index is PostgreSQL's")
def test_the_term_filter_can_use_its_index(acme, social_source):
    make(social_source, "acme", terms=("acme",))
    # The explorer's term condition on its own (with the brand, PostgreSQL may pick either
    # index; this checks the GIN one can serve @>).
    qs = MentionMatch.objects.filter(matched_terms__contains=["acme"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = qs.explain()
    assert "explorer_match_terms_gin" in plan, plan


@pytest.mark.parametrize("cap", [0, 1, 5000])
def test_a_search_page_is_the_same_through_candidates_or_the_walk(
    acme, social_source, monkeypatch, cap
):
    """A rare word is answered from its mentions' ids, a common one by the walk (the cap
    decides); both give the rows explorer_matches gives, in the same order."""
    from dashboard.explorer import selectors

    monkeypatch.setattr(selectors, "SEARCH_CANDIDATES_MAX", cap)
    globex = Brand.objects.get(name="Globex")
    for n in range(8):
        make(social_source, f"acme refund {n}", at=NOW - timedelta(minutes=n), followers=n)
        make(social_source, f"globex refund {n}", brand=globex, at=NOW)
        make(social_source, f"acme other {n}", at=NOW)
    filters = ExplorerFilters(brand=acme, matched=acme, q="refund", sort="reach")
    rows, cursor = explorer_page(filters=filters)
    assert texts(rows) == [f"acme refund {n}" for n in range(7, -1, -1)]
    assert cursor is None
    candidates = selectors.search_candidates(filters=filters)
    if connection.vendor == "postgresql":
        # Both brands' mentions count towards the cap.
        assert candidates is None if cap < 16 else len(candidates) == 16


# -- sorts and pages ---------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes are PostgreSQL's")
@pytest.mark.parametrize(
    ("sort", "index"),
    [("reach", "explorer_mention_reach_idx"), ("engagement", "explorer_mention_engagement_idx")],
)
def test_the_reach_and_engagement_sorts_can_walk_their_indexes(acme, social_source, sort, index):
    make(social_source, "acme", followers=3, likes=1)
    qs = explorer_matches(filters=ExplorerFilters(brand=acme, matched=acme, sort=sort))
    with connection.cursor() as cursor:
        # Forbid what a few rows make cheapest (reading all and sorting) to see that the
        # index gives the page's whole order (same expression, ties by mention id).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        plan = qs[:51].explain()
    assert index in plan, plan
    assert "Sort" not in plan, plan


def test_it_sorts_by_time_reach_and_engagement(acme, social_source):
    make(social_source, "acme old big", at=NOW - timedelta(days=2), followers=5000, likes=1)
    make(social_source, "acme new small", at=NOW, followers=10, likes=3, replies=4, reposts=5)
    make(social_source, "acme mid unknown", at=NOW - timedelta(days=1))
    assert run(acme) == ["acme new small", "acme mid unknown", "acme old big"]
    assert run(acme, sort="oldest") == ["acme old big", "acme mid unknown", "acme new small"]
    assert run(acme, sort="reach") == ["acme old big", "acme new small", "acme mid unknown"]
    assert run(acme, sort="engagement") == ["acme new small", "acme old big", "acme mid unknown"]


@pytest.mark.parametrize("sort", ["newest", "oldest", "reach", "engagement"])
def test_keyset_pages_list_every_row_once_in_order_despite_ties(acme, social_source, sort):
    # 123 rows with many equal keys (same minute, same reach, same engagement).
    for n in range(123):
        make(
            social_source,
            f"acme row {n:03d}",
            at=NOW - timedelta(minutes=n // 7),
            followers=(n % 5) * 100 or None,
            likes=n % 3,
        )
    filters = ExplorerFilters(brand=acme, matched=acme, sort=sort)
    expected = texts(explorer_matches(filters=filters))
    seen, cursor, pages = [], None, 0
    while True:
        rows, cursor = explorer_page(filters=filters, after=cursor)
        pages += 1
        assert len(rows) <= PAGE_SIZE
        seen += texts(rows)
        if cursor is None:
            break
        # Cursors survive the round trip through a URL.
        cursor = Cursor.parse(str(cursor))
    assert pages == 3
    assert seen == expected and len(set(seen)) == 123


def test_the_next_link_walks_the_pages_and_the_last_page_says_so(
    client, marketer, acme, social_source
):
    for n in range(55):
        make(social_source, f"acme note {n:02d}", at=NOW - timedelta(minutes=n))
    client.force_login(marketer)
    first = client.get(EXPLORER, {"brand": acme.pk, "label": "neutral"})
    body = first.content.decode()
    assert "acme note 00" in body and "acme note 49" in body and "acme note 50" not in body
    assert "50+ mentions" in body
    next_href = first.context["next_query"]
    assert "label=neutral" in next_href and "after=" in next_href
    second = client.get(f"{EXPLORER}?{next_href}").content.decode()
    assert "acme note 50" in second and "acme note 54" in second and "acme note 49" not in second
    assert "Last page." in second and "First page" in second


def test_a_damaged_cursor_says_so_instead_of_500(client, marketer, acme, social_source):
    make(social_source, "acme here")
    client.force_login(marketer)
    response = client.get(EXPLORER, {"brand": acme.pk, "after": "garbage"})
    assert response.status_code == 200
    assert "This page link is damaged" in response.content.decode()
    huge = client.get(EXPLORER, {"brand": acme.pk, "after": f"{10**30}.1"})
    assert huge.status_code == 200


def test_the_page_runs_a_fixed_number_of_queries(
    client, agent, acme, social_source, django_assert_num_queries
):
    for n in range(60):
        match = make(social_source, f"acme {n}", handle=f"h{n}", at=NOW - timedelta(minutes=n))
        if n % 2:
            case = Case.objects.create(brand=acme, author=match.mention.author)
            CaseMention.objects.create(case=case, mention=match.mention, brand=acme)
    client.force_login(agent)
    # session, user, roles, brand, page rows, case ids, brands, competitors, sources.
    with django_assert_num_queries(9):
        response = client.get(EXPLORER, {"brand": acme.pk})
    assert response.content.decode().count("Case #") == 25


# -- the page: permissions, rows, escaping, empty states ---------------------------------


def test_roles_see_the_page_and_only_marketers_and_admins_export(
    client, marketer, agent, admin_user, outsider, acme, social_source
):
    make(social_source, "acme visible")
    for user, page, export in [
        (marketer, 200, 200),
        (admin_user, 200, 200),
        (agent, 200, 403),
        (outsider, 404, 404),
    ]:
        client.force_login(user)
        assert client.get(EXPLORER, {"brand": acme.pk}).status_code == page, user
        assert client.get(EXPORT, {"brand": acme.pk}).status_code == export, user
        if page == 200:
            body = client.get(EXPLORER, {"brand": acme.pk}).content.decode()
            assert "acme visible" in body
            assert ("Export all as CSV" in body) == (export == 200)


def test_an_outsider_without_a_brand_sees_their_own_and_cannot_pick_acmes_competitor(
    client, outsider, acme, other_brand, social_source
):
    make(social_source, "acme secret")
    globex = Brand.objects.get(name="Globex")
    client.force_login(outsider)
    body = client.get(EXPLORER).content.decode()
    assert "Initech" in body and "acme secret" not in body
    response = client.get(EXPLORER, {"brand": other_brand.pk, "matched": globex.pk})
    assert response.status_code == 404


def test_a_brand_that_is_not_a_competitor_cannot_be_matched(client, marketer, acme, other_brand):
    client.force_login(marketer)
    assert client.get(EXPLORER, {"brand": acme.pk, "matched": other_brand.pk}).status_code == 404
    assert client.get(EXPLORER, {"brand": "nope"}).status_code == 404


def test_a_row_shows_what_a_user_needs(client, marketer, acme, social_source, settings):
    settings.TIME_ZONE = "Asia/Kathmandu"  # +05:45
    make(
        social_source,
        "acme is wonderful",
        label="negative",
        scorer_label="positive",
        name="Carol Jones",
        handle="carol@social.example",
        followers=1234,
        likes=2,
        replies=3,
        at=datetime(2026, 3, 14, 23, 30, tzinfo=UTC),
    )
    client.force_login(marketer)
    body = client.get(EXPLORER, {"brand": acme.pk}).content.decode()
    assert "2026-03-15 05:15" in body  # the local time
    assert "Asia/Kathmandu" in body
    assert "<bdi>Carol Jones</bdi>" in body and "<bdi>carol@social.example</bdi>" in body
    assert 'negative <span class="muted">(corrected; vader: positive)</span>' in body
    assert ">1,234<" in body and ">5<" in body
    assert "author=carol%40social.example" in body  # the author drills down here


def test_the_page_names_the_users_zone_not_its_abbreviation(client, marketer, acme, social_source):
    from dashboard.timezones import SESSION_KEY

    client.force_login(marketer)
    session = client.session
    session[SESSION_KEY] = "Etc/GMT-14"  # its abbreviation is "+14", no zone of the list
    session.save()
    body = client.get(EXPLORER, {"brand": acme.pk}).content.decode()
    assert "From (Etc/GMT-14)" in body
    assert "<option selected>Etc/GMT-14</option>" in body
    assert "+14" not in body


def test_case_links_are_for_roles_that_may_open_cases(client, marketer, agent, acme, social_source):
    match = make(social_source, "acme filed")
    case = Case.objects.create(brand=acme, author=match.mention.author)
    CaseMention.objects.create(case=case, mention=match.mention, brand=acme)
    case_url = reverse("engagement:case", args=[case.pk])
    client.force_login(agent)
    assert case_url in client.get(EXPLORER, {"brand": acme.pk}).content.decode()
    client.force_login(marketer)
    body = client.get(EXPLORER, {"brand": acme.pk}).content.decode()
    assert case_url not in body and "in a case</td>" in body


def test_hostile_text_names_and_urls_are_escaped_and_never_links(
    client, marketer, acme, social_source
):
    make(
        social_source,
        HOSTILE,
        name='<b onmouseover="x">Eve</b> \u202eevil',
        handle="eve<script>",
        url="javascript:alert(1)",
    )
    client.force_login(marketer)
    body = client.get(EXPLORER, {"brand": acme.pk}).content.decode()
    assert "<script>alert" not in body and "<img src=x" not in body and "<b onmouseover" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "javascript:alert" not in body
    assert "<bdi>&lt;b onmouseover=&quot;x&quot;&gt;Eve&lt;/b&gt; \u202eevil</bdi>" in body
    assert "author=eve%3Cscript%3E" in body


def test_the_empty_states_say_why(client, marketer, acme, social_source):
    client.force_login(marketer)
    body = client.get(EXPLORER, {"brand": acme.pk}).content.decode()
    assert "No mentions of Acme yet" in body
    make(social_source, "acme exists", label="positive")
    body = client.get(EXPLORER, {"brand": acme.pk, "label": "negative"}).content.decode()
    assert "No mentions match these filters" in body
    assert f'href="?brand={acme.pk}">Clear filters' in body


def test_a_reversed_date_range_is_an_error_with_no_rows(client, marketer, acme, social_source):
    make(social_source, "acme here")
    client.force_login(marketer)
    response = client.get(
        EXPLORER, {"brand": acme.pk, "since": "2026-03-10", "until": "2026-03-01"}
    )
    body = response.content.decode()
    assert "start date is after the end date" in body and "acme here" not in body


def test_htmx_gets_the_results_fragment_only(client, marketer, acme, social_source):
    make(social_source, "acme fragment")
    client.force_login(marketer)
    body = client.get(EXPLORER, {"brand": acme.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert "acme fragment" in body and "<form" not in body and "<html" not in body


def test_explorer_url_writes_the_drill_down_contract(acme):
    url = explorer_url(brand=acme.pk, label="negative", since="2026-01-01", q="", sort=None)
    assert url == f"{EXPLORER}?brand={acme.pk}&label=negative&since=2026-01-01"
    with pytest.raises(ValueError, match="date_from"):
        explorer_url(date_from="2026-01-01")


def test_every_contract_parameter_filters_the_page(client, marketer, acme, social_source):
    """The names other pages link with really narrow the page (a typo would be ignored)."""
    rss = Source.objects.create(brand=acme, kind="rss", url="https://blog.example/feed")
    make(
        social_source,
        "acme decoy",
        label="positive",
        platform="bluesky",
        language="fr",
        handle="zed",
        terms=("@acme_help",),
        at=NOW - timedelta(days=40),
    )
    target = make(
        rss,
        "acme target refund",
        label="negative",
        platform="web",
        handle="amy",
        terms=("acme",),
        at=NOW,
    )
    case = Case.objects.create(brand=acme)
    CaseMention.objects.create(case=case, mention=target.mention, brand=acme)
    client.force_login(marketer)
    day = timezone.localdate(NOW).isoformat()
    for name, value in [
        ("label", "negative"),
        ("platform", "web"),
        ("source", rss.pk),
        ("lang", "en"),
        ("author", "amy"),
        ("term", "acme"),
        ("since", day),
        ("has_case", "yes"),
        ("q", "refund"),
    ]:
        body = client.get(explorer_url(brand=acme.pk, **{name: value})).content.decode()
        assert "acme target refund" in body and "acme decoy" not in body, name
    body = client.get(explorer_url(brand=acme.pk, until="2026-02-10")).content.decode()
    assert "acme decoy" in body and "acme target" not in body


# -- the CSV export ----------------------------------------------------------------------


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body, newline="")))


def test_the_export_streams_the_filtered_rows_with_reach_and_effective_label(
    client, marketer, acme, social_source
):
    make(
        social_source,
        "acme bad",
        label="negative",
        scorer_label="positive",
        followers=77,
        likes=1,
        replies=2,
        reposts=3,
    )
    make(social_source, "acme good", label="positive", followers=5)
    client.force_login(marketer)
    response = client.get(
        EXPORT, {"brand": acme.pk, "label": "negative", "since": "2026-03-01", "q": "bad"}
    )
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="acme-mentions-label-negative-q-bad-')
    assert "from-2026-03-01" in disposition
    rows = csv_rows(response)
    header = rows[0]
    for column in ("effective_label", "label", "reach", "engagement", "platform", "has_case"):
        assert column in header
    assert len(rows) == 2
    record = dict(zip(header, rows[1], strict=True))
    assert record["text"] == "acme bad"
    assert record["effective_label"] == "negative" and record["label"] == "positive"
    assert record["reach"] == "77" and record["engagement"] == "6"
    assert record["has_case"] == "no"


def test_the_export_neutralises_formulas_and_runs_no_query_per_row(
    client, marketer, acme, social_source, django_assert_max_num_queries
):
    make(social_source, '=HYPERLINK("http://evil") acme', name="@SUM(A1)", handle="+evil")
    for n in range(30):
        make(social_source, f"acme {n}", handle=f"u{n}")
    client.force_login(marketer)
    with django_assert_max_num_queries(8):
        rows = csv_rows(client.get(EXPORT, {"brand": acme.pk}))
    assert len(rows) == 32
    header = rows[0]
    evil = next(dict(zip(header, r, strict=True)) for r in rows[1:] if "HYPERLINK" in r[8])
    assert evil["text"].startswith("'=HYPERLINK")
    assert evil["author"] == "'@SUM(A1)"


def test_an_invalid_export_is_a_400_page(client, marketer, acme):
    client.force_login(marketer)
    response = client.get(EXPORT, {"brand": acme.pk, "since": "2026-03-10", "until": "2026-03-01"})
    assert response.status_code == 400


def test_the_page_works_in_the_zone_chosen_on_the_dashboard(client, marketer, acme, social_source):
    make(social_source, "acme late utc", at=datetime(2026, 3, 14, 23, 30, tzinfo=UTC))
    client.force_login(marketer)
    session = client.session
    session["earshot_tz"] = "Asia/Kolkata"
    session.save()
    body = client.get(EXPLORER, {"brand": acme.pk, "since": "2026-03-15"}).content.decode()
    assert "acme late utc" in body and "2026-03-15 05:00" in body and "Asia/Kolkata" in body
    session["earshot_tz"] = "America"  # a directory of the tz database, not a zone
    session.save()
    body = client.get(EXPLORER, {"brand": acme.pk, "since": "2026-03-15"}).content.decode()
    assert "No mentions match" in body  # back in TIME_ZONE (UTC): the 14th


def test_the_charted_pages_are_tabs_for_roles_that_may_open_them(
    client, marketer, agent, acme, social_source
):
    make(social_source, "acme here")
    client.force_login(marketer)
    body = client.get(EXPLORER, {"brand": acme.pk, "since": "2026-03-01"}).content.decode()
    overview = reverse("dashboard:overview")
    assert f'href="{overview}?brand={acme.pk}&amp;since=2026-03-01"' in body
    assert 'aria-current="page">Mentions</a>' in body
    client.force_login(agent)
    body = client.get(EXPLORER, {"brand": acme.pk}).content.decode()
    assert overview not in body and "acme here" in body


def test_the_time_zone_chosen_here_is_kept_for_the_explorer(client, marketer, acme, social_source):
    make(social_source, "acme late utc", at=datetime(2026, 3, 14, 23, 30, tzinfo=UTC))
    client.force_login(marketer)
    page = f"{EXPLORER}?brand={acme.pk}"
    response = client.post(reverse("dashboard:timezone"), {"tz": "Asia/Kathmandu", "next": page})
    assert response.status_code == 302 and response["Location"] == page
    body = client.get(page).content.decode()
    assert "2026-03-15 05:15" in body and "<option selected>Asia/Kathmandu</option>" in body


def test_column_headers_sort_and_keep_the_filters(client, marketer, acme, social_source):
    make(social_source, "acme small", followers=1, at=NOW)
    make(social_source, "acme big", followers=900, at=NOW - timedelta(days=1))
    client.force_login(marketer)
    body = client.get(EXPLORER, {"brand": acme.pk, "label": "neutral"}).content.decode()
    assert body.index("acme small") < body.index("acme big")
    assert f'href="?brand={acme.pk}&amp;label=neutral&amp;sort=reach"' in body
    assert 'aria-sort="descending"><a' in body
    body = client.get(EXPLORER, {"brand": acme.pk, "label": "neutral", "sort": "reach"}).content
    body = body.decode()
    assert body.index("acme big") < body.index("acme small")
    assert f'href="?brand={acme.pk}&amp;label=neutral&amp;sort=newest"' in body


def test_switching_workspace_reloads_the_page_and_the_brand_itself_is_the_default(
    client, marketer, acme, other_brand, social_source
):
    from brands.models import Membership

    Membership.objects.create(user=marketer, brand=other_brand, role=Membership.Role.MARKETER)
    make(social_source, "acme here")
    client.force_login(marketer)
    body = client.get(EXPLORER, {"brand": acme.pk}).content.decode()
    assert 'class="dash-tz explorer-workspace"' in body
    assert f'<option value="{other_brand.pk}">Initech</option>' in body
    # The filter form sends matched="" for the brand itself, whatever the workspace.
    assert '<option value="">Acme</option>' in body
    response = client.get(EXPLORER, {"brand": other_brand.pk, "matched": ""})
    assert response.status_code == 200 and "No mentions of Initech yet" in response.content.decode()
