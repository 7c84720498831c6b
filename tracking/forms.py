"""Forms of the tracked-link pages: parse input only; services check targets and rights."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

DEFAULT_DAYS = 30
MAX_DAYS = 3660


class LinkForm(forms.Form):
    """A link to make: where to, and the campaign it counts under."""

    url = forms.CharField(
        max_length=2000,
        label="Page on the brand's site",
        widget=forms.URLInput(attrs={"placeholder": "https://", "autocomplete": "off"}),
    )
    campaign = forms.CharField(
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. spring-sale", "autocomplete": "off"}),
    )


class BrandLinkForm(LinkForm):
    """The links page's form (and the saved-reply editor's): a brand, and whether the link is
    a template for saved replies ({link:<code>}, one link per case when used)."""

    brand = forms.IntegerField(min_value=1, max_value=2**63 - 1)
    is_template = forms.BooleanField(required=False, label="For saved replies")


class RangeForm(forms.Form):
    """Brand and days of the links page: ``since`` and ``until`` are local dates, both
    included; the default is the last 30 days."""

    brand = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    since = forms.DateField(required=False, widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput({"type": "date"}))

    def clean(self):
        data = super().clean()
        last = data.get("until") or timezone.localdate()
        first = data.get("since") or last - timedelta(days=DEFAULT_DAYS - 1)
        if not all(2 <= day.year <= 9998 for day in (first, last)):
            raise forms.ValidationError("Choose dates between the years 2 and 9998.")
        if first > last:
            raise forms.ValidationError("The start date is after the end date.")
        if (last - first).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        data["since"], data["until"] = first, last
        return data

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end): midnight starting ``since`` to midnight after ``until``, local time.
        A form that did not validate gets the default range."""
        if self.is_valid():
            first, last = self.cleaned_data["since"], self.cleaned_data["until"]
        else:
            last = timezone.localdate()
            first = last - timedelta(days=DEFAULT_DAYS - 1)
        start = timezone.make_aware(datetime.combine(first, time.min))
        end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min))
        return start, end
