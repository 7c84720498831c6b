from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from customers.models import AuthorMatch


class ImportForm(forms.Form):
    customers = forms.FileField(
        label="Customers CSV",
        help_text="Columns customer_id, name, email, handles, city, country (header row).",
    )
    orders = forms.FileField(
        label="Orders CSV",
        required=False,
        help_text="Columns order_id, customer_id, ordered_at, amount, currency.",
    )

    def clean(self):
        data = super().clean()
        limit = settings.EARSHOT_CUSTOMERS_UPLOAD_MAX_BYTES
        for name in ("customers", "orders"):
            upload = data.get(name)
            if upload is not None and upload.size > limit:
                self.add_error(
                    name,
                    f"The file is {filesizeformat(upload.size)}; the upload takes up to "
                    f"{filesizeformat(limit)}. Import bigger files with "
                    "manage.py import_customers.",
                )
        return data


class DecideForm(forms.Form):
    match = forms.IntegerField()
    decision = forms.ChoiceField(choices=[("confirm", "Confirm"), ("reject", "Reject")])


class MatchFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=AuthorMatch.Status.choices, required=False, initial=AuthorMatch.Status.SUGGESTED
    )

    def status_value(self) -> str:
        if self.is_valid() and self.cleaned_data["status"]:
            return self.cleaned_data["status"]
        return AuthorMatch.Status.SUGGESTED


class RangeForm(forms.Form):
    """The range in which customers' first answered case falls (dates, UTC)."""

    since = forms.DateField(required=False)
    until = forms.DateField(required=False)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The range ends before it starts.")
        return data
