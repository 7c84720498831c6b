"""Celery tasks of brands: thin wrappers over services (tested without Celery)."""

from __future__ import annotations

from celery import shared_task

from brands.signin_services import login_attempts_prune


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def login_attempts_prune_task() -> int:
    """Delete sign-in attempts no limit reads any more. Idempotent; safe to overlap."""
    return login_attempts_prune()
