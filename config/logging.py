"""Logging filters that keep the log about real work (issue 11).

Beat runs routing every 5 seconds; at INFO each run used to write three lines (beat's
"Sending due task", the worker's "received" and "succeeded") whether or not there was anything
to do, and every 403 or 404 came with a full traceback although nothing had failed.
"""

from __future__ import annotations

import logging
from functools import cache


@cache
def _periodic_task_names() -> frozenset[str]:
    from django.conf import settings

    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", {}) or {}
    return frozenset(entry["task"] for entry in schedule.values() if "task" in entry)


def _task_name(record: logging.LogRecord) -> str | None:
    data = getattr(record, "data", None)
    if isinstance(data, dict):
        return data.get("name")
    if record.name == "celery.beat" and isinstance(record.args, tuple) and len(record.args) == 2:
        return str(record.args[1])  # ("Sending due task %s (%s)", entry name, task name)
    return None


class QuietPeriodicTasks(logging.Filter):
    """Drop the INFO bookkeeping of the periodic tasks (CELERY_BEAT_SCHEDULE): beat's "Sending
    due task" and the worker's "received"; keep "succeeded" only when the task did something
    (a non-zero, non-empty return value, e.g. the number of mentions routed). Warnings and
    errors, and every line of any other task, pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        name = _task_name(record)
        if name is None or name not in _periodic_task_names():
            return True
        data = getattr(record, "data", None)
        if record.name == "celery.app.trace" and isinstance(data, dict) and "return_value" in data:
            return str(data["return_value"]) not in ("0", "None", "[]", "{}", "", "()")
        return False


class NoTracebackForClientErrors(logging.Filter):
    """django.request logs a refused request (403, 404, 400...) with the exception's
    traceback; a client error is not a failure of ours: keep its one line, drop the traceback.
    Server errors (500) keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True
