from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate


def _rollups_fill(sender, *, using: str = "default", verbosity: int = 1, **kwargs) -> None:
    """After ``migrate``: count the rollups of brands that have mentions and none (the
    upgrade that made them, or listening 0011 which remade them), so an upgraded install's
    dashboard shows its history with no extra step. Nothing to do on every later migrate."""
    from django.db import connections

    from listening.models import MentionRollup
    from listening.rollups import brands_missing_rollups, rollups_rebuild

    if using != "default":
        return
    # ``migrate listening 0009`` (going back) leaves no rollup table to fill.
    if MentionRollup._meta.db_table not in connections[using].introspection.table_names():
        return
    for brand_id in brands_missing_rollups():
        counted = rollups_rebuild(brand_id=brand_id)
        if verbosity:
            print(f"  Counted the dashboard rollups of brand {brand_id}: {counted:,} mentions.")


def _rollups_cascaded(sender, instance, **kwargs) -> None:
    """A source or an author deleted takes its rollup rows with it (Django's CASCADE): the
    figures cached from them (dashboard.selectors) must be counted again."""
    from brands.models import Brand
    from listening.models import Source
    from listening.rollups import generations_bump

    if isinstance(instance, Source):
        # A source's rows count its brand and the competitors it watches.
        watched = Brand.competitors.through.objects.filter(from_brand_id=instance.brand_id)
        brand_ids = [instance.brand_id, *watched.values_list("to_brand_id", flat=True)]
    else:
        brand_ids = list(Brand.objects.values_list("pk", flat=True))
    generations_bump(brand_ids)


class ListeningConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "listening"
    verbose_name = "Listening"

    def ready(self) -> None:
        post_migrate.connect(_rollups_fill, sender=self, dispatch_uid="listening_rollups_fill")
        for model in ("Source", "Author"):
            post_delete.connect(
                _rollups_cascaded,
                sender=self.get_model(model),
                dispatch_uid=f"listening_rollups_cascaded_{model}",
            )
