"""App configs of the project itself."""

from django.contrib.admin.apps import AdminConfig


class EarshotAdminConfig(AdminConfig):
    """Installed instead of django.contrib.admin (settings.INSTALLED_APPS): the same admin,
    on Earshot's site (config/admin.py, imported once the apps are ready)."""

    default_site = "config.admin.EarshotAdminSite"

    def ready(self) -> None:
        super().ready()
        # Earshot's own system checks (static files collected when DEBUG is off).
        from config import checks  # noqa: F401
