"""Brand-scoped configuration in the Django admin: the base every app's admin builds on
(BrandScopedAdmin, BrandScopedInline, ReadOnlyAdmin), memberships and the audit log.

Superusers see everything, as usual. A brand admin (is_staff, Membership role admin, not a
superuser, no Django model permissions at all) sees and changes only the rows of the brands
where permissions.py allows Action.CONFIGURE; rows of other brands do not exist for them
(the admin answers "doesn't exist" for a guessed id), and foreign-key choices stop at their
brands. Every add, change and delete made here writes an AuditLog row.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from brands.models import AuditLog, Brand, Membership
from brands.permissions import Action, brand_ids_for, scoped
from brands.services import membership_staff_sync, user_create

# The audit log names what an admin changed "app.model". The models that moved to brands
# (issue 10) keep the names their entries always had, so one filter still finds a brand's or
# a membership's whole history.
_AUDIT_OBJECT_TYPES = {
    "brands.brand": "listening.brand",
    "brands.membership": "engagement.membership",
}


def audit_object_type(obj: models.Model) -> str:
    label = obj._meta.label_lower
    return _AUDIT_OBJECT_TYPES.get(label, label)[:40]


def _plain(value: Any) -> Any:
    """A JSON-safe copy (datetimes as ISO strings, decimals as strings)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _field_values(obj: models.Model, names) -> dict[str, Any]:
    values = {}
    for name in names:
        try:
            field = obj._meta.get_field(name)
        except Exception:  # noqa: S112 (a form-only field such as a password)
            continue
        if field.many_to_many:
            values[name] = sorted(o.pk for o in field.value_from_object(obj)) if obj.pk else []
        elif field.concrete:
            values[name] = field.value_from_object(obj)
    return _plain(values)


# For every admin form of ours (BrandScopedAdmin and the few plain ModelAdmins).
URL_FIELDS_ASSUME_HTTPS = {models.URLField: {"assume_scheme": "https"}}


class BrandScopedAdmin:
    """Mixin for ModelAdmin: scope rows, choices and permissions to CONFIGURE brands; audit.

    brand_path is the lookup from the model to its Brand ("brand", "source__brand", "pk" for
    Brand itself). Rules come from permissions.py only.
    """

    brand_path = "brand"
    # A path through a to-many relation (Mention via matches) needs DISTINCT.
    brand_path_is_multi = False
    # Fields that may hold secrets (a source's access token in config): the audit says that
    # they changed, never what to.
    audit_redacted_fields: tuple[str, ...] = ()
    # A URL typed without a scheme is read as https:// (Django 6's default; 5.2 warns
    # that its http:// default is going away).
    formfield_overrides = URL_FIELDS_ASSUME_HTTPS

    # -- scope -------------------------------------------------------------------------------

    def configure_ids(self, request) -> list[int]:
        return brand_ids_for(request.user, Action.CONFIGURE)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        qs = scoped(qs, request.user, Action.CONFIGURE, brand_field=self.brand_path)
        return qs.distinct() if self.brand_path_is_multi else qs

    def _scoped_choices(self, request, model):
        if model is Brand:
            return Brand.objects.filter(pk__in=self.configure_ids(request))
        admin_for = self.admin_site._registry.get(model)
        if isinstance(admin_for, BrandScopedAdmin):
            return admin_for.get_queryset(request)
        return None

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            qs = self._scoped_choices(request, db_field.related_model)
            if qs is not None:
                kwargs["queryset"] = qs
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            qs = self._scoped_choices(request, db_field.related_model)
            if qs is not None:
                kwargs["queryset"] = qs
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Links to other brands (competitors) would lose the ones the brand admin cannot
            # see on every save; only a superuser edits them.
            fields += [
                f.name
                for f in self.model._meta.many_to_many
                if f.related_model is Brand and f.name not in fields
            ]
        return fields

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if request.user.is_superuser:
            return filters
        # A plain related filter lists every row of the related table (every brand's name);
        # RelatedOnlyFieldListFilter lists only values present in the scoped queryset.
        scoped_filters = []
        for item in filters:
            if isinstance(item, str) and get_fields_from_path(self.model, item)[-1].is_relation:
                item = (item, admin.RelatedOnlyFieldListFilter)
            scoped_filters.append(item)
        return scoped_filters

    # -- permissions: from the membership, not from Django model permissions ----------------

    def _may_configure(self, request, obj=None) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        ids = self.configure_ids(request)
        if not ids:
            return False
        if obj is None:
            return True
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request):
        if request.user.is_superuser:
            return super().has_module_permission(request)
        return self._may_configure(request)

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        return self._may_configure(request, obj)

    def has_add_permission(self, request, *args):
        if request.user.is_superuser:
            return super().has_add_permission(request, *args)
        return self._may_configure(request)

    def has_change_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_change_permission(request, obj)
        return self._may_configure(request, obj)

    def has_delete_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_delete_permission(request, obj)
        return self._may_configure(request, obj)

    # -- audit -------------------------------------------------------------------------------

    def _brand_id_of(self, obj) -> int | None:
        if self.brand_path == "pk":
            return obj.pk
        if self.brand_path_is_multi:
            return None
        value = obj
        for part in self.brand_path.split("__"):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value.pk

    def _audit(
        self,
        request,
        obj,
        action: str,
        before: dict,
        after: dict,
        *,
        object_id: Any = None,
        brand_id: int | None = None,
    ) -> None:
        for values in (before, after):
            for name in self.audit_redacted_fields:
                if name in values:
                    values[name] = "(redacted)"
        AuditLog.objects.create(
            actor=request.user,
            brand_id=brand_id if object_id is not None else self._brand_id_of(obj),
            action=action,
            object_type=audit_object_type(obj),
            object_id=str(object_id if object_id is not None else obj.pk),
            before=before,
            after=after,
        )

    def save_model(self, request, obj, form, change):
        changed = [n for n in form.changed_data if n in {f.name for f in obj._meta.get_fields()}]
        before = {}
        if change:
            old = type(obj)._base_manager.filter(pk=obj.pk).first()
            before = _field_values(old, changed) if old is not None else {}
        super().save_model(request, obj, form, change)
        after = _field_values(obj, [n for n in changed if not obj._meta.get_field(n).many_to_many])
        for name in changed:
            if obj._meta.get_field(name).many_to_many:
                after[name] = sorted(o.pk for o in form.cleaned_data.get(name) or [])
        self._audit(request, obj, "admin.change" if change else "admin.add", before, after)

    def delete_model(self, request, obj):
        before = _field_values(obj, [f.name for f in obj._meta.concrete_fields])
        pk = obj.pk
        # A deleted brand takes its row with it: its own audit entry points at no brand.
        brand_id = None if isinstance(obj, Brand) else self._brand_id_of(obj)
        super().delete_model(request, obj)
        self._audit(request, obj, "admin.delete", before, {}, object_id=pk, brand_id=brand_id)

    def delete_queryset(self, request, queryset):
        # The changelist's bulk delete: one audit row per object, like delete_model.
        for obj in queryset:
            self.delete_model(request, obj)


class BrandScopedInline:
    """Mixin for read-only inlines on a BrandScopedAdmin page: visible to brand admins."""

    brand_path = "brand"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser or not self.brand_path:
            return qs
        return scoped(qs, request.user, Action.CONFIGURE, brand_field=self.brand_path)

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        return request.user.is_staff and bool(brand_ids_for(request.user, Action.CONFIGURE))


class ReadOnlyAdmin(BrandScopedAdmin):
    """Records written by services (corrections, audit): listed and opened, never edited."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# -- memberships -----------------------------------------------------------------------------


class MembershipAddForm(forms.ModelForm):
    """Add someone to a brand: an existing username, or a new user with a password."""

    username = forms.CharField(max_length=150)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only for a new user; leave empty to add an existing user.",
    )
    email = forms.EmailField(required=False, help_text="Only for a new user.")

    class Meta:
        model = Membership
        fields = ("brand", "role")

    def clean(self):
        data = super().clean()
        username = (data.get("username") or "").strip()
        existing = get_user_model().objects.filter(username=username).first()
        self.existing_user = existing
        if existing is not None:
            if data.get("password"):
                # Never let a brand admin set the password of someone who already exists.
                self.add_error("password", "This user exists: leave the password empty.")
            brand = data.get("brand")
            if brand and Membership.objects.filter(user=existing, brand=brand).exists():
                self.add_error("username", "This user is already a member of the brand.")
        elif not data.get("password"):
            self.add_error("password", "No user by that name: give a password to create one.")
        else:
            # Checked here, as a form error: user_create would raise it from save_model (500).
            candidate = get_user_model()(username=username, email=data.get("email") or "")
            try:
                password_validation.validate_password(data["password"], candidate)
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


@admin.register(Membership)
class MembershipAdmin(BrandScopedAdmin, admin.ModelAdmin):
    list_display = ("user", "brand", "role", "created_at")
    list_filter = ("role", "brand")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user", "brand")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MembershipAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("username", "password", "email", "brand", "role")
        return ("user", "brand", "role", "created_at")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "user", "created_at"] if obj is not None else fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.user = form.existing_user or user_create(
                username=form.cleaned_data["username"].strip(),
                password=form.cleaned_data["password"],
                email=form.cleaned_data.get("email") or "",
            )
        super().save_model(request, obj, form, change)
        membership_staff_sync(membership=obj)


# -- audit ---------------------------------------------------------------------------------------


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("at", "actor", "brand", "action", "object_type", "object_id")
    list_filter = ("action", "object_type", "brand", "actor")
    search_fields = ("object_id",)
    list_select_related = ("actor", "brand")
    date_hierarchy = "at"
