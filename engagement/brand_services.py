"""Creating a brand together with its care settings.

listening.services.brand_create makes the brand (name, query, competitor link); it sits below
engagement and cannot say whether the brand's customers are answered. This module adds that:
a brand you serve has care on, a brand created only to be watched as someone's competitor has
care off (its mentions are stored, scored and counted in share of voice, but open no case).
add_brand and load_demo create brands through here.
"""

from __future__ import annotations

from django.db import transaction

from brands.models import Brand
from engagement.models import CareSettings
from listening.services import brand_create

CARE_OFF_NOTE = (
    "care off: its mentions are counted, no cases are opened; turn it on in Care settings"
)


def brand_add(
    *, name: str, query: str, handles: str = "", domains: str = "", competitor_of: str = ""
) -> Brand:
    """Create a brand and its CareSettings: care on, or off when it is competitor_of another.

    Not idempotent (the name is unique). Touches Brand, the competitor link and CareSettings,
    in one transaction. Raises ValidationError as brand_create does.
    """
    with transaction.atomic():
        brand = brand_create(
            name=name, query=query, handles=handles, domains=domains, competitor_of=competitor_of
        )
        CareSettings.objects.create(brand=brand, care_enabled=not competitor_of)
    return brand


def brand_care_watch_only(*, brand: Brand) -> bool:
    """Turn care off for a brand that is only watched (a competitor). Idempotent: returns
    whether anything changed. Touches that brand's CareSettings (created when missing)."""
    settings, created = CareSettings.objects.get_or_create(
        brand=brand, defaults={"care_enabled": False}
    )
    if created:
        return True
    changed = CareSettings.objects.filter(pk=settings.pk, care_enabled=True).update(
        care_enabled=False
    )
    return bool(changed)
