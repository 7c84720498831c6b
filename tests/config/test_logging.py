"""The log tells about real work (issue 11): a periodic run with nothing to do writes nothing
at INFO, and a 403 or 404 is one line without a traceback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

from brands.models import Brand, Membership
from engagement.models import Case
from engagement.tasks import mentions_route_task, reply_deliver_task
from tests.database import database_url

REPO = Path(__file__).resolve().parents[2]


def worker_log_after(tmp_path: Path, send) -> str:
    """Start a real worker (the configured logging, --loglevel=INFO), call send() once it is
    ready, and return its output once the last task sent (a reply delivery, not periodic) has
    succeeded: the solo pool runs tasks in order, so everything before it has run."""
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "DEBUG": "true",
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
            + ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        send()
        while time.monotonic() < deadline:
            text = log_path.read_text()
            if "reply_deliver_task" in text and "succeeded" in text.split("reply_deliver")[-1]:
                return text
            time.sleep(0.1)
        raise AssertionError(f"the worker did not finish in time:\n{log_path.read_text()}")
    finally:
        process.terminate()
        process.wait(15)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_routing_run_with_nothing_to_do_logs_nothing_in_a_real_worker(tmp_path):
    def send():
        mentions_route_task.delay()
        mentions_route_task.delay()
        reply_deliver_task.delay(987654321)  # a reply that is gone: a quiet no-op

    output = worker_log_after(tmp_path, send).split(" ready.", 1)[1]  # after the banner

    assert "mentions_route_task" not in output, output
    # Not vacuous: the same worker does log the tasks that are not periodic.
    assert "reply_deliver_task" in output and "received" in output, output


def trace_record(name: str, return_value: object) -> logging.LogRecord:
    """The record celery.app.trace writes when a task succeeds (celery/app/trace.py info())."""
    context = {"id": "1", "name": name, "return_value": return_value, "runtime": 0.01}
    record = logging.getLogger("celery.app.trace").makeRecord(
        "celery.app.trace",
        logging.INFO,
        __file__,
        1,
        "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
        (context,),
        None,
        extra={"data": context},
    )
    return record


def test_a_periodic_task_that_did_work_keeps_its_line_and_failures_always_pass():
    from config.logging import QuietPeriodicTasks

    quiet = QuietPeriodicTasks()
    route = "engagement.tasks.mentions_route_task"
    assert not quiet.filter(trace_record(route, 0))
    assert quiet.filter(trace_record(route, 12))
    failed = trace_record(route, 0)
    failed.levelno = logging.ERROR
    assert quiet.filter(failed)
    assert quiet.filter(trace_record("engagement.reply_tasks.reply_deliver_task", None))
    beat = logging.getLogger("celery.beat").makeRecord(
        "celery.beat",
        logging.INFO,
        __file__,
        1,
        "Scheduler: Sending due task %s (%s)",
        ("engagement-route-mentions", route),
        None,
    )
    assert not quiet.filter(beat)


@pytest.fixture
def marketer(db):
    brand = Brand.objects.create(name="Acme", query="acme")
    user = get_user_model().objects.create_user("mia", password="a long passphrase 42")
    Membership.objects.create(user=user, brand=brand, role=Membership.Role.MARKETER)
    return user


@pytest.mark.django_db
def test_a_403_and_a_404_log_one_line_each_without_a_traceback(client, marketer, caplog):
    case = Case.objects.create(brand=Brand.objects.get(name="Acme"), subject="Billed twice")
    client.force_login(marketer)
    with caplog.at_level(logging.INFO):
        # Raised as PermissionDenied deep in a selector: Django logs it with exc_info.
        forbidden = client.get(f"/cases/{case.pk}/")
        missing = client.get("/no-such-page/")
    assert (forbidden.status_code, missing.status_code) == (403, 404)

    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 2, [r.getMessage() for r in records]
    assert all(r.exc_info is None and not r.exc_text for r in records)
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
def test_the_routing_task_with_nothing_to_do_logs_nothing_of_its_own(caplog):
    with caplog.at_level(logging.DEBUG):
        assert mentions_route_task() == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


@pytest.mark.django_db
def test_a_routing_run_that_routed_something_says_how_many(caplog):
    from engagement.brand_services import brand_add
    from listening.models import Source
    from tests.engagement.conftest import store_mention

    brand = brand_add(name="Northwind", query="northwind")
    source = Source.objects.create(brand=brand, kind="mastodon", url="https://social.example")
    store_mention(source, "northwind lost my parcel again, awful")
    store_mention(source, "northwind opened a store downtown", author_handle="e@x")

    with caplog.at_level(logging.INFO, logger="engagement.tasks"):
        assert mentions_route_task() == 2
    assert [r.getMessage() for r in caplog.records if r.name == "engagement.tasks"] == [
        "routed 2 mentions (0 failed)"
    ]
