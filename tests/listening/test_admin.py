"""Source admin: secret options never reach the browser and survive an unchanged save; fetch
logs say running or interrupted until a fetch finishes."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.forms import MultiWidget
from django.urls import reverse
from django.utils import timezone

from listening.forms import SECRET_KEPT
from listening.models import FetchLog, Mention, Source
from listening.services import brand_create, fetchlogs_interrupted_mark
from listening.tasks import POLL_TIME_LIMIT, sources_dispatch_due_task

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-token-abc123"


@pytest.fixture
def source(feed_server) -> Source:
    brand = brand_create(name="Acme", query="acme")
    # A changed config is checked against the instance before it is saved (issue 11).
    for tag in ("acme", "acmemobile"):
        feed_server.add(f"/api/v1/timelines/tag/{tag}", b"[]", content_type="application/json")
    return Source.objects.create(
        brand=brand,
        kind="mastodon",
        url=feed_server.url("").rstrip("/"),
        config={"hashtag": "acme", "access_token": TOKEN},
    )


def change_url(source: Source) -> str:
    return reverse("admin:listening_source_change", args=[source.pk])


def form_data(response, **config_changes) -> dict[str, str]:
    """What the browser would post back from the change page, with config options changed."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[form[name].html_name] = "on"
            continue
        widget = form.fields[name].widget
        if isinstance(widget, MultiWidget):  # a date and a time input, say
            for i, part in enumerate(widget.decompress(value)):
                data[f"{form[name].html_name}_{i}"] = "" if part is None else str(part)
            continue
        data[form[name].html_name] = "" if value is None else str(value)
    config = json.loads(data["config"])
    config.update(config_changes)
    data["config"] = json.dumps(config)
    for inline in response.context["inline_admin_formsets"]:
        for field in inline.formset.management_form:
            data[field.html_name] = str(field.value())
        for inline_form in inline.formset.forms:
            for field in inline_form:
                value = field.value()
                data[field.html_name] = "" if value is None else str(value)
    return data


def test_the_change_page_never_shows_a_stored_secret(admin_client, source):
    response = admin_client.get(change_url(source))

    page = response.content.decode()
    assert TOKEN not in page
    assert SECRET_KEPT in page
    assert "acme" in page  # options that are not secret are shown as they are


def test_saving_without_touching_the_secret_keeps_it(admin_client, source, feed_server):
    data = form_data(admin_client.get(change_url(source)), hashtag="acmemobile")

    response = admin_client.post(change_url(source), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    source.refresh_from_db()
    assert source.config == {"hashtag": "acmemobile", "access_token": TOKEN}
    # The check of the changed source fetched with the stored token, not the placeholder.
    (checked,) = feed_server.requests_for("/api/v1/timelines/tag/acmemobile")
    assert checked.header("Authorization") == f"Bearer {TOKEN}"


def test_typing_a_new_secret_replaces_it(admin_client, source):
    data = form_data(admin_client.get(change_url(source)), access_token="new-token-456")

    response = admin_client.post(change_url(source), data)

    assert response.status_code == 302
    source.refresh_from_db()
    assert source.config["access_token"] == "new-token-456"


def test_the_placeholder_for_a_secret_never_stored_is_refused(admin_client, source):
    source.config = {"hashtag": "acme"}
    source.save()
    data = form_data(admin_client.get(change_url(source)), access_token=SECRET_KEPT)

    response = admin_client.post(change_url(source), data)

    assert response.status_code == 200
    assert "nothing is stored for it yet" in response.content.decode()
    source.refresh_from_db()
    assert "access_token" not in source.config


# --- Fetches that never finished (issue 9) ----------------------------------------------------

FETCH_LOGS = "admin:listening_fetchlog_changelist"
SOURCES = "admin:listening_source_changelist"


def outcome_cells(page: str) -> list[str]:
    return re.findall(r'<td class="field-outcome">(.*?)</td>', page, flags=re.S)


@pytest.fixture
def not_due(source):
    """The source is not due, so the dispatch task only marks fetch logs (nothing enqueued)."""
    Source.objects.filter(pk=source.pk).update(next_poll_at=timezone.now() + timedelta(hours=1))
    return source


def unfinished_log(source, *, age: timedelta) -> FetchLog:
    return FetchLog.objects.create(source=source, started_at=timezone.now() - age)


def test_a_fetch_without_a_finish_is_running_never_ok(admin_client, source):
    log = unfinished_log(source, age=timedelta(seconds=10))

    page = admin_client.get(reverse(FETCH_LOGS)).content.decode()

    assert [re.sub(r"<[^>]+>", "", c) for c in outcome_cells(page)] == ["running"]
    assert not log.is_success


def test_a_fetch_older_than_the_poll_time_limit_shows_as_interrupted(admin_client, source):
    log = unfinished_log(source, age=timedelta(seconds=POLL_TIME_LIMIT + 5))
    done = FetchLog.objects.create(
        source=source, started_at=timezone.now() - timedelta(hours=1), finished_at=timezone.now()
    )

    page = admin_client.get(reverse(FETCH_LOGS)).content.decode()
    source_page = admin_client.get(change_url(source)).content.decode()

    assert [re.sub(r"<[^>]+>", "", c) for c in outcome_cells(page)] == ["interrupted", "ok"]
    assert "interrupted" in source_page  # the source's own list of fetches says it too
    assert not log.is_success and done.is_success


def test_the_dispatch_task_marks_a_killed_poll_and_the_source_health_says_so(admin_client, not_due):
    log = unfinished_log(not_due, age=timedelta(seconds=POLL_TIME_LIMIT + 5))
    running = unfinished_log(not_due, age=timedelta(seconds=30))

    assert sources_dispatch_due_task() == 0
    assert sources_dispatch_due_task() == 0  # a second run marks nothing twice

    log.refresh_from_db()
    running.refresh_from_db()
    assert log.error_class == "interrupted" and log.finished_at is None
    assert "never finished" in log.error_message
    assert running.error_class == ""
    sources = admin_client.get(reverse(SOURCES)).content.decode()
    assert "failing (1 failure)" in sources or "backing off (1 failure)" in sources
    assert "interrupted: The poll never finished" in sources
    failed = admin_client.get(reverse(FETCH_LOGS), {"error_class": "interrupted"})
    assert "never finished" in failed.content.decode()


def test_a_killed_poll_after_the_last_success_keeps_a_later_success_healthy(admin_client, not_due):
    now = timezone.now()
    unfinished_log(not_due, age=timedelta(hours=2))
    Source.objects.filter(pk=not_due.pk).update(last_success_at=now - timedelta(hours=1))

    assert fetchlogs_interrupted_mark(older_than=timedelta(seconds=POLL_TIME_LIMIT)) == 1

    sources = admin_client.get(reverse(SOURCES)).content.decode()
    assert "healthy" in sources
    not_due.refresh_from_db()
    assert (not_due.consecutive_failures, not_due.last_error) == (0, "")


def test_a_live_stream_runs_for_hours_until_a_newer_connection_replaces_it(admin_client, source):
    stream = Source.objects.create(
        brand=source.brand, kind="mastodon-stream", url="https://social.example/stream"
    )
    connected = unfinished_log(stream, age=timedelta(hours=3))

    assert fetchlogs_interrupted_mark(older_than=timedelta(seconds=POLL_TIME_LIMIT)) == 0
    page = admin_client.get(reverse(FETCH_LOGS)).content.decode()
    assert [re.sub(r"<[^>]+>", "", c) for c in outcome_cells(page)] == ["running"]

    unfinished_log(stream, age=timedelta(minutes=1))  # the consumer restarted
    assert fetchlogs_interrupted_mark(older_than=timedelta(seconds=POLL_TIME_LIMIT)) == 1

    connected.refresh_from_db()
    assert connected.error_class == "interrupted"
    stream.refresh_from_db()
    assert stream.consecutive_failures == 0  # health follows the live connection


def test_a_mention_page_says_in_words_whether_its_text_was_cut(admin_client, source):
    mention = Mention.objects.create(
        source=source,
        external_id="cut",
        text="acme " * 10,
        is_text_truncated=True,
        published_at=timezone.now(),
        neg=0.0,
        neu=1.0,
        pos=0.0,
        compound=0.0,
        label="neutral",
    )

    page = admin_client.get(reverse("admin:listening_mention_change", args=[mention.pk]))

    body = page.content.decode()
    assert "Text cut:" in body and "yes: longer than the stored text cap" in body
    assert "<img" not in body[body.index('id="content-main"') :]
