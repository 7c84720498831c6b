"""Tracked links in the Django admin: links (their targets are checked when made, so they
are made on the links page, the case page or the saved-reply editor, never typed here),
clicks and conversions read-only, and each brand's tracking settings with the postback
secret, shown once when it is made or rotated. Scoped to the brands a brand admin
configures (brands.admin.BrandScopedAdmin)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from brands.admin import BrandScopedAdmin, ReadOnlyAdmin
from tracking.models import Click, Conversion, TrackedLink, TrackingSettings
from tracking.services import postback_secret_new, postback_secret_rotate
from tracking.targets import utm_template_check


class TrackingSettingsForm(forms.ModelForm):
    rotate_secret = forms.BooleanField(
        required=False,
        label="Make a new postback secret",
        help_text="The old one stops working at once; the new one is shown once, after saving.",
    )

    class Meta:
        model = TrackingSettings
        fields = ("brand", "utm_template")

    def clean_utm_template(self):
        template = self.cleaned_data["utm_template"].strip()
        try:
            utm_template_check(template)
        except ValueError as exc:
            raise forms.ValidationError(f"UTM template: {exc}") from exc
        return template


@admin.register(TrackingSettings)
class TrackingSettingsAdmin(BrandScopedAdmin, admin.ModelAdmin):
    form = TrackingSettingsForm
    list_display = ("brand", "utm_template", "postbacks_refused", "last_postback_error_at")
    list_select_related = ("brand",)
    readonly_fields = (
        "secret_hint",
        "postbacks_refused",
        "last_postback_error",
        "last_postback_error_at",
    )
    # The secret never goes into the audit log (nor does the form show it).
    audit_redacted_fields = ("postback_secret",)

    def get_fields(self, request, obj=None):
        fields = ["brand", "utm_template"]
        if obj is not None:
            fields += ["secret_hint", "rotate_secret", *self.readonly_fields[1:]]
        return fields

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "brand"] if obj is not None else fields

    @admin.display(description="postback secret")
    def secret_hint(self, obj):
        if not obj.postback_secret:
            return "-"
        return format_html(
            "set, ending …{} (shown once when made; tick below for a new one). Sign "
            "POST {} like a webhook: see README, Tracked links.",
            obj.postback_secret[-4:],
            reverse("tracking:postback"),
        )

    def save_model(self, request, obj, form, change):
        shown = ""
        if not change:
            obj.postback_secret = shown = postback_secret_new()
        super().save_model(request, obj, form, change)
        if change and form.cleaned_data.get("rotate_secret"):
            shown = postback_secret_rotate(tracking=obj)
        if shown:
            self.message_user(
                request,
                f"The postback secret of {obj.brand} is {shown} . Copy it now into the shop's "
                "settings: it is not shown again.",
                messages.WARNING,
            )


@admin.register(TrackedLink)
class TrackedLinkAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("code", "target_url", "campaign", "brand", "case", "created_by", "created_at")
    list_filter = ("brand", "is_template")
    search_fields = ("code", "target_url", "campaign")
    list_select_related = ("brand", "case", "created_by")
    date_hierarchy = "created_at"
    raw_id_fields = ("case", "author", "template")


@admin.register(Click)
class ClickAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("at", "link", "campaign", "case", "agent_family", "is_bot", "brand")
    list_filter = ("brand", "is_bot", "agent_family")
    list_select_related = ("link", "brand", "case")
    date_hierarchy = "at"
    raw_id_fields = ("link", "case", "author")


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("order_id", "amount", "currency", "at", "channel", "is_verified", "brand")
    list_filter = ("brand", "channel", "is_verified", "currency")
    search_fields = ("order_id",)
    list_select_related = ("brand",)
    date_hierarchy = "at"
    raw_id_fields = ("click",)
