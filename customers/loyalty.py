"""The loyalty panel (issue 14): the brand's loyalists (customers with a confirmed author)
against the rest of its customer base, so a difference is never claimed from a handful.

Per group: customers, average orders per customer, average spend per customer (per currency:
amounts in different currencies are never added), and the repeat share (customers with 2 or
more orders). Intervals are 95%: Student's t for the two averages (mean +- t(0.975, n-1) *
s / sqrt(n)), Wilson's score interval for the share; the differences use Welch's t and
Newcombe's hybrid Wilson interval. A group smaller than EARSHOT_LOYALTY_MIN_GROUP makes the
comparison "too few to compare": the figures are shown, no difference is stated.

Customers with no orders count as 0 orders and 0 spend. Sums and sums of squares are
computed in SQL (two grouped queries), so the panel reads no per-customer rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection

from customers.models import AuthorMatch, Customer, Order

Z95 = 1.959963984540054
GROUPS = ("loyalists", "rest")


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None

    @property
    def is_known(self) -> bool:
        return self.value is not None


UNKNOWN = Estimate(None, None, None)


@dataclass(frozen=True)
class Moments:
    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        if self.n < 2:
            return None
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1))


def t_quantile(df: float) -> float:
    """Student's t 97.5th percentile: scipy's (installed with scikit-learn), else exact for 1
    and 2 degrees of freedom and the Cornish-Fisher expansion above (within 0.004 at 3, 3e-4
    at 5, 1e-5 at 10 degrees of freedom)."""
    try:
        from scipy.stats import t  # imported here: only this panel needs it
    except ImportError:
        return _t_quantile_approx(df)
    return float(t.ppf(0.975, df))


def _t_quantile_approx(df: float) -> float:
    if df <= 1:
        return math.tan(math.pi * 0.475)
    if df <= 2:
        return 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))
    z = Z95
    terms = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    return z + sum(term / df ** (i + 1) for i, term in enumerate(terms))


def mean_interval(m: Moments) -> Estimate:
    """Student's t 95% interval of a mean (None bounds below 2 people)."""
    if m.n == 0:
        return UNKNOWN
    if m.n < 2:
        return Estimate(m.mean, None, None)
    half = t_quantile(m.n - 1) * math.sqrt(m.variance / m.n)
    return Estimate(m.mean, m.mean - half, m.mean + half)


def wilson_interval(successes: int, n: int) -> Estimate:
    if n == 0:
        return UNKNOWN
    p = successes / n
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half))


def welch_difference(a: Moments, b: Moments) -> Estimate:
    """a's mean minus b's, with Welch's 95% interval."""
    if a.n < 2 or b.n < 2:
        return UNKNOWN
    va, vb = a.variance / a.n, b.variance / b.n
    diff = a.mean - b.mean
    if va + vb == 0:
        return Estimate(diff, diff, diff)
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    half = t_quantile(df) * math.sqrt(va + vb)
    return Estimate(diff, diff - half, diff + half)


def newcombe_difference(sa: int, na: int, sb: int, nb: int) -> Estimate:
    """Share a minus share b, with Newcombe's hybrid score 95% interval (method 10)."""
    if na == 0 or nb == 0:
        return UNKNOWN
    a, b = wilson_interval(sa, na), wilson_interval(sb, nb)
    diff = a.value - b.value
    low = diff - math.sqrt((a.value - a.low) ** 2 + (b.high - b.value) ** 2)
    high = diff + math.sqrt((a.high - a.value) ** 2 + (b.value - b.low) ** 2)
    return Estimate(diff, low, high)


@dataclass
class Group:
    name: str
    customers: int = 0
    orders: Moments = field(default_factory=lambda: Moments(0, 0.0, 0.0))
    repeat: int = 0
    spend: dict[str, Moments] = field(default_factory=dict)  # currency -> per-customer spend

    @property
    def orders_per_customer(self) -> Estimate:
        return mean_interval(self.orders)

    @property
    def repeat_share(self) -> Estimate:
        return wilson_interval(self.repeat, self.customers)

    def average_spend(self, currency: str) -> Estimate:
        return mean_interval(self.spend.get(currency, Moments(self.customers, 0.0, 0.0)))


@dataclass
class LoyaltyPanel:
    loyalists: Group
    rest: Group
    currencies: list[str]
    min_group: int

    @property
    def too_few(self) -> bool:
        return min(self.loyalists.customers, self.rest.customers) < self.min_group

    def rows(self) -> list[dict]:
        """One row per figure: both groups' estimates and sizes and the difference (None
        when there are too few to compare). The page and the CSV export show these."""
        a, b = self.loyalists, self.rest
        rows = [
            (
                "Orders per customer",
                "",
                a.orders_per_customer,
                b.orders_per_customer,
                welch_difference(a.orders, b.orders),
            ),
            (
                "Repeat share (2+ orders)",
                "",
                a.repeat_share,
                b.repeat_share,
                newcombe_difference(a.repeat, a.customers, b.repeat, b.customers),
            ),
        ]
        for currency in self.currencies:
            sa = a.spend.get(currency, Moments(a.customers, 0.0, 0.0))
            sb = b.spend.get(currency, Moments(b.customers, 0.0, 0.0))
            rows.append(
                (
                    f"Average spend per customer ({currency})",
                    currency,
                    mean_interval(sa),
                    mean_interval(sb),
                    welch_difference(sa, sb),
                )
            )
        return [
            {
                "figure": label,
                "currency": currency,
                "loyalists": left,
                "loyalists_n": a.customers,
                "rest": right,
                "rest_n": b.customers,
                "difference": None if self.too_few else diff,
                "is_different": (
                    not self.too_few
                    and diff.is_known
                    and diff.low is not None
                    and (diff.low > 0 or diff.high < 0)
                ),
            }
            for label, currency, left, right, diff in rows
        ]


def _loyal_sql() -> str:
    return (
        f"EXISTS (SELECT 1 FROM {AuthorMatch._meta.db_table} m WHERE m.customer_id = c.id"  # noqa: S608
        " AND m.status = 'confirmed')"
    )


def loyalty_panel(*, brand_id: int) -> LoyaltyPanel:
    """The panel's figures for one brand (three queries)."""
    customers, orders = Customer._meta.db_table, Order._meta.db_table
    groups = {True: Group("loyalists"), False: Group("rest")}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT loyal, COUNT(*), SUM(n), SUM(n * n), SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END)"  # noqa: S608
            f" FROM (SELECT c.id, {_loyal_sql()} AS loyal,"
            f" (SELECT COUNT(*) FROM {orders} o WHERE o.customer_id = c.id) AS n"
            f" FROM {customers} c WHERE c.brand_id = %s) per GROUP BY loyal",
            [brand_id],
        )
        for loyal, count, total, squares, repeat in cursor.fetchall():
            group = groups[bool(loyal)]
            group.customers = count
            group.orders = Moments(count, float(total or 0), float(squares or 0))
            group.repeat = int(repeat or 0)
        cursor.execute(
            "SELECT loyal, currency, SUM(spent), SUM(spent * spent) FROM"  # noqa: S608
            f" (SELECT c.id, {_loyal_sql()} AS loyal, o.currency, SUM(o.amount) AS spent"
            f" FROM {customers} c JOIN {orders} o ON o.customer_id = c.id"
            " WHERE c.brand_id = %s GROUP BY c.id, o.currency) per GROUP BY loyal, currency",
            [brand_id],
        )
        currencies: set[str] = set()
        for loyal, currency, total, squares in cursor.fetchall():
            group = groups[bool(loyal)]
            currencies.add(currency)
            group.spend[currency] = Moments(
                group.customers, float(Decimal(total or 0)), float(Decimal(squares or 0))
            )
    return LoyaltyPanel(
        loyalists=groups[True],
        rest=groups[False],
        currencies=sorted(currencies),
        min_group=settings.EARSHOT_LOYALTY_MIN_GROUP,
    )
