"""The queue's filter form."""

from __future__ import annotations

from html import escape

from django import forms
from django.forms.utils import flatatt
from django.utils.safestring import mark_safe

from engagement.models import Case
from listening.models import UNSCORED_CHOICE, Source

QUEUE_TABS = {
    "care": "Needs an answer",
    "advocate": "Advocates",
    "resolved": "Resolved",
}
PRIORITY_BANDS = [("high", "High"), ("medium", "Medium"), ("low", "Low")]
SENTIMENTS = [
    ("negative", "Negative"),
    ("neutral", "Neutral"),
    ("positive", "Positive"),
    # Cases whose every customer post is in a language Earshot does not score (issue 13).
    UNSCORED_CHOICE,
]
SORTS = [("priority", "Priority (highest first)"), ("age", "Age (oldest first)")]


class QuickSelect(forms.Select):
    """A flat <select> rendered in Python.

    Django renders a select through a template per option: the queue's filter bar (about 50
    options) took 5 ms of every queue page that way, and agents load it all day. Labels and
    values are escaped as the template would escape them; optgroups are not supported.
    """

    def render(self, name, value, attrs=None, renderer=None):  # noqa: ARG002 - Widget API
        selected = set(self.format_value(value))
        options = "".join(
            f'<option value="{escape(str(v))}"{" selected" if str(v) in selected else ""}>'
            f"{escape(str(label))}</option>"
            for v, label in self.choices
        )
        attrs = flatatt(self.build_attrs(self.attrs, attrs))
        return mark_safe(f'<select name="{escape(name)}"{attrs}>{options}</select>')  # noqa: S308


class QueueFilterForm(forms.Form):
    """The queue's GET filters. Each field is checked on its own: an invalid value (a brand
    the user is not a member of, an unknown assignee) drops that filter only and shows an
    error beside it, so the page still lists what the user may see."""

    tab = forms.ChoiceField(choices=list(QUEUE_TABS.items()), required=False)
    brand = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="All brands", widget=QuickSelect
    )
    status = forms.ChoiceField(required=False, widget=QuickSelect)
    band = forms.ChoiceField(
        label="Priority",
        choices=[("", "Any priority"), *PRIORITY_BANDS],
        required=False,
        widget=QuickSelect,
    )
    sentiment = forms.ChoiceField(
        label="Sentiment",
        choices=[("", "Any sentiment"), *SENTIMENTS],
        required=False,
        widget=QuickSelect,
    )
    source = forms.ChoiceField(
        label="Source",
        choices=[("", "Any source"), *Source.Kind.choices],
        required=False,
        widget=QuickSelect,
    )
    assignee = forms.ChoiceField(required=False, widget=QuickSelect)
    mine = forms.BooleanField(label="Mine", required=False)
    overdue = forms.BooleanField(label="Overdue", required=False)
    sort = forms.ChoiceField(choices=SORTS, required=False, widget=QuickSelect)
    page = forms.IntegerField(min_value=1, required=False)

    def __init__(self, data, *, brands, assignees):
        super().__init__(data)
        self.fields["brand"].queryset = brands
        self.fields["status"].choices = [("", "Any status"), *Case.Status.choices]
        self.fields["assignee"].choices = [
            ("", "Anyone"),
            ("unassigned", "Unassigned"),
            *((str(u.pk), u.get_username()) for u in assignees),
        ]

    def filters(self) -> dict:
        """The valid filters, with defaults; invalid fields are left out."""
        self.is_valid()
        data = self.cleaned_data
        filters = {
            "tab": data.get("tab") or "care",
            "sort": data.get("sort") or "priority",
            "page": data.get("page") or 1,
        }
        for name in ("brand", "status", "band", "sentiment", "source", "assignee"):
            if data.get(name):
                filters[name] = data[name]
        for name in ("mine", "overdue"):
            if data.get(name):
                filters[name] = True
        return filters
