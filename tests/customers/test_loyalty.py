"""The loyalty panel (customers.loyalty) against figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from customers.loyalty import loyalty_panel, wilson_interval
from customers.models import AuthorMatch, Customer, Order
from listening.models import Author

pytestmark = pytest.mark.django_db
T_975_2 = 4.302652729911275  # Student's t, 97.5th percentile, 2 degrees of freedom (tables)


@pytest.fixture
def base(acme):
    """Loyalists L1 (EUR 10 + 20), L2 (EUR 50), L3 (no order); the rest R1 (EUR 5 x 3),
    R2 (USD 100), R3 (no order), R4 (EUR 10). One rejected suggestion (R3): not a loyalist."""
    made = {}
    for cid in ("L1", "L2", "L3", "R1", "R2", "R3", "R4"):
        made[cid] = Customer.objects.create(brand=acme, customer_id=cid)
    orders = {"L1": ["10", "20"], "L2": ["50"], "R1": ["5", "5", "5"], "R4": ["10"]}
    n = 0
    for cid, amounts in orders.items():
        for amount in amounts:
            n += 1
            Order.objects.create(
                brand=acme, order_id=f"o{n}", customer=made[cid], amount=Decimal(amount),
                currency="EUR", ordered_at=datetime(2025, 1, n, tzinfo=UTC),
            )  # fmt: skip
    Order.objects.create(
        brand=acme, order_id="usd", customer=made["R2"], amount=Decimal(100), currency="USD",
        ordered_at=datetime(2025, 2, 1, tzinfo=UTC),
    )  # fmt: skip
    for i, cid in enumerate(("L1", "L2", "L3", "R3")):
        a = Author.objects.create(platform="mastodon", handle=f"a{i}@social.example")
        status = "rejected" if cid == "R3" else "confirmed"
        AuthorMatch.objects.create(
            brand=acme, customer=made[cid], author=a, kind="exact", rule="handle",
            confidence=1.0, status=status,
        )  # fmt: skip
    return made


def test_group_sizes_averages_and_intervals_match_the_hand_computed_values(acme, base, settings):
    settings.EARSHOT_LOYALTY_MIN_GROUP = 3
    panel = loyalty_panel(brand_id=acme.pk)
    rows = {row["figure"]: row for row in panel.rows()}

    assert (panel.loyalists.customers, panel.rest.customers) == (3, 4)
    assert panel.currencies == ["EUR", "USD"]
    assert not panel.too_few

    orders = rows["Orders per customer"]
    # Loyalists 2, 1, 0 orders: mean 1, sd 1, half-width t(2) / sqrt(3).
    assert orders["loyalists"].value == pytest.approx(1.0)
    half = T_975_2 / 3**0.5
    assert orders["loyalists"].low == pytest.approx(1 - half)
    assert orders["loyalists"].high == pytest.approx(1 + half)
    # Rest 3, 1, 0, 1: mean 1.25.
    assert orders["rest"].value == pytest.approx(1.25)
    # Welch: variances 1 and 19/12 -> standard error sqrt(1/3 + 19/48) = 0.8539, df 4.93,
    # t about 2.58: half-width about 2.20. The interval holds 0: no clear difference.
    assert orders["difference"].value == pytest.approx(-0.25)
    assert orders["difference"].high - orders["difference"].value == pytest.approx(2.20, abs=0.01)
    assert orders["is_different"] is False

    repeat = rows["Repeat share (2+ orders)"]
    # 1 of 3 and 1 of 4; Wilson's interval for 1 of 3 is [0.0615, 0.7923] (tables).
    assert repeat["loyalists"].value == pytest.approx(1 / 3)
    assert repeat["loyalists"].low == pytest.approx(0.0615, abs=1e-4)
    assert repeat["loyalists"].high == pytest.approx(0.7923, abs=1e-4)
    assert repeat["rest"].value == pytest.approx(0.25)

    eur = rows["Average spend per customer (EUR)"]
    # Loyalists 30, 50, 0 -> 26.67; the rest 15, 0, 0, 10 -> 6.25 (the USD order is apart).
    assert eur["loyalists"].value == pytest.approx(80 / 3)
    assert eur["rest"].value == pytest.approx(6.25)
    assert (eur["loyalists_n"], eur["rest_n"]) == (3, 4)
    usd = rows["Average spend per customer (USD)"]
    assert (usd["loyalists"].value, usd["rest"].value) == (0.0, 25.0)


def test_small_groups_are_too_few_to_compare(acme, base, settings):
    settings.EARSHOT_LOYALTY_MIN_GROUP = 30
    panel = loyalty_panel(brand_id=acme.pk)
    assert panel.too_few
    assert all(row["difference"] is None and not row["is_different"] for row in panel.rows())


def test_a_brand_without_customers_has_no_figures(acme):
    panel = loyalty_panel(brand_id=acme.pk)
    assert (panel.loyalists.customers, panel.rest.customers) == (0, 0)
    rows = panel.rows()
    assert [r["figure"] for r in rows] == ["Orders per customer", "Repeat share (2+ orders)"]
    assert rows[0]["loyalists"].value is None


def test_wilson_at_the_edges():
    assert wilson_interval(0, 10).low == 0.0
    # 10 of 10: [0.7225, 1] (tables).
    assert wilson_interval(10, 10).high == pytest.approx(1.0)
    assert wilson_interval(10, 10).low == pytest.approx(0.7225, abs=1e-4)
    assert wilson_interval(0, 0).value is None


@pytest.mark.parametrize(
    ("df", "table", "tolerance"),
    [
        (1, 12.7062, 1e-4),
        (2, 4.3027, 1e-4),
        (3, 3.1824, 0.004),
        (5, 2.5706, 3e-4),
        (30, 2.0423, 1e-4),
    ],
)
def test_the_t_percentile_without_scipy_is_close_to_the_tables(df, table, tolerance):
    from customers.loyalty import _t_quantile_approx, t_quantile

    assert _t_quantile_approx(df) == pytest.approx(table, abs=tolerance)
    assert t_quantile(df) == pytest.approx(table, abs=1e-4)
