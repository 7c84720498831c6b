"""The engagement app's configuration in the Django admin: care settings, tags, auto-tag
rules and saved replies, the sentiment corrections (read-only), and the sentiment models
learned from them with their rescorings (engagement.learning: activate, roll back, resume).
Scoping to the brands a brand admin configures, and the audit of every change, come from
brands.admin.BrandScopedAdmin.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from brands.admin import BrandScopedAdmin, ReadOnlyAdmin
from engagement.learning import (
    LearningError,
    sentiment_model_activate,
    sentiment_model_roll_back,
    sentiment_model_start,
    sentiment_rescore_resume,
)
from engagement.models import AutoTagRule, CareSettings, SavedReply, SentimentCorrection, Tag
from listening.models import SentimentModel, SentimentRescore
from listening.query import QueryError, compile_query

# -- care settings, tags, rules, saved replies --------------------------------------------------


@admin.register(CareSettings)
class CareSettingsAdmin(BrandScopedAdmin, admin.ModelAdmin):
    # The care switch first (issue 11): it decides whether anything below applies at all.
    fieldsets = (
        (
            None,
            {
                "fields": ("brand", "care_enabled"),
                "description": "Care on: mentions that need an answer open cases in the queue. "
                "Care off (competitors created with add_brand --competitor-of): the brand is "
                "only watched; its mentions are stored, scored and counted, but open no case.",
            },
        ),
        (
            "What needs an answer",
            {"fields": ("negative_threshold", "answer_questions", "answer_addressed")},
        ),
        ("Service levels", {"fields": ("first_response_minutes", "resolution_minutes")}),
        ("Reopening and follow-up", {"fields": ("reopen_window_hours", "followup_days")}),
    )
    list_display = (
        "brand",
        "care_enabled",
        "negative_threshold",
        "first_response_minutes",
        "resolution_minutes",
        "answer_questions",
        "answer_addressed",
    )
    list_select_related = ("brand",)
    list_filter = ("care_enabled",)


@admin.register(Tag)
class TagAdmin(BrandScopedAdmin, admin.ModelAdmin):
    list_display = ("name", "brand")
    list_filter = ("brand",)
    search_fields = ("name",)
    list_select_related = ("brand",)


class AutoTagRuleForm(forms.ModelForm):
    class Meta:
        model = AutoTagRule
        fields = ("brand", "query", "tag")

    def clean_query(self):
        query = self.cleaned_data["query"]
        try:
            compile_query(query)
        except QueryError as exc:
            raise forms.ValidationError(f"Query error: {exc}") from exc
        return query

    def clean(self):
        data = super().clean()
        brand, tag = data.get("brand"), data.get("tag")
        if brand and tag and tag.brand_id != brand.pk:
            self.add_error("tag", "Pick a tag of the same brand.")
        return data


@admin.register(AutoTagRule)
class AutoTagRuleAdmin(BrandScopedAdmin, admin.ModelAdmin):
    form = AutoTagRuleForm
    list_display = ("query", "tag", "brand")
    list_filter = ("brand",)
    list_select_related = ("brand", "tag")


@admin.register(SavedReply)
class SavedReplyAdmin(BrandScopedAdmin, admin.ModelAdmin):
    list_display = ("title", "brand")
    list_filter = ("brand",)
    search_fields = ("title", "body")
    list_select_related = ("brand",)


# -- read-only records ---------------------------------------------------------------------------


@admin.register(SentimentCorrection)
class SentimentCorrectionAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("mention", "original_label", "original_compound", "label", "user", "created_at")
    list_filter = ("label", "brand")
    list_select_related = ("mention", "user", "brand")
    date_hierarchy = "created_at"


# -- sentiment models learned from corrections (issue 13, engagement.learning) ---------------


def _f1(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


class SwitchesScorers:
    """Actions that change a brand's scorer: whoever configures the brand (the rows listed
    are already scoped to those brands), like every other admin change."""

    def has_switch_permission(self, request) -> bool:
        return request.user.is_superuser or self._may_configure(request)


@admin.register(SentimentModel)
class SentimentModelAdmin(SwitchesScorers, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = (
        "brand",
        "version",
        "status",
        "created_at",
        "training_size",
        "held_back_size",
        "model_f1",
        "care_f1",
        "languages_text",
        "why",
    )
    list_filter = ("status", "brand")
    list_select_related = ("brand",)
    ordering = ("brand", "-version")
    actions = ["activate", "roll_back", "roll_back_to_default", "train_now"]
    exclude = ("data", "figures", "label_counts", "languages")
    readonly_fields = ("validation", "label_counts_text", "languages_text")

    def get_queryset(self, request):
        # The serialised model can be megabytes: never read for a page.
        return super().get_queryset(request).defer("data")

    @admin.display(description="model macro-F1", ordering="model_macro_f1")
    def model_f1(self, obj):
        return _f1(obj.model_macro_f1)

    @admin.display(description="care macro-F1", ordering="care_macro_f1")
    def care_f1(self, obj):
        return _f1(obj.care_macro_f1)

    @admin.display(description="languages")
    def languages_text(self, obj):
        return ", ".join(obj.languages or [])

    @admin.display(description="training labels")
    def label_counts_text(self, obj):
        return ", ".join(f"{label} {n}" for label, n in sorted((obj.label_counts or {}).items()))

    @admin.display(description="why")
    def why(self, obj):
        text = obj.load_error or obj.status_reason
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.display(description="validation on held-back corrections")
    def validation(self, obj):
        """Model against care scorer on the same held-back corrections, then each further
        language the model learned."""
        figures = obj.figures or {}
        rows = [
            (name, figures.get(key))
            for name, key in (("this model", "model"), ("care scorer", "care"))
        ]
        rows += [
            (f"this model, language {code}", f)
            for code, f in sorted((figures.get("languages") or {}).items())
        ]
        rows = [(name, f) for name, f in rows if f]
        if not rows:
            return "-"
        return format_html(
            "<table><tr><th></th><th>held back</th><th>accuracy</th><th>macro-F1</th>"
            "<th>F1 negative</th><th>F1 neutral</th><th>F1 positive</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                "<td>{}</td></tr>",
                (
                    (
                        name,
                        f["size"],
                        _f1(f["accuracy"]),
                        _f1(f["macro_f1"]),
                        *(_f1(f["f1"].get(label)) for label in ("negative", "neutral", "positive")),
                    )
                    for name, f in rows
                ),
            ),
        )

    @admin.action(description="Make the selected model its brand's scorer", permissions=["switch"])
    def activate(self, request, queryset):
        for model in queryset.order_by("brand_id", "-version"):
            try:
                rescore = sentiment_model_activate(model=model, user=request.user)
            except LearningError as error:
                self.message_user(request, f"{model}: {error}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{model.brand}: v{model.version} active; relabelling {rescore.total}"
                " mentions in the background (see Sentiment rescorings).",
            )

    def _roll_back(self, request, queryset, *, to_default: bool):
        for brand_id in sorted(set(queryset.values_list("brand_id", flat=True))):
            try:
                rescore = sentiment_model_roll_back(
                    brand_id=brand_id, user=request.user, to_default=to_default
                )
            except LearningError as error:
                self.message_user(request, f"{error}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{rescore.brand}: {rescore.reason}; relabelling {rescore.total}"
                " mentions in the background.",
            )

    @admin.action(
        description="Roll the brand back to its previous model (or the default scorer)",
        permissions=["switch"],
    )
    def roll_back(self, request, queryset):
        self._roll_back(request, queryset, to_default=False)

    @admin.action(description="Roll the brand back to the default scorer", permissions=["switch"])
    def roll_back_to_default(self, request, queryset):
        self._roll_back(request, queryset, to_default=True)

    @admin.action(description="Train a new model for the brand now", permissions=["switch"])
    def train_now(self, request, queryset):
        for brand_id in sorted(set(queryset.values_list("brand_id", flat=True))):
            model = sentiment_model_start(brand_id=brand_id)
            if model is None:
                self.message_user(request, "A training of that brand is under way already.")
            else:
                self.message_user(request, f"{model}: training in a worker.")


@admin.register(SentimentRescore)
class SentimentRescoreAdmin(SwitchesScorers, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = (
        "brand",
        "reason",
        "status",
        "progress",
        "changed",
        "batches",
        "started_at",
        "finished_at",
        "error_text",
    )
    list_filter = ("status", "brand")
    list_select_related = ("brand",)
    actions = ["resume"]

    @admin.display(description="done / total")
    def progress(self, obj):
        return f"{obj.done:,} / {obj.total:,}"

    @admin.display(description="error")
    def error_text(self, obj):
        return obj.error if len(obj.error) <= 120 else obj.error[:119] + "…"

    @admin.action(description="Resume the selected failed rescorings", permissions=["switch"])
    def resume(self, request, queryset):
        for rescore in queryset:
            if sentiment_rescore_resume(rescore_id=rescore.pk):
                self.message_user(request, f"{rescore}: resumed.")
            else:
                self.message_user(
                    request,
                    f"{rescore}: not resumed (only the brand's latest failed one can be).",
                    messages.WARNING,
                )
