"""Filter forms of the dashboard pages (GET parameters, never trusted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from listening.models import SENTIMENT_FILTER_CHOICES, Source


def day_start(day: date) -> datetime:
    """Midnight at the start of day in the current time zone (TIME_ZONE), as an aware time."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _day_bound(day: date, *, days_later: int = 0) -> datetime | None:
    """Midnight starting ``day`` + ``days_later`` as an aware time, or None when that moment is
    past what a datetime can hold (the day after 9999-12-31; 0001-01-01 east of UTC, which is
    year 0 in UTC). Such a bound excludes nothing, so it is dropped instead of answering 500."""
    try:
        start = day_start(day + timedelta(days=days_later))
        # The query converts to UTC; overflow here rather than deep inside the ORM.
        start.astimezone(UTC)
    except OverflowError:
        return None
    return start


class BrandForm(forms.Form):
    """Which brand a page is about; whether the user may see it is permissions.py's call."""

    brand = forms.IntegerField(required=False, min_value=1)


class MentionFilterForm(BrandForm):
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput({"type": "date"})
    )
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    label = forms.ChoiceField(
        required=False, choices=[("", "Any sentiment"), *SENTIMENT_FILTER_CHOICES]
    )
    kind = forms.ChoiceField(
        required=False, label="Source kind", choices=[("", "Any source kind"), *Source.Kind.choices]
    )
    platform = forms.CharField(required=False, max_length=32)
    q = forms.CharField(required=False, max_length=200, label="Text contains")
    matched = forms.IntegerField(required=False, min_value=1, label="Matched brand")

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    @property
    def since(self) -> datetime | None:
        """Inclusive lower bound: midnight starting date_from in the user's time zone."""
        day = self.cleaned_data.get("date_from")
        return _day_bound(day) if day else None

    @property
    def until(self) -> datetime | None:
        """Exclusive upper bound: the midnight ending date_to (so the whole day counts)."""
        day = self.cleaned_data.get("date_to")
        return _day_bound(day, days_later=1) if day else None


# --- the charted pages' period (issue 12) ------------------------------------------------------

PRESET_DAYS = {"7d": 7, "30d": 30, "90d": 90}
RANGE_CHOICES = [
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("month", "This month"),
    ("custom", "Custom"),
]
DEFAULT_RANGE = "30d"
# Longest custom range: ten years of monthly buckets is still a small chart.
MAX_DAYS = 3660


def bucket_for(days: int) -> str:
    """The chart bucket for a range of ``days`` local days: day up to a month, week up to half
    a year, month beyond (a chart keeps roughly 7 to 60 points)."""
    if days <= 31:
        return "day"
    if days <= 183:
        return "week"
    return "month"


@dataclass(frozen=True, slots=True)
class Period:
    """Whole local days [first, last] in the time zone active when it was made, the moments
    that bound them ([since, until), DST-exact: each bound is a local midnight, never a
    multiple of 24 hours) and the previous period of equal length (in days) just before."""

    first: date
    last: date
    since: datetime
    until: datetime
    previous_first: date
    previous_last: date
    previous_since: datetime
    previous_until: datetime

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def bucket(self) -> str:
        return bucket_for(self.days)


def period_of(first: date, last: date) -> Period:
    """The Period of local days first..last (inclusive) in the current time zone."""
    days = (last - first).days + 1
    previous_last = first - timedelta(days=1)
    previous_first = first - timedelta(days=days)
    return Period(
        first=first,
        last=last,
        since=day_start(first),
        until=day_start(last + timedelta(days=1)),
        previous_first=previous_first,
        previous_last=previous_last,
        previous_since=day_start(previous_first),
        previous_until=day_start(first),
    )


class PeriodForm(BrandForm):
    """Brand and date range of the charted pages. ``since``/``until`` are local dates, both
    inclusive, with the same names as the mention explorer's filters (the drill-down
    contract); they are read only for range=custom (or when no range is given)."""

    range = forms.ChoiceField(required=False, choices=RANGE_CHOICES)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))

    def clean(self):
        data = super().clean()
        preset = data.get("range") or ""
        first, last = data.get("since"), data.get("until")
        if not preset:
            preset = "custom" if (first or last) else DEFAULT_RANGE
        data["range"] = preset
        if preset == "custom":
            today = timezone.localdate()
            last = last or today
            # Bounds first, as the message says them: the default start and the previous
            # period are counted back from these days, which overflows in year 1 (a 500 found
            # by tests/dashboard/test_hostile_params.py).
            if not all(2 <= day.year <= 9998 for day in (first, last) if day):
                raise forms.ValidationError("Choose dates between the years 2 and 9998.")
            first = first or last - timedelta(days=PRESET_DAYS[DEFAULT_RANGE] - 1)
            if first > last:
                raise forms.ValidationError("The start date is after the end date.")
            if (last - first).days + 1 > MAX_DAYS:
                raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
            if _day_bound(first) is None:
                raise forms.ValidationError("Choose dates between the years 2 and 9998.")
            data["since"], data["until"] = first, last
        return data

    def period(self) -> Period:
        """The chosen period; a form that did not validate gets the default range."""
        data = self.cleaned_data if self.is_valid() else {}
        preset = data.get("range") or DEFAULT_RANGE
        today = timezone.localdate()
        if preset in PRESET_DAYS:
            return period_of(today - timedelta(days=PRESET_DAYS[preset] - 1), today)
        if preset == "month":
            return period_of(today.replace(day=1), today)
        return period_of(data["since"], data["until"])
