"""The ROI report's setting in the Django admin: what a call-centre contact costs the brand,
edited by its admins (brands.admin.BrandScopedAdmin scopes rows and brand choices)."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from brands.admin import BrandScopedAdmin
from dashboard.models import RoiSettings


@admin.register(RoiSettings)
class RoiSettingsAdmin(BrandScopedAdmin, admin.ModelAdmin):
    list_display = ("brand", "contact_cost", "currency", "updated_at")
    list_select_related = ("brand",)
    fields = ("brand", "contact_cost", "currency", "updated_at")
    readonly_fields = ("updated_at",)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "brand"] if obj is not None else fields

    def save_model(self, request, obj, form, change):
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
