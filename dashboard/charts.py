"""Chart and table data of the charted dashboard pages, built from the selectors' facts.

A Chart is what dashboard.js draws (its ``spec()`` goes into the page through json_script,
never into a script the page runs) and what the template writes as the table view of the
same chart: the same numbers, each with the link to the mentions behind it (the explorer
with the matching filter: brand, label, platform, source, lang, since, until; dates are local
days, both inclusive).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse

from dashboard.forms import Period

# Brand colours: a brand keeps its colour on every page and chart (by its id), readable on
# white and told apart by colour-blind readers (Okabe-Ito, without yellow and black).
BRAND_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#7F3C8D")
LABEL_COLOURS = {"positive": "#1a7f37", "neutral": "#8c959f", "negative": "#cf222e"}
NEUTRAL_COLOUR = "#57606a"
SECOND_COLOUR = "#57606a"
LABELS = ("positive", "neutral", "negative")


def brand_colour(brand_id: int) -> str:
    return BRAND_COLOURS[brand_id % len(BRAND_COLOURS)]


def explorer_url() -> str:
    """The mention explorer's address (its own route once it has one, the mentions list
    until then)."""
    for name in ("dashboard:explorer", "dashboard:mentions"):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return ""


def drill_link(base: str, brand_id: int, first: date, last: date, **filters: object) -> str:
    query = {"brand": brand_id, **{k: v for k, v in filters.items() if v not in ("", None)}}
    query |= {"since": first.isoformat(), "until": last.isoformat()}
    return f"{base}?{urlencode(query)}"


@dataclass
class Series:
    label: str
    colour: str
    values: list[float | int | None]
    links: list[str] = field(default_factory=list)

    def spec(self) -> dict:
        return {"label": self.label, "colour": self.colour, "values": self.values}


@dataclass
class Chart:
    """One panel: ``kind`` line, bar, stacked (bars) or hbar; ``unit`` count, percent or
    seconds (how values are written); ``keys``: ISO dates for a time axis, else None;
    ``empty``: why there is nothing to draw (set when no value is there)."""

    id: str
    title: str
    kind: str
    labels: list[str]
    series: list[Series]
    unit: str = "count"
    keys: list[str] | None = None
    empty: str = ""
    note: str = ""
    # One colour per bar (a bar per brand) instead of the series' colour.
    colours: list[str] | None = None
    # The value axis's fixed ends, e.g. (-100, 100) for net sentiment; None: from the data.
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        # A count of 0 is nothing to draw; a percentage or a duration of 0 is a figure.
        has_values = any(
            v is not None and (v != 0 or self.unit != "count")
            for s in self.series
            for v in s.values
        )
        if not has_values and not self.empty:
            self.empty = "Nothing to chart in this period."
        if has_values:
            self.empty = ""

    def spec(self) -> dict:
        return {
            "kind": self.kind,
            "unit": self.unit,
            "labels": self.labels,
            "dates": self.keys,
            "series": [s.spec() for s in self.series],
            "links": [s.links for s in self.series],
            "colours": self.colours,
            "bounds": self.bounds,
        }

    def rows(self) -> list[tuple[str, list[tuple[float | int | None, str]]]]:
        """The table view: one row per label, one (value, link) cell per series."""
        rows = []
        for i, label in enumerate(self.labels):
            cells = []
            for s in self.series:
                link = s.links[i] if i < len(s.links) else ""
                cells.append((s.values[i], link or ""))
            rows.append((label, cells))
        return rows


def bucket_days(period: Period) -> list[tuple[date, date, date]]:
    """(bucket key, first day, last day) of each bucket of the period, clipped to it: the key
    is the local start of the day, the Monday of the week or the 1st of the month, as the
    database's date_trunc gives it."""
    buckets = []
    day = period.first
    while day <= period.last:
        if period.bucket == "day":
            key, end = day, day
        elif period.bucket == "week":
            key = day - timedelta(days=day.weekday())
            end = key + timedelta(days=6)
        else:
            key = day.replace(day=1)
            end = (key + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        end = min(end, period.last)
        buckets.append((key, day, end))
        day = end + timedelta(days=1)
    return buckets


def bucket_label(key: date, first: date, bucket: str) -> str:
    """The table's name of a bucket (the chart writes its own, in the reader's locale)."""
    if bucket == "day":
        return first.isoformat()
    if bucket == "week":
        return f"week of {first.isoformat()}"
    return key.strftime("%Y-%m")


def ratio(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def change(now: float | None, before: float | None) -> float | None:
    """Change from the previous period in percent; None when there is nothing to compare."""
    if now is None or not before:
        return None
    return round(100 * (now - before) / before, 1)


def totals_by(facts: Iterable, attribute: str) -> dict[object, dict[str, int]]:
    out: dict[object, dict[str, int]] = {}
    for fact in facts:
        sums = out.setdefault(getattr(fact, attribute), {"mentions": 0, "reach": 0})
        sums["mentions"] += fact.mentions
        sums["reach"] += fact.reach
        sums[fact.label] = sums.get(fact.label, 0) + fact.mentions
    return out
