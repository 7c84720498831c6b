"""The demo's one periodic task (scheduled in config/settings.py only where the demo app is
installed)."""

from __future__ import annotations

import logging

from celery import shared_task

from brands.models import Brand
from demo import content
from demo.roi import demo_tracking_set_up
from demo.services import demo_history_file_all

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def demo_history_file_task() -> int:
    """File the demo brand's cases from before the demo was loaded as history (see
    demo/services.py), then, once its cases are routed, give them tracked links with clicks
    and sales (demo/roi.py, once). Idempotent; touches the demo brand's cases and their
    matches, and its tracked links, clicks and conversions."""
    filed = demo_history_file_all(brand_name=content.ACME.name)
    if filed:
        logger.info("filed %d demo cases from before the demo was loaded as history", filed)
    brand = Brand.objects.filter(name__iexact=content.ACME.name).first()
    if brand is not None:
        links = demo_tracking_set_up(brand=brand)
        if links:
            logger.info("made %d demo tracked links with clicks and sales", links)
    return filed
