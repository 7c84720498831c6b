"""The referral figures (tracking/selectors.py) against values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from engagement.models import Case
from tests.tracking.conftest import store_mention
from tracking.models import Click, Conversion, TrackedLink
from tracking.selectors import (
    Referrals,
    converted_author_ids,
    referral_breakdown,
    referral_totals,
)
from tracking.services import link_create

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 8, tzinfo=UTC)


def at(day: int, hour: int = 12, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _case(brand, source, handle: str) -> Case:
    mention = store_mention(source, f"acme help {handle}", author_handle=handle)
    return Case.objects.create(
        brand=brand, author=mention.author, opened_at=mention.published_at, subject="help"
    )


_tokens = iter(range(10_000))


def click(link: TrackedLink, when: datetime, *, bot: bool = False) -> Click:
    return Click.objects.create(
        link=link,
        brand_id=link.brand_id,
        case_id=link.case_id,
        author_id=link.author_id,
        campaign=link.campaign,
        token=f"t{next(_tokens)}",
        at=when,
        is_bot=bot,
        agent_family="bot" if bot else "desktop",
    )


def sale(of: Click, order: str, amount: str, currency: str, when: datetime, *, verified: bool):
    Conversion.objects.create(
        brand_id=of.brand_id,
        click=of,
        order_id=order,
        amount=Decimal(amount),
        currency=currency,
        at=when,
        channel="postback" if verified else "pixel",
        is_verified=verified,
    )


@pytest.fixture
def world(shop, social_source, agent, teammate, marketer, other_brand):
    """Three links, seven clicks, five sales; the figures below are counted from this list.

    L1 case 1 (carol), by ana, "winter": c1 11-02, c2 11-03, c3 11-03 bot, c4 10-31 (before)
    L2 case 2 (dave), by tom, "winter":  c5 11-05
    L3 no case, by mia, "launch":        c6 11-06, c7 11-07
    O1 c1 100.00 EUR 11-02 signed; O2 c4 50.00 EUR 11-01 pixel; O3 c5 20.00 USD 11-05 signed;
    O4 c6 30.50 EUR 11-08 00:00 (the range's end: out); O5 c7 10.00 EUR 11-07 signed.
    And Initech, whose click and sale are never Acme's.
    """
    carol = _case(shop, social_source, "carol@social.example")
    dave = _case(shop, social_source, "dave@social.example")
    l1 = link_create(
        brand=shop,
        target_url="https://acme.example/a",
        campaign="winter",
        case=carol,
        created_by=agent,
    )
    l2 = link_create(
        brand=shop,
        target_url="https://acme.example/b",
        campaign="winter",
        case=dave,
        created_by=teammate,
    )
    l3 = link_create(
        brand=shop, target_url="https://acme.example/c", campaign="launch", created_by=marketer
    )
    c1, _c2, _c3, c4 = (
        click(l1, at(2)),
        click(l1, at(3)),
        click(l1, at(3), bot=True),
        click(l1, at(31, month=10)),
    )
    c5 = click(l2, at(5))
    c6, c7 = click(l3, at(6)), click(l3, at(7))
    sale(c1, "O1", "100.00", "EUR", at(2, 13), verified=True)
    sale(c4, "O2", "50.00", "EUR", at(1, 9), verified=False)
    sale(c5, "O3", "20.00", "USD", at(5, 14), verified=True)
    sale(c6, "O4", "30.50", "EUR", at(8, 0), verified=True)
    sale(c7, "O5", "10.00", "EUR", at(7, 18), verified=True)

    initech_link = TrackedLink.objects.create(
        brand=other_brand, code="initech1", target_url="https://initech.example/"
    )
    initech_click = click(initech_link, at(3))
    sale(initech_click, "O1", "999.00", "EUR", at(3), verified=True)
    return {
        "carol": carol,
        "dave": dave,
        "l1": l1,
        "l2": l2,
        "l3": l3,
        "ana": agent,
        "tom": teammate,
    }


def test_the_brands_totals(world, shop, django_assert_num_queries):
    with django_assert_num_queries(2):
        figures = referral_totals(brand_id=shop.pk, start=START, end=END)

    assert figures == Referrals(
        clicks=5,  # c1 c2 c5 c6 c7 (c3 is a bot, c4 before the range)
        bot_clicks=1,
        conversions=4,  # O1 O2 O3 O5 (O4 on the range's end, excluded)
        verified_conversions=3,  # O2 came by pixel
        revenue={"EUR": Decimal("160.000"), "USD": Decimal("20.000")},
        verified_revenue={"EUR": Decimal("110.000"), "USD": Decimal("20.000")},
    )
    assert figures.as_json()["revenue"] == {"EUR": "160.000", "USD": "20.000"}


def test_per_case(world, shop):
    figures = referral_breakdown(brand_id=shop.pk, start=START, end=END, by="case")

    assert figures == {
        world["carol"].pk: Referrals(
            clicks=2,
            bot_clicks=1,
            conversions=2,
            verified_conversions=1,
            revenue={"EUR": Decimal("150.000")},
            verified_revenue={"EUR": Decimal("100.000")},
        ),
        world["dave"].pk: Referrals(
            clicks=1,
            conversions=1,
            verified_conversions=1,
            revenue={"USD": Decimal("20.000")},
            verified_revenue={"USD": Decimal("20.000")},
        ),
        None: Referrals(
            clicks=2,
            conversions=1,
            verified_conversions=1,
            revenue={"EUR": Decimal("10.000")},
            verified_revenue={"EUR": Decimal("10.000")},
        ),
    }


def test_per_campaign(world, shop):
    figures = referral_breakdown(brand_id=shop.pk, start=START, end=END, by="campaign")

    assert {k: (v.clicks, v.conversions, v.revenue) for k, v in figures.items()} == {
        "winter": (3, 3, {"EUR": Decimal("150.000"), "USD": Decimal("20.000")}),
        "launch": (2, 1, {"EUR": Decimal("10.000")}),
    }


def test_per_agent_counts_links_written_on_cases_only(world, shop):
    figures = referral_breakdown(brand_id=shop.pk, start=START, end=END, by="agent")

    assert {k: (v.clicks, v.conversions, v.revenue) for k, v in figures.items()} == {
        world["ana"].pk: (2, 2, {"EUR": Decimal("150.000")}),
        world["tom"].pk: (1, 1, {"USD": Decimal("20.000")}),
    }


def test_per_link(world, shop):
    figures = referral_breakdown(brand_id=shop.pk, start=START, end=END, by="link")

    assert {k: (v.clicks, v.conversions) for k, v in figures.items()} == {
        world["l1"].pk: (2, 2),
        world["l2"].pk: (1, 1),
        world["l3"].pk: (2, 1),
    }


def test_the_authors_with_a_tracked_link_sale(world, shop):
    assert converted_author_ids(brand_id=shop.pk, start=START, end=END) == {
        world["carol"].author_id,
        world["dave"].author_id,
    }
    # Only O4 (no author: a campaign link) in the day after the range.
    assert converted_author_ids(brand_id=shop.pk, start=END, end=at(9)) == set()


def test_a_range_with_nothing_is_zero_and_no_currency(world, shop):
    figures = referral_totals(brand_id=shop.pk, start=at(20), end=at(21))

    assert figures == Referrals()
