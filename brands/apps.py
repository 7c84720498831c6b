from django.apps import AppConfig


class BrandsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "brands"
    label = "brands"
    # The admin's heading for brands, memberships and the audit log.
    verbose_name = "Workspaces and access"
