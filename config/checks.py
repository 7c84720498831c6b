"""System checks of Earshot's own set-up (registered in config/apps.py).

Static files (issue 11): with DEBUG off, pages name their CSS and JavaScript through the
manifest that `collectstatic` writes (whitenoise's CompressedManifestStaticFilesStorage). An
install that never ran it answered 500 on the first page ("Missing staticfiles manifest
entry"); now gunicorn's start (config/gunicorn.py) and `manage.py check --deploy` stop with what
to run, and a page that still meets a missing entry (runserver with DEBUG off, say) answers a
500 that says the same (config/middleware.StaticFilesMissingMiddleware).

It is a deployment check: the web server needs collected files, a management command does not,
so migrate, route_cases, import_mentions and cron jobs run on a host that serves no pages.
"""

from __future__ import annotations

from django.conf import STATICFILES_STORAGE_ALIAS, settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.checks import Error, register
from django.core.files.storage import storages

# The front-end package every page loads (templates/base.html); it comes from npm.
HTMX = "vendor/htmx/htmx.min.js"
PRODUCTION_HINT = (
    "Run `npm ci` (front-end packages), then `python manage.py collectstatic --noinput`, "
    "before starting the web server; see README, 'Production: static files'."
)


@register("earshot", deploy=True)
def static_files_collected(app_configs=None, **kwargs) -> list[Error]:
    """With DEBUG off and a manifest storage: the manifest exists and lists htmx."""
    if settings.DEBUG:
        return []
    backend = storages[STATICFILES_STORAGE_ALIAS]
    if not isinstance(backend, ManifestFilesMixin):
        return []
    if not backend.manifest_storage.exists(backend.manifest_name):
        return [
            Error(
                f"Static files are not collected: {settings.STATIC_ROOT}/"
                f"{backend.manifest_name} is missing, so with DEBUG off every page would "
                "answer 500. Run `python manage.py collectstatic`.",
                hint=PRODUCTION_HINT,
                id="earshot.E001",
            )
        ]
    if HTMX not in backend.hashed_files:
        return [
            Error(
                f"Static files were collected without the front-end packages: {HTMX} is not "
                "in the manifest, so every page would answer 500.",
                hint=PRODUCTION_HINT,
                id="earshot.E002",
            )
        ]
    return []
