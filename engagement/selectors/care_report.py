"""A brand's care figures over a period: what ``manage.py care_report`` prints and what the
dashboard's care charts must equal (issue 11).

Definitions (the README's "Care figures" paragraph says the same):

* cases: the brand's care cases (kind care, live and history imports alike) opened in the
  period: ``opened_at`` in [since, until). Dates are whole days in ``TIME_ZONE``: since 00:00
  up to the end of the until day (24:00); a datetime is taken as given (naive = TIME_ZONE).
* answered: the cases with a first response (``first_response_at`` set).
* first response time: ``first_response_at - needs_answer_at`` (the customer post that made the
  case need an answer), or ``- opened_at`` for a case without ``needs_answer_at`` (older
  cases); a first response recorded before that time counts as 0.
  ``first_response_median_s`` is the usual median (the mean of the two middle values for an
  even count), ``first_response_p90_s`` the 90th percentile by linear interpolation between
  the closest ranks (PostgreSQL ``percentile_cont(0.9)``, numpy's default); both null when no
  case was answered.
* ``resolution_median_s``: the median of ``resolved_at - opened_at`` over the resolved cases
  (status resolved); null when none is. A history case nobody answered ("no answer,
  imported") was closed by the import, not resolved by anyone: it is left out here (it still
  counts in cases and, as missed, in the SLA figure).
* ``sla_first_response_met_pct``: among the cases with a first-response due time that has
  passed (at the time of the report) or that were answered, the percentage answered at or
  before the due time; null when there are none.
* outcomes: the answered cases counted by follow-up outcome (converted, improved, unchanged,
  worsened, no_further_word, pending: still watching); every key is always present.
* agents: the same figures per case assignee (the agent holding the case now), ordered by
  username; cases nobody holds are one group with agent null, listed last.

Seconds are rounded to 1 decimal (a median of two values may end in .5), percentages to 1
decimal. One streamed query over the period's cases (case_age_idx: brand, opened_at), no
query per case; the arithmetic is done here in Python so PostgreSQL and SQLite agree.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from brands.models import Brand
from engagement.models import Case

OUTCOME_KEYS: tuple[str, ...] = (
    "converted",
    "improved",
    "unchanged",
    "worsened",
    "no_further_word",
    "pending",
)
# The figures of a brand or an agent, in the order the report prints them.
FIGURE_KEYS: tuple[str, ...] = (
    "cases",
    "answered",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_median_s",
    "sla_first_response_met_pct",
    "outcomes",
)
_OUTCOME_KEY = {Case.Outcome.PENDING.value: "pending"} | {
    value: value for value in OUTCOME_KEYS if value != "pending"
}
STREAM_CHUNK = 2000


def median(values: Sequence[float]) -> float | None:
    """The usual median: the middle value, or the mean of the two middle values for an even
    count; None for no values."""
    ordered = sorted(values)
    count = len(ordered)
    if not count:
        return None
    middle = count // 2
    if count % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` percentile by linear interpolation between the closest ranks, as
    PostgreSQL's percentile_cont and numpy.percentile's default: position
    ``fraction * (n - 1)`` in the sorted values. None for no values."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    ordered = sorted(values)
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    weight = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * weight


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(slots=True)
class _Tally:
    """The figures of one group of cases, accumulated one case at a time."""

    cases: int = 0
    answered: int = 0
    first_responses: list[float] = field(default_factory=list)
    resolutions: list[float] = field(default_factory=list)
    sla_counted: int = 0
    sla_met: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOME_KEYS, 0))

    def add(self, row: _CaseRow, *, now: datetime) -> None:
        self.cases += 1
        answered = row.first_response_at is not None
        if answered:
            self.answered += 1
            start = row.needs_answer_at or row.opened_at
            self.first_responses.append(max(0.0, (row.first_response_at - start).total_seconds()))
            self.outcomes[_OUTCOME_KEY.get(row.outcome, "pending")] += 1
        # A history case nobody answered was closed by the import, not resolved by anyone.
        closed_unanswered = row.is_history and not answered
        if row.status == Case.Status.RESOLVED and row.resolved_at and not closed_unanswered:
            self.resolutions.append(max(0.0, (row.resolved_at - row.opened_at).total_seconds()))
        due = row.first_response_due
        if due is not None and (answered or due < now):
            self.sla_counted += 1
            if answered and row.first_response_at <= due:
                self.sla_met += 1

    def figures(self) -> dict[str, object]:
        met = round(100 * self.sla_met / self.sla_counted, 1) if self.sla_counted else None
        return {
            "cases": self.cases,
            "answered": self.answered,
            "first_response_median_s": _seconds(median(self.first_responses)),
            "first_response_p90_s": _seconds(percentile_cont(self.first_responses, 0.9)),
            "resolution_median_s": _seconds(median(self.resolutions)),
            "sla_first_response_met_pct": met,
            "outcomes": dict(self.outcomes),
        }


@dataclass(slots=True, frozen=True)
class _CaseRow:
    assignee: str | None
    opened_at: datetime
    needs_answer_at: datetime | None
    first_response_at: datetime | None
    first_response_due: datetime | None
    resolved_at: datetime | None
    status: str
    outcome: str
    is_history: bool


_ROW_FIELDS = (
    "assignee__username",
    "opened_at",
    "needs_answer_at",
    "first_response_at",
    "first_response_due",
    "resolved_at",
    "status",
    "outcome",
    "is_history",
)


@dataclass(slots=True)
class CareFigures:
    """The brand's figures (``figures``, keys FIGURE_KEYS) and each agent's, as
    (username or None for unassigned, figures), usernames in order, unassigned last."""

    figures: dict[str, object]
    agents: list[tuple[str | None, dict[str, object]]]


def care_cases_in_period(
    *, brand: Brand, since: datetime | None = None, until: datetime | None = None
):
    """The brand's care cases (live and history) opened in [since, until), either bound open.
    Uses case_age_idx (brand, opened_at)."""
    cases = Case.objects.filter(brand=brand, kind=Case.Kind.CARE)
    if since is not None:
        cases = cases.filter(opened_at__gte=since)
    if until is not None:
        cases = cases.filter(opened_at__lt=until)
    return cases


def care_figures(
    *,
    brand: Brand,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> CareFigures:
    """The brand's care figures for cases opened in [since, until) (module docstring).

    ``now`` decides which unanswered first-response due times have passed (default: now).
    A read: one streamed query, no writes.
    """
    now = now or timezone.now()
    rows = (
        _CaseRow(*values)
        for values in care_cases_in_period(brand=brand, since=since, until=until)
        .order_by()
        .values_list(*_ROW_FIELDS)
        .iterator(chunk_size=STREAM_CHUNK)
    )
    return _figures_of(rows, now=now)


def _figures_of(rows: Iterable[_CaseRow], *, now: datetime) -> CareFigures:
    total = _Tally()
    by_agent: dict[str | None, _Tally] = {}
    for row in rows:
        total.add(row, now=now)
        tally = by_agent.get(row.assignee)
        if tally is None:
            tally = by_agent[row.assignee] = _Tally()
        tally.add(row, now=now)
    order = sorted(by_agent, key=lambda name: (name is None, name or ""))
    return CareFigures(
        figures=total.figures(), agents=[(name, by_agent[name].figures()) for name in order]
    )


def care_figures_by_bucket(
    *, brand: Brand, bounds: Sequence[datetime], now: datetime | None = None
) -> list[dict[str, object]]:
    """The brand's figures for each bucket [bounds[i], bounds[i + 1]) of opened_at, as
    care_figures gives for that bucket alone (the dashboard's care charts over time).

    One streamed query over [bounds[0], bounds[-1]) whatever the number of buckets. A read.
    """
    now = now or timezone.now()
    if len(bounds) < 2:
        return []
    tallies = [_Tally() for _ in bounds[:-1]]
    rows = (
        care_cases_in_period(brand=brand, since=bounds[0], until=bounds[-1])
        .order_by()
        .values_list(*_ROW_FIELDS)
        .iterator(chunk_size=STREAM_CHUNK)
    )
    for values in rows:
        row = _CaseRow(*values)
        tallies[bisect.bisect_right(bounds, row.opened_at) - 1].add(row, now=now)
    return [tally.figures() for tally in tallies]
