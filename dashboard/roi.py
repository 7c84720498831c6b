"""The ROI report of a brand over a range (issue 14, "Prove it pays"): what `manage.py
roi_report` prints and what the ROI page shows, computed once here so the two cannot differ.

Definitions (the README's "ROI report" section says the same; [since, until) is the range,
local midnights):

* customers: the brand's customer records now (customers app), whatever the range.
  loyalists: those with at least one confirmed author (customers.selectors.loyal_customers);
  the base: the other customers.
* average spend: per group and currency, the orders placed in the range (Order.ordered_at)
  summed and divided by the group's customers (a customer with no order in the range counts
  as 0); amounts in different currencies are never added or converted. Rounded half-up to
  2 decimals. Intervals: Student's t 95% (customers.loyalty), the difference Welch's.
* referral clicks, conversions, revenue: tracking.selectors.referral_totals over the range
  (clicks by Click.at, bots left out; sales by Conversion.at); "verified" = signed postbacks.
  The same per campaign, per agent (the link's maker, links written on a case only) and per
  case: tracking.selectors.referral_breakdown, ranked by revenue then clicks.
* cases on social: the brand's care cases with a first response in the range, live cases
  only: history imported with `import_mentions --history` was answered before (or outside)
  Earshot and is shown apart, not counted.
* contact cost moved: cases on social x the cost of one call-centre contact
  (dashboard.models.RoiSettings, per brand); missing (None) while the cost is not set.
* detractors converted to advocates: of the live care cases first answered in the range whose
  author's tone before the answer was negative (compound_before < -0.05, the follow-up's
  own threshold), those whose outcome is "converted" (README, "Follow-up"); the rate divides
  by the decided ones (follow-up window over), cases still watched are shown apart.
* returning customers: loyalists whose first answered case (customers.before_after
  .first_answers) came before the range's end and who placed an order in the range after
  that first answer; out of the loyalists answered before the range's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q

from customers.before_after import first_answers
from customers.loyalty import Estimate, Moments, mean_interval, welch_difference
from customers.models import AuthorMatch, Customer, Order
from dashboard.models import RoiSettings
from engagement.models import Case
from tracking.models import TrackedLink
from tracking.selectors import Referrals, agent_names, referral_breakdown, referral_totals

CENT = Decimal("0.01")
# The follow-up's "negative before" bound (engagement's outcome rule, README "Follow-up").
NEGATIVE_BEFORE = -0.05


def money(amount: Decimal) -> str:
    """A decimal amount as the report writes it: a string, never through a float, with the
    stored decimals beyond cents kept only when they are not zero (50.0000 -> "50.00",
    12.345 -> "12.345")."""
    cents = amount.quantize(CENT)
    return format(cents if cents == amount else amount.normalize(), "f")


def money_map(amounts: dict[str, Decimal | None]) -> dict[str, str | None]:
    return {c: None if a is None else money(a) for c, a in sorted(amounts.items())}


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One currency of the loyalist/base comparison, with every input of the averages."""

    currency: str
    loyalist_revenue: Decimal
    base_revenue: Decimal
    loyalist_avg: Decimal | None
    base_avg: Decimal | None
    loyalist_interval: Estimate
    base_interval: Estimate
    difference: Estimate


@dataclass(frozen=True, slots=True)
class RoiReport:
    brand_id: int
    since: datetime
    until: datetime
    customers: int
    loyalists: int
    spend: list[SpendRow]
    min_group: int
    referrals: Referrals
    cases_on_social: int
    history_cases: int
    contact_cost: Decimal | None
    contact_currency: str
    detractors_answered: int
    detractors_converted: int
    detractors_pending: int
    loyalists_answered: int
    returning_customers: int
    breakdowns: ReferralBreakdowns

    @property
    def base(self) -> int:
        return self.customers - self.loyalists

    @property
    def contact_cost_moved(self) -> Decimal | None:
        if self.contact_cost is None:
            return None
        return self.cases_on_social * self.contact_cost

    @property
    def detractors_decided(self) -> int:
        return self.detractors_answered - self.detractors_pending

    @property
    def detractor_to_advocate_pct(self) -> float | None:
        if not self.detractors_decided:
            return None
        return round(100 * self.detractors_converted / self.detractors_decided, 1)

    @property
    def returning_pct(self) -> float | None:
        if not self.loyalists_answered:
            return None
        return round(100 * self.returning_customers / self.loyalists_answered, 1)

    @property
    def too_few_to_compare(self) -> bool:
        return min(self.loyalists, self.base) < self.min_group

    def as_json(self) -> dict[str, object]:
        """The command's JSON (README, "ROI report"): counts as numbers, money always as
        {currency: "decimal string"} (null where the figure is missing), percentages as
        numbers with one decimal or null."""
        moved = self.contact_cost_moved
        return {
            "customers": self.customers,
            "loyalists": self.loyalists,
            "base_customers": self.base,
            "loyalist_avg_spend": money_map({r.currency: r.loyalist_avg for r in self.spend}),
            "base_avg_spend": money_map({r.currency: r.base_avg for r in self.spend}),
            "loyalist_revenue": money_map({r.currency: r.loyalist_revenue for r in self.spend}),
            "base_revenue": money_map({r.currency: r.base_revenue for r in self.spend}),
            "referral_clicks": self.referrals.clicks,
            "referral_bot_clicks": self.referrals.bot_clicks,
            "conversions": self.referrals.conversions,
            "verified_conversions": self.referrals.verified_conversions,
            "conversion_revenue": money_map(self.referrals.revenue),
            "verified_conversion_revenue": money_map(self.referrals.verified_revenue),
            "cases_on_social": self.cases_on_social,
            "history_cases_not_counted": self.history_cases,
            "contact_cost": (
                None
                if self.contact_cost is None
                else {self.contact_currency: money(self.contact_cost)}
            ),
            "contact_cost_moved": None if moved is None else {self.contact_currency: money(moved)},
            "detractors_answered": self.detractors_answered,
            "detractors_pending": self.detractors_pending,
            "detractors_converted": self.detractors_converted,
            "detractor_to_advocate_pct": self.detractor_to_advocate_pct,
            "loyalists_answered": self.loyalists_answered,
            "returning_customers": self.returning_customers,
            "returning_pct": self.returning_pct,
            "referrals_by_campaign": [
                referral_json(row, "campaign") for row in self.breakdowns.by_campaign
            ],
            "referrals_by_agent": [referral_json(row, "agent") for row in self.breakdowns.by_agent],
            "referrals_by_case": [referral_json(row, "case") for row in self.breakdowns.by_case],
        }


def _average(total: Decimal, n: int) -> Decimal | None:
    if not n:
        return None
    return (total / n).quantize(CENT, rounding=ROUND_HALF_UP)


def _spend(brand_id: int, since: datetime, until: datetime) -> tuple[int, int, list[SpendRow]]:
    """(customers, loyalists, a SpendRow per currency ordered in the range). Two queries:
    the group sizes, then each customer's spend per currency summed per group in SQL."""
    loyal = Q(
        pk__in=AuthorMatch.objects.filter(
            brand_id=brand_id, status=AuthorMatch.Status.CONFIRMED
        ).values("customer_id")
    )
    sizes = Customer.objects.filter(brand_id=brand_id).aggregate(
        n=Count("pk"), loyal=Count("pk", filter=loyal)
    )
    customers, loyalists = sizes["n"], sizes["loyal"]
    sizes_by_group = {True: loyalists, False: customers - loyalists}
    orders = Order._meta.db_table
    matches = AuthorMatch._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT loyal, currency, SUM(spent), SUM(spent * spent) FROM ("  # noqa: S608
            " SELECT o.customer_id, o.currency, SUM(o.amount) AS spent,"
            f" EXISTS (SELECT 1 FROM {matches} m WHERE m.customer_id = o.customer_id"
            " AND m.status = 'confirmed') AS loyal"
            f" FROM {orders} o WHERE o.brand_id = %s AND o.ordered_at >= %s"
            " AND o.ordered_at < %s GROUP BY o.customer_id, o.currency) per"
            " GROUP BY loyal, currency",
            [brand_id, since, until],
        )
        sums: dict[str, dict[bool, tuple[Decimal, Decimal]]] = {}
        for is_loyal, currency, total, squares in cursor.fetchall():
            sums.setdefault(currency, {})[bool(is_loyal)] = (Decimal(total), Decimal(squares))
    rows = []
    zero = (Decimal(0), Decimal(0))
    for currency in sorted(sums):
        moments = {}
        for group in (True, False):
            total, squares = sums[currency].get(group, zero)
            moments[group] = Moments(sizes_by_group[group], float(total), float(squares))
        rows.append(
            SpendRow(
                currency=currency,
                loyalist_revenue=sums[currency].get(True, zero)[0],
                base_revenue=sums[currency].get(False, zero)[0],
                loyalist_avg=_average(sums[currency].get(True, zero)[0], loyalists),
                base_avg=_average(sums[currency].get(False, zero)[0], customers - loyalists),
                loyalist_interval=mean_interval(moments[True]),
                base_interval=mean_interval(moments[False]),
                difference=welch_difference(moments[True], moments[False]),
            )
        )
    return customers, loyalists, rows


def _returning(brand_id: int, since: datetime, until: datetime) -> tuple[int, int]:
    """(loyalists first answered before until, those of them with an order in the range
    placed after their first answer). Three queries (first_answers' two, the orders')."""
    answered = {c: at for c, at in first_answers(brand_id=brand_id).items() if at < until}
    if not answered:
        return 0, 0
    ordered = Order.objects.filter(
        brand_id=brand_id,
        customer_id__in=list(answered),
        ordered_at__gte=since,
        ordered_at__lt=until,
    ).values_list("customer_id", "ordered_at")
    returning = {c for c, at in ordered if at > answered[c]}
    return len(answered), len(returning)


def roi_settings_of(brand_id: int) -> tuple[Decimal | None, str]:
    """(cost of one call-centre contact or None when not configured, its currency)."""
    row = RoiSettings.objects.filter(brand_id=brand_id).values_list("contact_cost", "currency")
    found = row.first()
    if found is None or found[0] is None:
        return None, found[1] if found else ""
    return found


def roi_report(*, brand_id: int, since: datetime, until: datetime) -> RoiReport:
    """The brand's ROI figures over [since, until) (module docstring). A read: about twenty
    grouped queries, none per customer, case, link or click."""
    customers, loyalists, spend = _spend(brand_id, since, until)
    answered = Case.objects.filter(
        brand_id=brand_id,
        kind=Case.Kind.CARE,
        first_response_at__gte=since,
        first_response_at__lt=until,
    )
    negative_before = Q(is_history=False, compound_before__lt=NEGATIVE_BEFORE)
    cases = answered.aggregate(
        live=Count("pk", filter=Q(is_history=False)),
        history=Count("pk", filter=Q(is_history=True)),
        detractors=Count("pk", filter=negative_before),
        converted=Count("pk", filter=negative_before & Q(outcome=Case.Outcome.CONVERTED)),
        pending=Count("pk", filter=negative_before & Q(outcome=Case.Outcome.PENDING)),
    )
    cost, currency = roi_settings_of(brand_id)
    loyalists_answered, returning = _returning(brand_id, since, until)
    return RoiReport(
        brand_id=brand_id,
        since=since,
        until=until,
        customers=customers,
        loyalists=loyalists,
        spend=spend,
        min_group=settings.EARSHOT_LOYALTY_MIN_GROUP,
        referrals=referral_totals(brand_id=brand_id, start=since, end=until),
        cases_on_social=cases["live"],
        history_cases=cases["history"],
        contact_cost=cost,
        contact_currency=currency,
        detractors_answered=cases["detractors"],
        detractors_converted=cases["converted"],
        detractors_pending=cases["pending"],
        loyalists_answered=loyalists_answered,
        returning_customers=returning,
        breakdowns=referral_breakdowns(brand_id=brand_id, since=since, until=until),
    )


# --- the report as tables: the page, its CSVs and the command's CSV show these rows -----------


@dataclass(frozen=True, slots=True)
class RoiRow:
    """One figure: its name, its value as shown ("missing" where an input is not
    configured), its inputs and formula, and the command's JSON key it equals ("" for none;
    "key.CUR" for one currency of a money object)."""

    figure: str
    value: str
    formula: str
    key: str = ""


@dataclass(frozen=True, slots=True)
class RoiTable:
    key: str
    title: str
    note: str
    rows: list[RoiRow]


ROI_TABLE_KEYS = ("contact", "spend", "referrals", "care", "returning")
MISSING = "missing"


def _amount(value: Decimal | None, currency: str) -> str:
    return "–" if value is None else f"{money(value)} {currency}"


def _interval(estimate: Estimate) -> str:
    if estimate.low is None:
        return "no interval (fewer than 2 customers)"
    return f"95% interval {estimate.low:.2f} to {estimate.high:.2f}"


def _amounts(amounts: dict[str, Decimal]) -> str:
    return ", ".join(f"{money(a)} {c}" for c, a in sorted(amounts.items())) or "none"


def roi_tables(report: RoiReport, *, show_small_groups: bool = True) -> list[RoiTable]:
    """The report's figures as tables (ROI_TABLE_KEYS order). ``show_small_groups`` False
    (readers who may not see customer data) hides the money of a group with fewer than
    EARSHOT_LOYALTY_MIN_GROUP customers: with a handful of customers a sum is a person's."""
    r = report
    cost, currency = r.contact_cost, r.contact_currency
    moved = r.contact_cost_moved
    contact = [
        RoiRow(
            "Cases handled on social",
            str(r.cases_on_social),
            "Care cases of the brand with a first response in the period (live cases; "
            "imported history is not counted).",
            "cases_on_social",
        ),
        RoiRow(
            "History cases not counted",
            str(r.history_cases),
            "Cases imported with import_mentions --history answered in the period: answered "
            "before Earshot, not moved by it.",
            "history_cases_not_counted",
        ),
        RoiRow(
            "Cost of one call-centre contact",
            MISSING if cost is None else _amount(cost, currency),
            "Configured per brand by its admins (admin: ROI settings)."
            if cost is not None
            else "Not configured: a brand admin sets it in admin, ROI settings. Never assumed.",
            "contact_cost",
        ),
        RoiRow(
            "Contact cost moved",
            MISSING if moved is None else _amount(moved, currency),
            f"{r.cases_on_social} cases x {_amount(cost, currency)} = {_amount(moved, currency)}"
            if moved is not None
            else f"{r.cases_on_social} cases x missing cost per contact = missing",
            "contact_cost_moved",
        ),
    ]
    spend = [
        RoiRow("Customers", str(r.customers), "Customer records of the brand now.", "customers"),
        RoiRow(
            "Loyalists",
            str(r.loyalists),
            "Customers with at least one social author confirmed as them.",
            "loyalists",
        ),
        RoiRow(
            "Base (customers who are not loyalists)",
            str(r.base),
            f"{r.customers} customers - {r.loyalists} loyalists",
            "base_customers",
        ),
    ]
    hidden = f"hidden: fewer than {r.min_group} customers in the group"
    for row in r.spend:
        c = row.currency
        show_loyal = show_small_groups or r.loyalists >= r.min_group
        show_base = show_small_groups or r.base >= r.min_group
        spend += [
            RoiRow(
                f"Loyalist revenue ({c})",
                _amount(row.loyalist_revenue, c) if show_loyal else hidden,
                "Orders of loyalists placed in the period, summed.",
                f"loyalist_revenue.{c}",
            ),
            RoiRow(
                f"Base revenue ({c})",
                _amount(row.base_revenue, c) if show_base else hidden,
                "Orders of the other customers placed in the period, summed.",
                f"base_revenue.{c}",
            ),
            RoiRow(
                f"Loyalist average spend ({c})",
                _amount(row.loyalist_avg, c) if show_loyal else hidden,
                (
                    f"{_amount(row.loyalist_revenue, c)} / {r.loyalists} loyalists = "
                    f"{_amount(row.loyalist_avg, c)}; {_interval(row.loyalist_interval)}"
                )
                if show_loyal
                else "revenue / loyalists",
                f"loyalist_avg_spend.{c}",
            ),
            RoiRow(
                f"Base average spend ({c})",
                _amount(row.base_avg, c) if show_base else hidden,
                (
                    f"{_amount(row.base_revenue, c)} / {r.base} customers = "
                    f"{_amount(row.base_avg, c)}; {_interval(row.base_interval)}"
                )
                if show_base
                else "revenue / customers",
                f"base_avg_spend.{c}",
            ),
            RoiRow(
                f"Difference, loyalists - base ({c})",
                (
                    f"too few to compare (a group under {r.min_group} customers)"
                    if r.too_few_to_compare or not row.difference.is_known
                    else f"{row.difference.value:.2f} {c}"
                ),
                "Welch's t 95% interval"
                + (
                    ""
                    if r.too_few_to_compare or not row.difference.is_known
                    else f": {row.difference.low:.2f} to {row.difference.high:.2f}"
                ),
            ),
        ]
    if not r.spend:
        spend.append(
            RoiRow("Average spend", "–", "No order of the brand's customers in the period.")
        )
    ref = r.referrals
    referrals = [
        RoiRow(
            "Referral clicks",
            str(ref.clicks),
            f"Visits of the brand's tracked links in the period; {ref.bot_clicks} by bots "
            "(link previews) left out.",
            "referral_clicks",
        ),
        RoiRow(
            "Conversions",
            str(ref.conversions),
            f"Sales reported for a click, by when they were made: {ref.verified_conversions} "
            f"verified (signed postback), {ref.conversions - ref.verified_conversions} "
            "unverified (pixel).",
            "conversions",
        ),
        RoiRow(
            "Conversion revenue",
            _amounts(ref.revenue),
            "The sales' amounts summed per currency (never converted); verified only: "
            + _amounts(ref.verified_revenue)
            + ".",
            "conversion_revenue",
        ),
    ]
    rate = r.detractor_to_advocate_pct
    care = [
        RoiRow(
            "Detractors answered",
            str(r.detractors_answered),
            "Live care cases first answered in the period whose author's tone before the "
            "answer was negative (average compound below -0.05).",
            "detractors_answered",
        ),
        RoiRow(
            "Still watched",
            str(r.detractors_pending),
            "Of those, cases whose follow-up window is not over: no outcome yet.",
            "detractors_pending",
        ),
        RoiRow(
            "Converted to advocates",
            str(r.detractors_converted),
            "Of those, cases whose outcome is converted (the author's tone after the answer "
            "is positive, compound 0.05 or more).",
            "detractors_converted",
        ),
        RoiRow(
            "Detractor-to-advocate rate",
            "–" if rate is None else f"{rate} %",
            f"{r.detractors_converted} converted / ({r.detractors_answered} answered - "
            f"{r.detractors_pending} still watched)",
            "detractor_to_advocate_pct",
        ),
    ]
    share = r.returning_pct
    returning = [
        RoiRow(
            "Loyalists answered",
            str(r.loyalists_answered),
            "Loyalists whose first answered case (the first response to a case of one of "
            "their authors) came before the period's end.",
            "loyalists_answered",
        ),
        RoiRow(
            "Returning customers",
            str(r.returning_customers),
            "Of those, customers with an order placed in the period after their first "
            "answered case.",
            "returning_customers",
        ),
        RoiRow(
            "Share returning",
            "–" if share is None else f"{share} %",
            f"{r.returning_customers} returning / {r.loyalists_answered} answered",
            "returning_pct",
        ),
    ]
    return [
        RoiTable(
            "contact",
            "Contact cost moved",
            "What answering on social saved the call centre: cases x cost of a contact.",
            contact,
        ),
        RoiTable(
            "spend",
            "Loyalist revenue against the base",
            "Loyalists are customers matched to a social author; spend counts the orders "
            "placed in the period, per currency.",
            spend,
        ),
        RoiTable(
            "referrals",
            "Referral clicks, conversions and revenue",
            "Tracked links in replies and campaigns, and the sales the brand's site reported.",
            referrals,
        ),
        RoiTable(
            "care",
            "Detractors converted to advocates",
            "How detractors spoke after the brand answered them (the case follow-up).",
            care,
        ),
        RoiTable(
            "returning",
            "Returning customers among matched authors",
            "Did loyalists the brand answered buy again?",
            returning,
        ),
    ]


# --- referrals per campaign, agent and case (issue 14: "per case, per agent and per campaign") ---

# The page lists the cases that brought the most; the CSV and the command list them all.
CASES_SHOWN = 50
NO_CAMPAIGN = "(no campaign)"
DELETED_USER = "(deleted user)"


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """One campaign, agent or case of a referral breakdown. ``key`` is what the command's
    JSON names it by (the campaign, "" for none; the agent's username; the case number);
    ``label`` what the page shows; ``case_id`` the case that exists now (None: no link)."""

    key: str | int | None
    label: str
    figures: Referrals
    case_id: int | None = None
    agent_id: int | None = None

    @property
    def revenue_text(self) -> str:
        return _amounts(self.figures.revenue)

    @property
    def verified_revenue_text(self) -> str:
        return _amounts(self.figures.verified_revenue)


@dataclass(frozen=True, slots=True)
class ReferralBreakdowns:
    has_links: bool
    by_campaign: list[ReferralRow]
    by_agent: list[ReferralRow]
    by_case: list[ReferralRow]


def _ranked(rows: list[ReferralRow]) -> list[ReferralRow]:
    """Most revenue first, then most clicks. Amounts in different currencies cannot be
    compared, so revenue compares currency by currency, the currency most rows sold in
    first (ties: alphabetical); then sales, clicks and the label, so the order is stable."""
    sold_in: dict[str, int] = {}
    for row in rows:
        for currency in row.figures.revenue:
            sold_in[currency] = sold_in.get(currency, 0) + 1
    currencies = sorted(sold_in, key=lambda c: (-sold_in[c], c))

    def rank(row: ReferralRow):
        f = row.figures
        revenue = tuple(-f.revenue.get(c, Decimal(0)) for c in currencies)
        return (*revenue, -f.clicks, -f.conversions, row.label)

    return sorted(rows, key=rank)


def referral_breakdowns(*, brand_id: int, since: datetime, until: datetime) -> ReferralBreakdowns:
    """Referral figures per campaign, per agent and per case over [since, until)
    (tracking.selectors.referral_breakdown: clicks by Click.at, sales by Conversion.at).
    Campaign links without a case are left out of the per-case table; only links written on a
    case have an agent. Nine queries whatever the number of rows: two per breakdown, the
    agents' names, the cases that still exist, whether the brand has links at all."""
    figures = {
        by: referral_breakdown(brand_id=brand_id, start=since, end=until, by=by)
        for by in ("campaign", "agent", "case")
    }
    names = agent_names(figures["agent"])
    case_ids = [pk for pk in figures["case"] if pk is not None]
    existing = set(
        Case.objects.filter(brand_id=brand_id, pk__in=case_ids).values_list("pk", flat=True)
    )
    by_campaign = [
        ReferralRow(campaign, campaign or NO_CAMPAIGN, f)
        for campaign, f in figures["campaign"].items()
    ]
    by_agent = [
        ReferralRow(names.get(user_id), names.get(user_id, DELETED_USER), f, agent_id=user_id)
        for user_id, f in figures["agent"].items()
    ]
    by_case = [
        ReferralRow(pk, f"#{pk}", f, case_id=pk if pk in existing else None)
        for pk, f in figures["case"].items()
        if pk is not None
    ]
    return ReferralBreakdowns(
        has_links=TrackedLink.objects.filter(brand_id=brand_id, is_template=False).exists(),
        by_campaign=_ranked(by_campaign),
        by_agent=_ranked(by_agent),
        by_case=_ranked(by_case),
    )


def referral_json(row: ReferralRow, name: str) -> dict[str, object]:
    """One breakdown row as the command's JSON: its name, counts as numbers, money as
    {currency: "decimal string"}."""
    f = row.figures
    named: dict[str, object] = {name: row.key}
    if name == "agent":
        named["agent_id"] = row.agent_id
    return {
        **named,
        "clicks": f.clicks,
        "bot_clicks": f.bot_clicks,
        "conversions": f.conversions,
        "verified_conversions": f.verified_conversions,
        "revenue": money_map(f.revenue),
        "verified_revenue": money_map(f.verified_revenue),
    }


@dataclass(frozen=True, slots=True)
class BreakdownTable:
    """One referral breakdown as the page, its CSV and the print show it."""

    key: str
    title: str
    name: str  # the first column's heading
    note: str
    empty: str  # why there are no rows
    rows: list[ReferralRow]
    more: int = 0  # rows beyond what the page shows (the CSV has them all)

    @property
    def shown(self) -> list[ReferralRow]:
        return self.rows[: len(self.rows) - self.more]


BREAKDOWN_TABLE_KEYS = ("referrals-by-campaign", "referrals-by-agent", "referrals-by-case")


def breakdown_tables(report: RoiReport) -> list[BreakdownTable]:
    b = report.breakdowns
    if not b.has_links:
        none = "No tracked links yet: agents put them in replies, marketers make campaign links."
        none_agent = none_case = none
    else:
        none = "No clicks or sales of the brand's tracked links in this period."
        none_agent = "No clicks or sales of links written on a case in this period."
        none_case = none_agent
    return [
        BreakdownTable(
            "referrals-by-campaign",
            "Referrals per campaign",
            "Campaign",
            "Each link's campaign; links without one are under (no campaign).",
            none,
            b.by_campaign,
        ),
        BreakdownTable(
            "referrals-by-agent",
            "Referrals per agent",
            "Agent",
            "The user who wrote the link on a case (a reply, or a saved reply used on it); "
            "campaign links without a case have no agent.",
            none_agent,
            b.by_agent,
        ),
        BreakdownTable(
            "referrals-by-case",
            "Referrals per case",
            "Case",
            f"Links written on a case; the {CASES_SHOWN} cases with the most revenue, then clicks.",
            none_case,
            b.by_case,
            more=max(0, len(b.by_case) - CASES_SHOWN),
        ),
    ]
