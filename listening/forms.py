from django import forms

from brands.models import Brand
from listening.connectors.registry import CONNECTORS, UnknownSourceKind, connector_for
from listening.models import Source
from listening.query import QueryError, compile_query
from listening.services import SourceCheck, source_check

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


def kind_help() -> list[dict]:
    """What each kind of source needs, from its connector: shown under Kind in admin, the
    selected kind's only (listening/templates/admin/listening/source/kind_select.html)."""
    labels = dict(Source.Kind.choices)
    kinds = []
    for kind in CONNECTORS:
        connector = connector_for(kind)
        if connector.is_live:
            how = "Live: followed as it happens by manage.py run_streams."
        elif connector.is_polled:
            how = "Polled on its poll interval by the worker."
        else:
            how = "Pushed to Earshot: nothing is fetched."
        if connector.is_live:
            how += " Checked when you save it: Earshot connects once and stores nothing."
        elif connector.is_checked:
            how += " Checked when you save it: fetched once, nothing is stored."
        kinds.append(
            {
                "value": kind,
                "label": labels.get(kind, kind),
                "how": how,
                "url_help": connector.url_help,
                "default_url": connector.default_url,
                "options": connector.config_fields,
            }
        )
    return kinds


class KindSelect(forms.Select):
    """The kind drop-down, followed by the help of every kind; static JS shows the selected
    kind's only (no inline script: the Content-Security-Policy refuses it). Without JS the
    kind selected when the page was made is shown."""

    template_name = "admin/listening/source/kind_select.html"

    def __init__(self, attrs=None, choices=()):
        super().__init__({"data-kind-help": "", **(attrs or {})}, choices)

    class Media:
        js = ["earshot/source_kind.js"]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["kind_help"] = kind_help()
        return context


# Editing these fetches differently: the source is checked again when one of them changes.
_CHECKED_FIELDS = ("brand_id", "kind", "url", "config")


class SourceAdminForm(forms.ModelForm):
    """A source's settings in admin, with its secret options (access tokens, app passwords)
    never sent to the browser: the config shows SECRET_KEPT in their place, and SECRET_KEPT
    posted back keeps what is stored. Anyone who could read the page (or its cached copy)
    could otherwise post as the brand.

    A new source, or one whose kind, URL, options or brand changed, is fetched once before it
    is saved (services.source_check, a dry run): an error is a form error. When the host is
    only down now, a "Save anyway" box appears, and ticking it saves the source all the same;
    a blocked address or a bad answer can never be saved that way.
    """

    save_anyway = forms.BooleanField(
        required=False,
        label="Save anyway",
        help_text="The host could not be reached just now. Tick this to save the source all "
        "the same: its polls will keep trying, and its health shows how they go.",
        widget=forms.HiddenInput,
    )

    class Meta:
        model = Source
        # Every field, as ModelAdmin's default form has: admin builds its fieldsets from
        # this form's fields, and readonly_fields leave out what is not editable.
        fields = "__all__"  # noqa: DJ007
        widgets = {"kind": KindSelect}
        help_texts = {
            "url": "The help under Kind says what it is for the selected kind, and its default.",
            "config": 'The kind\'s options as JSON, e.g. {"hashtag": "acme"}; the help '
            "under Kind lists them.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # What the check found, for admin to tell the user once the source is saved.
        self.check: SourceCheck | None = None
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

    def _fetches_differently(self) -> bool:
        """Does the edited source differ from the stored row in what is fetched? Compared
        after cleaning, so a form that only looks different (JSON spacing) does not count."""
        stored = Source.objects.filter(pk=self.instance.pk).values(*_CHECKED_FIELDS).first()
        if stored is None:
            return True
        return any(getattr(self.instance, name) != stored[name] for name in _CHECKED_FIELDS)

    def _post_clean(self):
        # After the model's own validation (Source.clean fills the default URL and cleans the
        # options), so the check fetches exactly what would be saved.
        super()._post_clean()
        if self.errors:
            return
        if self.instance.pk and not self._fetches_differently():
            return
        check = source_check(source=self.instance)
        self.check = check
        if check is None or check.is_ok:
            return
        if check.may_save_anyway:
            if self.cleaned_data.get("save_anyway"):
                return
            self.fields["save_anyway"].widget = forms.CheckboxInput()
            self.add_error(
                "url",
                f"{check.message} If the host is only down now, tick \u201cSave anyway\u201d "
                "below and save again.",
            )
        else:
            self.add_error("config" if check.error_class == "bad_config" else "url", check.message)


class QueryTestForm(forms.Form):
    query = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80, "autofocus": True}),
        help_text='Terms, "phrases", AND / OR / NOT, (parentheses), refund*, #tag, @handle, '
        "author:, site:, lang: (the source's language, else detected from the text)",
    )

    def clean_query(self):
        text = self.cleaned_data["query"]
        try:
            self.compiled = compile_query(text)
        except QueryError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return text
