"""Filter forms of the dashboard pages (GET parameters, never trusted)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from listening.models import Mention, Source


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
        required=False, choices=[("", "Any sentiment"), *Mention.Label.choices]
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
