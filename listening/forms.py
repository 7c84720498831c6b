from django import forms

from brands.models import Brand
from listening.connectors.registry import UnknownSourceKind, connector_for
from listening.models import Source
from listening.query import QueryError, compile_query

# Shown in place of a stored secret option; posted back unchanged, it keeps the stored value.
SECRET_KEPT = "(stored; type a new value to replace it)"  # noqa: S105 - a label, not a secret


def _secret_options(kind: str) -> set[str]:
    try:
        return {o.name for o in connector_for(kind).config_fields if o.secret}
    except UnknownSourceKind:
        return set()


class BrandAdminForm(forms.ModelForm):
    """A brand in admin, its query checked by listening's compiler: the brands app, below
    listening, cannot check it itself. A bad query is an error on the query field, saying
    where, as Brand.clean() said before the move."""

    class Meta:
        model = Brand
        fields = "__all__"  # noqa: DJ007 (as ModelAdmin's default form, see SourceAdminForm)

    def clean_query(self):
        query = self.cleaned_data["query"]
        try:
            compile_query(query)
        except QueryError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return query


class SourceAdminForm(forms.ModelForm):
    """A source's settings in admin, with its secret options (access tokens, app passwords)
    never sent to the browser: the config shows SECRET_KEPT in their place, and SECRET_KEPT
    posted back keeps what is stored. Anyone who could read the page (or its cached copy)
    could otherwise post as the brand."""

    class Meta:
        model = Source
        # Every field, as ModelAdmin's default form has: admin builds its fieldsets from
        # this form's fields, and readonly_fields leave out what is not editable.
        fields = "__all__"  # noqa: DJ007

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = self.instance.config if self.instance.pk else None
        if isinstance(config, dict) and "config" in self.fields:
            secrets = _secret_options(self.instance.kind)
            self.initial["config"] = {
                name: SECRET_KEPT if name in secrets and value else value
                for name, value in config.items()
            }

    def clean_config(self):
        config = self.cleaned_data.get("config")
        stored = self.instance.config if self.instance.pk else None
        if isinstance(config, dict):
            stored = stored if isinstance(stored, dict) else {}
            for name, value in list(config.items()):
                if value == SECRET_KEPT:
                    if name in stored:
                        config[name] = stored[name]
                    else:
                        raise forms.ValidationError(
                            f"Enter the value of {name!r}: nothing is stored for it yet."
                        )
        return config


class QueryTestForm(forms.Form):
    query = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80, "autofocus": True}),
        help_text='Terms, "phrases", AND / OR / NOT, (parentheses), refund*, #tag, @handle, '
        "author:, site:, lang:",
    )

    def clean_query(self):
        text = self.cleaned_data["query"]
        try:
            self.compiled = compile_query(text)
        except QueryError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return text
