"""Forms of the case page: each parses one action's input; services do the rest."""

from __future__ import annotations

from django import forms
from django.core.validators import URLValidator

from engagement.models import Case, Reply, SentimentCorrection
from engagement.selectors.case import NOT_A_TARGET
from listening.models import Mention


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args, workers, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = workers


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Case.Status.choices)


class NoteForm(forms.Form):
    text = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class TagsForm(forms.Form):
    tags = forms.ModelMultipleChoiceField(queryset=None, required=False)

    def __init__(self, *args, brand_tags, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tags"].queryset = brand_tags


# The largest id a bigint primary key holds: a larger number is no post, never a query error.
MAX_ID = 2**63 - 1


def _target_field() -> forms.IntegerField:
    # The customer post the reply answers (a Mention id). Only parsed here: the service checks
    # it is a customer post of the case (anything else is refused with a message).
    return forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        error_messages={
            "invalid": NOT_A_TARGET,
            "min_value": NOT_A_TARGET,
            "max_value": NOT_A_TARGET,
        },
    )


class ReplyForm(forms.Form):
    text = forms.CharField(
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4, "id": "reply-text", "data-reply-box": ""}),
    )
    target = _target_field()


class ManualReplyForm(forms.Form):
    # The reply box's one text field: the same text is sent, or recorded as replied by hand.
    text = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    target = _target_field()
    # Only http(s): the link is shown on the case page (never javascript: or data:).
    url = forms.URLField(
        required=False,
        max_length=Reply._meta.get_field("url").max_length,
        validators=[URLValidator(schemes=["http", "https"])],
        assume_scheme="https",
        label="Link (optional)",
    )


class CorrectionForm(forms.Form):
    case = forms.IntegerField(widget=forms.HiddenInput)
    label = forms.ChoiceField(choices=Mention.Label.choices)
    reason = forms.CharField(max_length=SentimentCorrection._meta.get_field("reason").max_length)


class TargetRefForm(forms.Form):
    """The reply target chosen on the case page (?target=<mention id>); not a customer post of
    the case: the default target."""

    target = forms.IntegerField(min_value=1, max_value=MAX_ID)


class CaseRefForm(forms.Form):
    """The case a mention is explained in (its brand decides access)."""

    case = forms.IntegerField()


class BrandRefForm(forms.Form):
    """The brand an author is seen through (?brand=<id>)."""

    brand = forms.IntegerField()


class PresenceForm(forms.Form):
    is_typing = forms.BooleanField(required=False)


class SimilarReplyForm(forms.Form):
    class Mode:
        SEND = "send"
        MANUAL = "manual"

    text = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    cases = forms.ModelMultipleChoiceField(queryset=None, widget=forms.CheckboxSelectMultiple)
    mode = forms.ChoiceField(
        choices=[(Mode.SEND, "Send through Earshot"), (Mode.MANUAL, "Mark replied on platform")],
        initial=Mode.SEND,
    )

    def __init__(self, *args, group, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cases"].queryset = group
