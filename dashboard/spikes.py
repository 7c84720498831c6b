"""Spikes: local days whose mention volume or negative share is far above their trailing
baseline (issue 12, the overview).

The rule, robust to a few loud days in the baseline: for each day of the period, take the
BASELINE_DAYS days before it (days without mentions count 0) and their median m and median
absolute deviation MAD. The day is a spike when its value is above m + K x max(1.4826 x MAD,
FLOOR), and it is big enough to matter (MIN_MENTIONS mentions; MIN_NEGATIVE negative ones for
a negative-share spike). 1.4826 x MAD estimates the standard deviation of normal data, so
K = 3 reads "three standard deviations above normal"; the floor keeps a flat baseline (MAD 0)
from calling every small bump a spike. The negative share's baseline uses only days with
mentions.

What drove a spike: the terms and hashtags, and the authors, over-represented on the day
against the trailing baseline (dashboard.selectors.spike_drivers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

BASELINE_DAYS = 28
K = 3.0
MAD_SCALE = 1.4826
VOLUME_FLOOR = 1.0  # mentions
SHARE_FLOOR = 0.05  # five percentage points
MIN_MENTIONS = 5
MIN_NEGATIVE = 3


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return 0.0
    middle = n // 2
    return float(ordered[middle]) if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def threshold(values: list[float], floor: float) -> tuple[float, float]:
    """(baseline median, the value above which a day is a spike)."""
    m = median(values)
    mad = median([abs(v - m) for v in values])
    return m, m + K * max(MAD_SCALE * mad, floor)


@dataclass
class Spike:
    day: date
    kind: str  # "volume" or "negative"
    value: float  # mentions, or the negative share in percent
    baseline: float  # the trailing median, same unit
    mentions: int
    negative: int
    terms: list[tuple[str, int]] = field(default_factory=list)
    authors: list[tuple[Any, int]] = field(default_factory=list)  # (Author, mentions)
    link: str = ""  # its mentions in the explorer


def spikes_find(*, daily: dict[date, tuple[int, int]], first: date, last: date) -> list[Spike]:
    """The spikes among local days first..last, from (mentions, negative) per day, which
    must cover the BASELINE_DAYS before ``first`` too (a missing day counts 0)."""
    found = []
    day = first
    while day <= last:
        window = [day - timedelta(days=i) for i in range(BASELINE_DAYS, 0, -1)]
        volumes = [daily.get(d, (0, 0))[0] for d in window]
        mentions, negative = daily.get(day, (0, 0))
        base, above = threshold([float(v) for v in volumes], VOLUME_FLOOR)
        if mentions >= MIN_MENTIONS and mentions > above:
            found.append(Spike(day, "volume", float(mentions), base, mentions, negative))
        shares = [daily[d][1] / daily[d][0] for d in window if daily.get(d, (0, 0))[0]]
        if shares and mentions and negative >= MIN_NEGATIVE:
            base, above = threshold(shares, SHARE_FLOOR)
            share = negative / mentions
            if share > above:
                found.append(
                    Spike(
                        day,
                        "negative",
                        round(100 * share, 1),
                        round(100 * base, 1),
                        mentions,
                        negative,
                    )
                )
        day += timedelta(days=1)
    return found
