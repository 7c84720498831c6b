"""Chicken or egg? (issue 14): do customers buy more after the brand answered them?

For each customer whose first answered case (the earliest first_response_at of a case of
the brand opened by one of their confirmed authors) falls in the range: their orders and
spend in the N days before that moment against the N days after (N =
EARSHOT_BEFORE_AFTER_DAYS). Beside them, the same two windows around the same moment for
comparable customers with no social contact: customers with no confirmed author whose first
order fell in the same calendar month (UTC) as the answered customer's (the first-order
cohort). Each answered customer gets the average of their cohort's controls, so the
comparison is paired; the per-customer difference in differences,
(after - before) - (controls' after - controls' before), is averaged with a Student's t 95%
interval. An observational comparison: answered customers chose to talk to the brand.

Spend is counted in the brand's main currency (the one most of its orders use); orders in
other currencies count as orders but not as spend. Reads: the brand's matches, cases, and
first orders in a few grouped queries, then the orders inside the windows only.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Min

from customers.loyalty import Estimate, Moments, mean_interval
from customers.models import AuthorMatch, Order


def first_answers(*, brand_id: int) -> dict[int, datetime]:
    """{customer pk: first answered case's first response} over the brand's confirmed
    authors. engagement is looked up by name, not imported: it sits beside customers and
    may read customers itself (tests/test_import_graph.py), as listening's import_mentions
    calls engagement's route_cases by name."""
    case_model = apps.get_model("engagement", "Case")
    authors: dict[int, list[int]] = defaultdict(list)
    for customer_id, author_id in AuthorMatch.objects.filter(
        brand_id=brand_id, status=AuthorMatch.Status.CONFIRMED
    ).values_list("customer_id", "author_id"):
        authors[author_id].append(customer_id)
    if not authors:
        return {}
    firsts = (
        case_model.objects.filter(
            brand_id=brand_id, author_id__in=list(authors), first_response_at__isnull=False
        )
        .values("author_id")
        .annotate(first=Min("first_response_at"))
        .values_list("author_id", "first")
    )
    found: dict[int, datetime] = {}
    for author_id, first in firsts:
        for customer_id in authors[author_id]:
            if customer_id not in found or first < found[customer_id]:
                found[customer_id] = first
    return found


@dataclass
class Side:
    """One side (answered customers or their controls): per answered customer, orders and
    spend before and after."""

    orders_before: list[float] = field(default_factory=list)
    orders_after: list[float] = field(default_factory=list)
    spend_before: list[float] = field(default_factory=list)
    spend_after: list[float] = field(default_factory=list)

    @staticmethod
    def mean(values: list[float]) -> Estimate:
        n = len(values)
        return mean_interval(Moments(n, sum(values), sum(v * v for v in values)))


@dataclass
class BeforeAfter:
    days: int
    currency: str
    answered: int  # customers whose first answer fell in the range
    compared: int  # of them, those with a first order and at least one control
    controls: int  # distinct control customers used
    customers: Side
    control: Side
    did_orders: Estimate
    did_spend: Estimate
    min_group: int

    @property
    def too_few(self) -> bool:
        return self.compared < self.min_group


def _month(moment: datetime) -> tuple[int, int]:
    return (moment.year, moment.month)


class _Timeline:
    """Orders of a set of customers as sorted times with running sums: counts and spend in
    any window by bisection."""

    def __init__(self, rows: list[tuple[datetime, float]]) -> None:
        rows.sort()
        self.times = [t for t, _ in rows]
        self.spend = [0.0, *accumulate(a for _, a in rows)]

    def window(self, start: datetime, end: datetime) -> tuple[int, float]:
        lo = bisect.bisect_left(self.times, start)
        hi = bisect.bisect_left(self.times, end)
        return hi - lo, self.spend[hi] - self.spend[lo]


def before_after(
    *, brand_id: int, since: datetime, until: datetime, days: int | None = None
) -> BeforeAfter:
    """The comparison for customers first answered in [since, until)."""
    days = days or settings.EARSHOT_BEFORE_AFTER_DAYS
    span = timedelta(days=days)
    min_group = settings.EARSHOT_LOYALTY_MIN_GROUP
    answered = {c: t for c, t in first_answers(brand_id=brand_id).items() if since <= t < until}
    orders = Order.objects.filter(brand_id=brand_id)
    currency = (
        orders.values("currency")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("currency", flat=True)
        .first()
        or ""
    )
    if not answered:
        unknown = Side.mean([])
        return BeforeAfter(days, currency, 0, 0, 0, Side(), Side(), unknown, unknown, min_group)
    loyal = set(
        AuthorMatch.objects.filter(
            brand_id=brand_id, status=AuthorMatch.Status.CONFIRMED
        ).values_list("customer_id", flat=True)
    )
    cohort_of = {
        customer: _month(first)
        for customer, first in orders.values("customer_id")
        .annotate(first=Min("ordered_at"))
        .values_list("customer_id", "first")
    }
    wanted = {cohort_of[c] for c in answered if c in cohort_of}
    controls_by_cohort: dict[tuple[int, int], list[int]] = defaultdict(list)
    for customer, cohort in cohort_of.items():
        if cohort in wanted and customer not in loyal:
            controls_by_cohort[cohort].append(customer)
    start = min(answered.values()) - span
    end = max(answered.values()) + span
    # Only the orders inside some window: the answered customers' and their cohorts' controls'.
    control_ids = {c for ids in controls_by_cohort.values() for c in ids}
    own: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
    pooled: dict[tuple[int, int], list[tuple[datetime, float]]] = defaultdict(list)
    rows = orders.filter(
        customer_id__in=[*answered, *control_ids], ordered_at__gte=start, ordered_at__lt=end
    ).values_list("customer_id", "ordered_at", "amount", "currency")
    for customer, moment, amount, cur in rows.iterator(chunk_size=5000):
        value = float(amount) if cur == currency else 0.0
        if customer in answered:
            own[customer].append((moment, value))
        else:
            pooled[cohort_of[customer]].append((moment, value))
    timelines = {cohort: _Timeline(r) for cohort, r in pooled.items()}

    customers, control = Side(), Side()
    did_orders, did_spend = [], []
    used: set[tuple[int, int]] = set()
    for customer, moment in sorted(answered.items()):
        cohort = cohort_of.get(customer)
        peers = controls_by_cohort.get(cohort, []) if cohort else []
        if not peers:
            continue
        mine = _Timeline(own.get(customer, []))
        ob, sb = mine.window(moment - span, moment)
        oa, sa = mine.window(moment, moment + span)
        timeline = timelines.get(cohort, _Timeline([]))
        cob, csb = timeline.window(moment - span, moment)
        coa, csa = timeline.window(moment, moment + span)
        n = len(peers)
        used.add(cohort)
        for side, values in (
            (customers, (ob, oa, sb, sa)),
            (control, (cob / n, coa / n, csb / n, csa / n)),
        ):
            side.orders_before.append(values[0])
            side.orders_after.append(values[1])
            side.spend_before.append(values[2])
            side.spend_after.append(values[3])
        did_orders.append((oa - ob) - (coa - cob) / n)
        did_spend.append((sa - sb) - (csa - csb) / n)
    compared = len(did_orders)
    return BeforeAfter(
        days=days,
        currency=currency,
        answered=len(answered),
        compared=compared,
        controls=sum(len(controls_by_cohort[c]) for c in used),
        customers=customers,
        control=control,
        did_orders=Side.mean(did_orders),
        did_spend=Side.mean(did_spend),
        min_group=min_group,
    )
