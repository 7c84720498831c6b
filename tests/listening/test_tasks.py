"""Tasks through a real Celery worker process and the configured broker (Redis in CI)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from listening.models import FetchLog, Mention, MentionMatch, Source
from listening.services import brand_create, fetchlogs_interrupted_mark, source_create
from listening.tasks import POLL_TIME_LIMIT, source_poll_task, sources_dispatch_due_task
from tests.database import database_url
from tests.feeds import numbered_items, rss_feed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


REPO = Path(__file__).resolve().parents[2]


def purge_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")


class Worker:
    """A real `celery worker` subprocess on the test database."""

    def __init__(self, allowed_hosts: list[str], **extra_env: str) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
            "EARSHOT_ALLOWED_PRIVATE_HOSTS": ",".join(allowed_hosts),
            "DEBUG": "true",
            **extra_env,
        }
        self.log = open(REPO / "var" / f"test-worker-{os.getpid()}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate.__name__}")


@pytest.fixture
def acme():
    brand = brand_create(name="Acme", query="acme")
    brand_create(name="Globex", query="globex", competitor_of="Acme")
    return brand


def test_a_real_worker_polls_due_sources_and_a_second_run_doubles_nothing(acme, feed_server):
    purge_broker()
    url = feed_server.add("/feed.xml", rss_feed(numbered_items(40)))
    source = source_create(brand=acme, kind="rss", url=url, poll_interval=60)
    worker = Worker([f"127.0.0.1:{feed_server.port}"])
    try:
        # What beat does every EARSHOT_DISPATCH_INTERVAL seconds.
        sources_dispatch_due_task.delay()

        def first_fetch_finished():
            return FetchLog.objects.filter(source=source, finished_at__isnull=False).count() == 1

        wait_for(first_fetch_finished)
        assert Mention.objects.filter(source=source).count() == 40
        log = FetchLog.objects.get(source=source)
        assert (log.items_new, log.error_class) == (40, "")

        source_poll_task.delay(source.pk)

        def second_fetch_finished():
            return FetchLog.objects.filter(source=source, finished_at__isnull=False).count() == 2

        wait_for(second_fetch_finished)
        assert Mention.objects.filter(source=source).count() == 40
        assert MentionMatch.objects.count() == 40
    finally:
        worker.stop()


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(acme, feed_server):
    """SIGKILL the worker between two committed batches; the task runs again and completes."""
    purge_broker()
    total = 6000
    url = feed_server.add("/big.xml", rss_feed(numbered_items(total)))
    source = source_create(brand=acme, kind="rss", url=url, poll_interval=60)
    hosts = [f"127.0.0.1:{feed_server.port}"]
    uses_redis = django_settings.CELERY_BROKER_URL.startswith("redis")
    # Small batches so the kill lands between commits; a short visibility timeout so Redis
    # hands the unacknowledged task (acks_late) to the next worker within seconds.
    extra = {"EARSHOT_STORE_BATCH_SIZE": "100", "CELERY_VISIBILITY_TIMEOUT": "3"}
    worker = Worker(hosts, **extra)
    try:
        source_poll_task.delay(source.pk)

        def some_batches_committed():
            return Mention.objects.filter(source=source).count() > 0

        wait_for(some_batches_committed, interval=0.005)
        worker.kill()
        stored_at_kill = Mention.objects.filter(source=source).count()
        assert 0 < stored_at_kill < total, "the kill should land mid-feed"
    finally:
        worker.stop()

    interrupted = FetchLog.objects.get(source=source)
    assert interrupted.finished_at is None  # visible in admin as a fetch that never finished

    if not uses_redis:
        # The filesystem transport does not redeliver unacknowledged messages; run it again.
        source_poll_task.delay(source.pk)
    second = Worker(hosts, **extra)
    try:

        def all_stored():
            return FetchLog.objects.filter(source=source, finished_at__isnull=False).exists()

        wait_for(all_stored, timeout=90)
    finally:
        second.stop()
    assert Mention.objects.filter(source=source).count() == total
    assert MentionMatch.objects.filter(mention__source=source).count() == total
    finished = FetchLog.objects.get(source=source, finished_at__isnull=False)
    assert finished.items_new == total - stored_at_kill
    assert finished.items_duplicate == stored_at_kill

    # Once no worker can still be running it, the dispatcher marks the killed fetch (issue 9);
    # the redelivered poll succeeded after it, so the source stays healthy.
    limit = timedelta(seconds=POLL_TIME_LIMIT)
    later = timezone.now() + limit + timedelta(seconds=1)
    assert fetchlogs_interrupted_mark(older_than=limit, now=later) == 1
    interrupted.refresh_from_db()
    assert (interrupted.error_class, interrupted.is_success) == ("interrupted", False)
    source.refresh_from_db()
    assert source.consecutive_failures == 0


def test_one_poisonous_source_does_not_stop_the_dispatch_of_the_others(acme, feed_server):
    """Rows a bug or a hand edit could leave (issue 9): the others are dispatched and polled."""
    purge_broker()
    first = source_create(
        brand=acme, kind="rss", url=feed_server.add("/a.xml", rss_feed(numbered_items(5)))
    )
    second = source_create(
        brand=acme, kind="rss", url=feed_server.add("/b.xml", rss_feed(numbered_items(7)))
    )
    poison = source_create(
        brand=acme, kind="rss", url=feed_server.add("/c.xml", rss_feed(numbered_items(3)))
    )
    year_one = datetime(1, 1, 1, tzinfo=UTC)
    Source.objects.filter(pk=first.pk).update(next_poll_at=year_one)
    # A history further back than a date can reach, and a kind no connector knows.
    Source.objects.filter(pk=poison.pk).update(backfill_days=2**31 - 1, next_poll_at=year_one)
    Source.objects.create(brand=acme, kind="gopher", url="gopher://example.org/")
    # A fetch killed long ago, for the dispatcher to mark on its way.
    killed = FetchLog.objects.create(source=second, started_at=timezone.now() - timedelta(hours=2))
    worker = Worker([f"127.0.0.1:{feed_server.port}"])
    try:
        sources_dispatch_due_task.delay()

        def three_fetches_finished():
            return FetchLog.objects.filter(finished_at__isnull=False).count() == 3

        wait_for(three_fetches_finished)
    finally:
        worker.stop()
    assert Mention.objects.filter(source=first).count() == 5
    assert Mention.objects.filter(source=second).count() == 7
    killed.refresh_from_db()
    assert killed.error_class == "interrupted"
    # The poisonous source's own fetch says what went wrong, if anything did.
    log = FetchLog.objects.get(source=poison, finished_at__isnull=False)
    poison.refresh_from_db()
    assert log.is_success or (log.error_class and poison.consecutive_failures == 1)
