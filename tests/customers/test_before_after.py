"""Chicken or egg (customers.before_after) against hand-computed figures."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from customers.before_after import before_after
from customers.models import AuthorMatch, Customer, Order
from engagement.models import Case
from listening.models import Author

pytestmark = pytest.mark.django_db


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def shop(acme, settings):
    settings.EARSHOT_BEFORE_AFTER_DAYS = 30
    settings.EARSHOT_LOYALTY_MIN_GROUP = 1
    customers = {
        cid: Customer.objects.create(brand=acme, customer_id=cid)
        for cid in ("A", "B", "L", "C1", "C2", "C3")
    }
    orders = {
        # Answered on 1 March: before = [30 Jan, 1 Mar), after = [1 Mar, 31 Mar).
        "A": [("2025-01-05", 10), ("2025-02-10", 20), ("2025-03-05", 30), ("2025-03-20", 40),
              ("2025-05-01", 99)],
        # First answered in 2024: outside the range, whatever came later.
        "B": [("2025-01-07", 1), ("2025-03-02", 1)],
        # A loyalist never answered: not a control (has social contact).
        "L": [("2025-01-08", 500), ("2025-03-02", 500)],
        # Same cohort (January 2025), no contact: the controls.
        "C1": [("2025-01-10", 5), ("2025-02-15", 5), ("2025-03-10", 15)],
        "C2": [("2025-01-20", 8)],
        # Another cohort: left out.
        "C3": [("2024-12-01", 1), ("2025-03-03", 100)],
    }  # fmt: skip
    n = 0
    for cid, rows in orders.items():
        for when, amount in rows:
            n += 1
            Order.objects.create(
                brand=acme,
                order_id=f"o{n}",
                customer=customers[cid],
                ordered_at=day(when),
                amount=Decimal(amount),
                currency="EUR",
            )
    Order.objects.create(
        brand=acme,
        order_id="usd",
        customer=customers["C1"],
        ordered_at=day("2025-03-11"),
        amount=Decimal(1000),
        currency="USD",
    )
    answers = {"A": ["2025-03-01", "2025-03-15"], "B": ["2024-06-01", "2025-03-01"], "L": []}
    for i, (cid, firsts) in enumerate(answers.items()):
        author = Author.objects.create(platform="mastodon", handle=f"p{i}@social.example")
        AuthorMatch.objects.create(
            brand=acme,
            customer=customers[cid],
            author=author,
            kind="exact",
            rule="handle",
            confidence=1,
            status="confirmed",
        )
        for first in firsts:
            Case.objects.create(
                brand=acme, author=author, opened_at=day(first), subject="help",
                status=Case.Status.RESOLVED, priority=1.0, priority_band="low",
                first_response_at=day(first),
            )  # fmt: skip
    # An unanswered case (no first response) does not count.
    Case.objects.create(brand=acme, author=author, opened_at=day("2025-02-01"), subject="x",
                        status=Case.Status.OPEN, priority=1.0, priority_band="low")  # fmt: skip
    return customers


def test_the_figures_match_the_hand_computed_ones(acme, shop):
    figures = before_after(brand_id=acme.pk, since=day("2025-01-01"), until=day("2026-01-01"))

    assert (figures.days, figures.currency) == (30, "EUR")
    assert (figures.answered, figures.compared, figures.controls) == (1, 1, 2)
    # A: 1 order (20) before, 2 orders (30 + 40) after.
    assert figures.customers.orders_before == [1] and figures.customers.orders_after == [2]
    assert figures.customers.spend_before == [20] and figures.customers.spend_after == [70]
    # C1 and C2: before 1 order (5) between them, after 2 orders (15 EUR + 1000 USD, which
    # counts as an order but not as spend): halves per control.
    assert figures.control.orders_before == [0.5] and figures.control.orders_after == [1.0]
    assert figures.control.spend_before == [2.5] and figures.control.spend_after == [7.5]
    # (2 - 1) - (1 - 0.5) and (70 - 20) - (7.5 - 2.5).
    assert figures.did_orders.value == pytest.approx(0.5)
    assert figures.did_spend.value == pytest.approx(45.0)
    assert figures.did_orders.low is None  # one customer: no interval
    assert not figures.too_few


def test_nobody_answered_in_the_range(acme, shop):
    figures = before_after(brand_id=acme.pk, since=day("2023-01-01"), until=day("2024-01-01"))
    assert (figures.answered, figures.compared) == (0, 0)
    assert figures.did_orders.value is None


def test_the_page_shows_the_comparison_to_admins_only(acme, shop, admin_user, marketer):
    client = Client()
    client.force_login(admin_user)
    query = {"brand": acme.pk, "since": "2025-01-01", "until": "2025-12-31"}
    body = client.get(reverse("customers:before-after"), query).content.decode()
    assert "1 customer had their first answered case in this range" in body
    assert "(2 such customers)" in body
    assert "45.00" in body and "0.50" in body
    client.force_login(marketer)
    assert client.get(reverse("customers:before-after"), query).status_code == 403
