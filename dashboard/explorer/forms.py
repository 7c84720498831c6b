"""The explorer's filters, read from GET parameters (never trusted): see the table in
dashboard/explorer/__init__.py for what each one means."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from listening.models import SENTIMENT_FILTER_CHOICES

SORTS = [
    ("newest", "Newest first"),
    ("oldest", "Oldest first"),
    ("reach", "Most reach"),
    ("engagement", "Most engagement"),
]


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the last row's sort key (an int) and mention id (unique
    among one brand's matches, so it breaks every tie)."""

    key: int
    mention_id: int

    def __str__(self) -> str:
        return f"{self.key}.{self.mention_id}"

    @classmethod
    def parse(cls, value: str) -> Cursor:
        key, _, mention_id = value.rpartition(".")
        return cls(key=int(key), mention_id=int(mention_id))


def local_midnight(day: date) -> datetime | None:
    """Midnight starting day in the current time zone (the user's), aware; None when that
    moment is past what a datetime holds (9999-12-31's next day, 0001-01-01 east of UTC):
    such a bound excludes nothing, so it is dropped rather than answering 500."""
    try:
        moment = timezone.make_aware(datetime.combine(day, time.min))
        moment.astimezone(UTC)
    except OverflowError:
        return None
    return moment


class ExplorerForm(forms.Form):
    brand = forms.IntegerField(required=False, min_value=1)
    matched = forms.IntegerField(required=False, min_value=1, label="Brand or competitor")
    q = forms.CharField(required=False, max_length=200, label="Search")
    label = forms.ChoiceField(
        required=False,
        label="Sentiment",
        choices=[("", "Any sentiment"), *SENTIMENT_FILTER_CHOICES],
    )
    platform = forms.CharField(required=False, max_length=32)
    source = forms.IntegerField(required=False, min_value=1)
    lang = forms.CharField(required=False, max_length=20, label="Language")
    author = forms.CharField(required=False, max_length=300, label="Author handle")
    term = forms.CharField(required=False, max_length=200, label="Matched term")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    has_case = forms.ChoiceField(
        required=False,
        label="Case",
        choices=[("", "With or without a case"), ("yes", "In a case"), ("no", "Not in a case")],
    )
    sort = forms.ChoiceField(required=False, choices=SORTS)
    after = forms.CharField(required=False, max_length=60, widget=forms.HiddenInput)

    def clean_after(self) -> Cursor | None:
        value = self.cleaned_data.get("after", "").strip()
        if not value:
            return None
        try:
            return Cursor.parse(value)
        except ValueError:
            raise forms.ValidationError(
                "This page link is damaged: start again from the first page."
            ) from None

    def clean(self):
        data = super().clean()
        start, end = data.get("since"), data.get("until")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        for name in ("q", "platform", "lang", "author", "term"):
            if name in data:
                data[name] = data[name].strip()
        data["sort"] = data.get("sort") or "newest"
        return data

    @property
    def since_moment(self) -> datetime | None:
        """Inclusive lower bound: the midnight starting ``since`` in the user's time zone."""
        day = self.cleaned_data.get("since")
        return local_midnight(day) if day else None

    @property
    def until_moment(self) -> datetime | None:
        """Exclusive upper bound: the midnight ending ``until`` (the whole day counts)."""
        day = self.cleaned_data.get("until")
        if not day:
            return None
        try:
            return local_midnight(day + timedelta(days=1))
        except OverflowError:  # 9999-12-31 + 1 day
            return None
