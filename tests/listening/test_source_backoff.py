"""One poll counts one failure, however many times its task retried it (issue 11).

A host name that does not resolve used to cost the source four failures in one poll (the
attempt and its three automatic retries), which backed it off within seconds. The task runs
through Celery's own eager path here, so its real retries run one after the other.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from listening.models import FetchLog, Source
from listening.services import brand_create, source_create, source_poll
from listening.tasks import MAX_POLL_RETRIES, source_poll_task

pytestmark = pytest.mark.django_db

INTERVAL = 600
UNRESOLVABLE = "https://feeds.name.invalid/acme.xml"


@pytest.fixture
def source(settings) -> Source:
    settings.EARSHOT_BACKOFF_AFTER_FAILURES = 3
    brand = brand_create(name="Acme", query="acme")
    return source_create(brand=brand, kind="rss", url=UNRESOLVABLE, poll_interval=INTERVAL)


def poll_through_the_task(source: Source) -> tuple[Source, timedelta, timedelta]:
    """Run one poll task with its retries; the source after it and the window next_poll_at
    must fall in for a delay of 0 (before, after)."""
    before = timezone.now()
    source_poll_task.apply(args=[source.pk])
    after = timezone.now()
    source.refresh_from_db()
    return source, before, after


def test_a_dns_failure_and_its_retries_count_one_failure(source):
    source, before, after = poll_through_the_task(source)

    attempts = FetchLog.objects.filter(source=source)
    # The attempt and every retry are in the fetch log...
    assert attempts.count() == 1 + MAX_POLL_RETRIES
    assert set(attempts.values_list("error_class", flat=True)) == {"connection_failed"}
    assert "Could not resolve host 'feeds.name.invalid'" in attempts.first().error_message
    # ...but the source failed once: polled again after its interval, not backed off.
    assert source.consecutive_failures == 1
    assert before + timedelta(seconds=INTERVAL) <= source.next_poll_at
    assert source.next_poll_at <= after + timedelta(seconds=INTERVAL)
    assert source.last_error.startswith("connection_failed: Could not resolve host")


def test_backoff_starts_after_the_configured_number_of_failed_polls(source):
    for polls in (1, 2):
        source, before, after = poll_through_the_task(source)
        assert source.consecutive_failures == polls
        assert source.next_poll_at <= after + timedelta(seconds=INTERVAL)

    source, before, after = poll_through_the_task(source)
    # The third failed poll reaches EARSHOT_BACKOFF_AFTER_FAILURES: the delay doubles.
    assert source.consecutive_failures == 3
    assert before + timedelta(seconds=2 * INTERVAL) <= source.next_poll_at
    assert source.next_poll_at <= after + timedelta(seconds=2 * INTERVAL)


def test_a_retry_that_succeeds_clears_the_failure(source, feed_server):
    from tests.feeds import numbered_items, rss_feed

    source_poll(source_id=source.pk)
    source.refresh_from_db()
    assert source.consecutive_failures == 1
    Source.objects.filter(pk=source.pk).update(
        url=feed_server.add("/acme.xml", rss_feed(numbered_items(2)))
    )

    source_poll(source_id=source.pk, is_retry=True)

    source.refresh_from_db()
    assert (source.consecutive_failures, source.last_error) == (0, "")


def test_a_retry_of_a_poll_whose_count_was_reset_still_counts_one(source):
    # An admin reset the source between the attempt and its retry: the poll still failed.
    source_poll(source_id=source.pk, is_retry=True)
    source.refresh_from_db()
    assert source.consecutive_failures == 1
