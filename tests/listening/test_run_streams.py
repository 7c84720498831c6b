"""`manage.py run_streams` as a real process, against a real local Jetstream.

The supervisor runs as a subprocess on the test database (like the Celery worker in
test_tasks.py) and streams the 152 recorded real Jetstream v1 events of shared data from a
WebSocket server in this process. The server honours ?cursor= as Jetstream does, records
every connection's cursor, and can end a connection on demand. The brand's query is
``site:bsky.app``: every post links to bsky.app, so every post with a text is a mention.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from listening.models import FetchLog, Mention, Source
from listening.services import brand_create, source_create
from tests.database import database_url
from tests.listening.test_tasks import REPO, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RESCAN = 1.0
# JetstreamConnector's default cursor_rewind_seconds.
REWIND_US = 5_000_000


class ReplayJetstream:
    """A real WebSocket server on 127.0.0.1 replaying recorded Jetstream events.

    Each connection gets the recorded events with time_us >= its ?cursor= (all without one),
    in recorded order. Then, with keepalive set, it keeps sending the recorded ``account``
    event re-stamped with a fresh time_us every keepalive seconds, as the real firehose
    never goes quiet (these carry no post; they only move the cursor, 1 ms per event, so a
    resume rewound 5 s replays every recorded event); without it, the connection stays
    silent. drop() makes the server end the open connection with a normal close.
    """

    def __init__(self, events: list[str], *, keepalive: float | None) -> None:
        self.events = [(text, json.loads(text)["time_us"]) for text in events]
        self.keepalive = keepalive
        self._filler = next(json.loads(t) for t, _ in self.events if '"account"' in t)
        self._next_filler_us = max(t for _, t in self.events) + 1000
        self.cursors: list[int | None] = []  # the ?cursor= of each connection, None if absent
        self.newest_sent: list[int] = []  # the largest time_us sent on each connection
        self.client_closed: list[threading.Event] = []
        self.ended: list[threading.Event] = []
        self._generation = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = serve(self._handle, "127.0.0.1", 0, close_timeout=1)
        self.port: int = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/subscribe"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, connection: ServerConnection) -> None:
        query = parse_qs(urlsplit(connection.request.path if connection.request else "").query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        with self._lock:
            index = len(self.cursors)
            self.cursors.append(cursor)
            self.newest_sent.append(0)
            self.client_closed.append(threading.Event())
            self.ended.append(threading.Event())
            generation = self._generation
        try:
            for text, time_us in self.events:
                if cursor is None or time_us >= cursor:
                    self.newest_sent[index] = max(self.newest_sent[index], time_us)
                    connection.send(text)
            while not self._stopping.is_set() and self._generation == generation:
                try:
                    connection.recv(timeout=self.keepalive or 0.1)
                except TimeoutError:
                    if self.keepalive:
                        with self._lock:
                            time_us = self._next_filler_us
                            self._next_filler_us += 1000
                        self.newest_sent[index] = time_us
                        connection.send(json.dumps({**self._filler, "time_us": time_us}))
                    continue
            # drop() or close(): the server ends the connection.
            connection.close()
        except ConnectionClosed:
            self.client_closed[index].set()
        finally:
            self.ended[index].set()

    def drop(self) -> None:
        """End the open connection(s) from the server side."""
        with self._lock:
            self._generation += 1

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._thread.join(timeout=5)


class Supervisor:
    """`manage.py run_streams --rescan 1` on the test database; its output kept with times."""

    def __init__(self, allowed_hosts: list[str]) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "EARSHOT_ALLOWED_PRIVATE_HOSTS": ",".join(allowed_hosts),
            "DEBUG": "true",
            # As in the Dockerfile and dev.py: status lines must not sit in a pipe buffer.
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_streams", "--rescan", str(RESCAN)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def said(self, text: str, since: float = 0.0) -> float | None:
        """When a line containing text was printed (after since), or None."""
        return next((at for at, line in list(self.lines) if text in line and at >= since), None)

    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(5)


@pytest.fixture
def recorded_events(shared_data: Path) -> list[str]:
    path = shared_data / "api_bluesky/jetstream/expected_v1.jsonl"
    return [line for line in path.read_text("utf-8").splitlines() if line.strip()]


def post_uris(events: list[str]) -> set[str]:
    """The at:// URIs of the post creates with a text: what must be stored."""
    uris = set()
    for text in events:
        event = json.loads(text)
        commit = event.get("commit") or {}
        if (
            commit.get("collection") == "app.bsky.feed.post"
            and commit.get("operation") == "create"
            and (commit.get("record") or {}).get("text", "").strip()
        ):
            uris.add(f"at://{event['did']}/app.bsky.feed.post/{commit['rkey']}")
    return uris


@pytest.fixture
def live(recorded_events):
    """Start a server and a supervisor on a jetstream source; both stopped afterwards."""
    started: list[ReplayJetstream | Supervisor] = []

    def start(*, keepalive: float | None) -> tuple[ReplayJetstream, Supervisor, Source]:
        server = ReplayJetstream(recorded_events, keepalive=keepalive)
        started.append(server)
        acme = brand_create(name="Acme", query="site:bsky.app")
        source = source_create(brand=acme, kind="jetstream", url=server.url)
        supervisor = Supervisor([f"127.0.0.1:{server.port}"])
        started.append(supervisor)
        return server, supervisor, source

    yield start
    for thing in reversed(started):
        if isinstance(thing, Supervisor):
            thing.stop()
            # Shown by pytest when the test failed: what the supervisor said and logged.
            print(f"--- run_streams output ---\n{thing.output()}")
        else:
            thing.close()


def stored_uris(source: Source) -> list[str]:
    return list(Mention.objects.filter(source=source).values_list("external_id", flat=True))


def test_the_supervisor_stores_once_resumes_from_the_cursor_stops_and_exits(live, recorded_events):
    server, supervisor, source = live(keepalive=0.1)
    expected = post_uris(recorded_events)
    assert len(expected) == 16  # 17 post creates, one with an empty text

    # 1. Every post with a text is stored, exactly once, from the first connection.
    def all_posts_stored():
        return len(stored_uris(source)) >= len(expected)

    wait_for(all_posts_stored, timeout=30)
    uris = stored_uris(source)
    assert sorted(uris) == sorted(expected)
    assert server.cursors == [None]
    assert f"source {source.pk}: streaming" in supervisor.output()

    # 2. The server drops the connection: the supervisor reconnects from the stored cursor,
    #    rewound 5 s; the replay (every recorded event again) stores nothing twice.
    server.drop()
    assert server.ended[0].wait(5)
    newest_before_drop = server.newest_sent[0]

    def reconnected():
        return len(server.cursors) >= 2

    # stream_consume's backoff after one failure is at most 2 s (full jitter).
    wait_for(reconnected, timeout=15)
    assert server.cursors[1] == newest_before_drop - REWIND_US

    first_log = FetchLog.objects.filter(source=source).order_by("started_at").first()
    assert first_log is not None and first_log.error_class == "unavailable"
    assert (first_log.items_seen, first_log.items_new) == (17, 16)

    def replay_stored():
        log = FetchLog.objects.filter(source=source).order_by("started_at").last()
        return log is not None and log.pk != first_log.pk and log.items_seen >= 17

    wait_for(replay_stored, timeout=15)
    second_log = FetchLog.objects.filter(source=source).order_by("started_at").last()
    assert (second_log.items_new, second_log.items_duplicate) == (0, 16)
    assert sorted(stored_uris(source)) == sorted(expected)
    assert int(Source.objects.get(pk=source.pk).cursor) > newest_before_drop

    # 3. Disabled in the database: the next rescan stops the thread (it closes its
    #    connection), and the rescan after that reports it stopped.
    disabled_at = time.monotonic()
    Source.objects.filter(pk=source.pk).update(is_enabled=False)
    assert server.client_closed[1].wait(RESCAN + 1.5), "the stream was not stopped"
    closed_after = time.monotonic() - disabled_at

    def reported_stopped():
        return supervisor.said(f"source {source.pk}: stopped", since=disabled_at)

    # The liveness check runs right after stop.set(), so "stopped" is printed one rescan
    # after the thread ended: within two rescans of the change.
    stopped_at = wait_for(reported_stopped, timeout=2 * RESCAN + 2)
    assert closed_after <= RESCAN + 1.5
    assert stopped_at - disabled_at <= 2 * RESCAN + 2
    assert len(server.cursors) == 2  # not reconnected
    assert sorted(stored_uris(source)) == sorted(expected)

    # 4. SIGTERM ends the process cleanly and promptly.
    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.process.wait(15) == 0, supervisor.output()
    supervisor._reader.join(5)
    assert "Streams stopped." in supervisor.output()


def test_posts_are_stored_while_a_quiet_connection_stays_open(live, recorded_events):
    server, supervisor, source = live(keepalive=None)
    expected = post_uris(recorded_events)

    def all_posts_stored():
        return len(stored_uris(source)) >= len(expected)

    try:
        # max_latency is 1 s; 10 s is generous.
        wait_for(all_posts_stored, timeout=10)
    finally:
        assert server.cursors == [None]  # still the first connection, never dropped
    assert sorted(stored_uris(source)) == sorted(expected)
