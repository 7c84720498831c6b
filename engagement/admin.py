"""The engagement app's configuration in the Django admin: care settings, tags, auto-tag
rules and saved replies, and the sentiment corrections (read-only). Scoping to the brands a
brand admin configures, and the audit of every change, come from brands.admin.BrandScopedAdmin.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from brands.admin import BrandScopedAdmin, ReadOnlyAdmin
from engagement.models import AutoTagRule, CareSettings, SavedReply, SentimentCorrection, Tag
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
