"""Streaming benchmark: Jetstream events over a WebSocket -> match -> score -> store.

Run with the venv's python from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/earshot .venv/bin/python bench/stream.py

Options: --events N (default 20,000), --seed, --profile (cProfile of the consuming thread).

It generates ~20,000 Jetstream v1 events shaped like the recorded real ones in
shared data (api_bluesky/jetstream): 90% ``commit`` creates of ``app.bsky.feed.post`` with a
20-60 word text (bench/ingest.py's generator; about half mention the brand), 10% other
firehose traffic the connector must skip (likes, reposts, follows, identity and account
events). They are served, pre-serialised, from a local WebSocket server in a separate process
that only sends bytes, as fast as the client reads them (sync sends block on the socket), and
closes the connection after the last one. That server runs on another core when the machine
has one, so its sending does not take CPU from the pipeline being measured.

This process, pinned to a single core, runs the real supervisor loop
``stream_consume(source_id=..., stop=..., max_connections=1)`` with its production defaults
on a ``jetstream`` source pointing at that server, on a scratch copy of the configured
database (test_<name>, created and dropped here). In the same process and on the same core it
times stock vaderSentiment's polarity_scores on the clean text of every post event, before and
after the pipeline, and averages the two.

Timing: from just before stream_consume() is called until it returns. When the server closes
after the last event, the connector hands over what it received and raises
SourceUnavailable; stream_consume stores the rest, records the failure in the fetch log,
logs "stream dropped ... reconnecting in N s" and would then sleep a random backoff (up to
2 s). A logging handler on listening.services sets ``stop`` when that record is emitted, so the
backoff wait returns at once and stream_consume returns (max_connections=1 would also stop it,
but only after the wait). The elapsed time therefore covers connecting, receiving, parsing,
matching, scoring and storing every event, and the final flush and fetch-log write, but no
backoff sleep. The benchmark then checks that the stored cursor is the last event's time_us
(every event was received), that the fetch log saw every post, and that it stored as many
mentions as the database holds.

The last line is: RESULT stream_events_per_s=<x> vader_texts_per_s=<y> ratio=<x/y>
where x counts events received per second (every event is parsed; posts are cleaned and
matched; the matching ones are scored and stored) and y is stock VADER texts per second on
the clean text of every post event.
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where bench/queue.py would shadow the
# standard library's queue module for everything imported after it.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("/bench")]

import argparse
import cProfile
import json
import logging
import os
import pstats
import random
import resource
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")

# One reference for both benchmarks, so their RESULT ratios compare like with like.
from bench.ingest import make_text, stock_vader_rate  # noqa: E402 (repository on sys.path)

_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_TID = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable, as AT Protocol TIDs use
_POST = "app.bsky.feed.post"


def _did(rng: random.Random) -> str:
    return "did:plc:" + "".join(rng.choice(_B32) for _ in range(24))


def _tid(time_us: int, rng: random.Random) -> str:
    """A TID: 53 bits of microseconds and a 10-bit clock id, 13 sortable base32 chars."""
    value = (time_us << 10) | rng.randrange(1024)
    return "".join(_TID[(value >> (5 * i)) & 31] for i in range(12, -1, -1))


def _cid(rng: random.Random) -> str:
    return "bafyrei" + "".join(rng.choice(_B32) for _ in range(52))


def _iso_ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def make_events(total: int, seed: int) -> tuple[list[bytes], list[str], int]:
    """(wire messages, post texts, last time_us) of a Jetstream v1 stream of total events."""
    rng = random.Random(seed)
    authors = [_did(rng) for _ in range(3000)]
    time_us = int(datetime(2026, 7, 4, 14, 38, tzinfo=UTC).timestamp() * 1_000_000)
    messages: list[bytes] = []
    texts: list[str] = []
    for _ in range(total):
        # The real firehose carries a few hundred to a few thousand events a second.
        time_us += rng.randint(50, 2000)
        did = rng.choice(authors)
        # Records are created (client clock) shortly before the relay sees them.
        created = _iso_ms(
            datetime.fromtimestamp(time_us / 1e6, tz=UTC) - timedelta(seconds=rng.random() * 3)
        )
        roll = rng.random()
        event: dict[str, object]
        if roll < 0.90:
            _title, text = make_text(rng, rng.random() < 0.5)
            texts.append(text)
            record = {"$type": _POST, "createdAt": created, "langs": ["en"], "text": text}
            event = _commit(did, time_us, _POST, record, rng)
        elif roll < 0.96:
            subject = {"cid": _cid(rng), "uri": f"at://{rng.choice(authors)}/{_POST}/x"}
            record = {"$type": "app.bsky.feed.like", "createdAt": created, "subject": subject}
            event = _commit(did, time_us, "app.bsky.feed.like", record, rng)
        elif roll < 0.98:
            subject = {"cid": _cid(rng), "uri": f"at://{rng.choice(authors)}/{_POST}/y"}
            record = {"$type": "app.bsky.feed.repost", "createdAt": created, "subject": subject}
            event = _commit(did, time_us, "app.bsky.feed.repost", record, rng)
        elif roll < 0.99:
            record = {
                "$type": "app.bsky.graph.follow",
                "createdAt": created,
                "subject": rng.choice(authors),
            }
            event = _commit(did, time_us, "app.bsky.graph.follow", record, rng)
        else:
            kind = rng.choice(["identity", "account"])
            body: dict[str, object] = {"did": did, "seq": time_us // 1000, "time": created}
            body.update(
                {"handle": f"user{rng.randrange(10**6)}.bsky.social"}
                if kind == "identity"
                else {"active": True}
            )
            event = {"did": did, "time_us": time_us, "kind": kind, kind: body}
        # Jetstream writes compact JSON; serialised once here, so the server only sends.
        messages.append(json.dumps(event, separators=(",", ":")).encode())
    return messages, texts, time_us


def _commit(
    did: str, time_us: int, collection: str, record: dict[str, object], rng: random.Random
) -> dict[str, object]:
    return {
        "did": did,
        "time_us": time_us,
        "kind": "commit",
        "commit": {
            "rev": _tid(time_us, rng),
            "operation": "create",
            "collection": collection,
            "rkey": _tid(time_us - rng.randint(0, 3_000_000), rng),
            "record": record,
            "cid": _cid(rng),
        },
    }


def serve_events(path: Path) -> None:
    """The server process: send every line of path to each client as text frames, then close.

    Runs without Django. Permessage-deflate is off, as on Jetstream (its compression is
    opt-in zstd, which Earshot does not ask for).
    """
    from websockets.sync.server import ServerConnection, serve

    payload = path.read_bytes().split(b"\n")

    def handle(connection: ServerConnection) -> None:
        # send() blocks while the socket buffer is full: the client sets the pace.
        for message in payload:
            connection.send(message, text=True)
        connection.close()
        request_path = connection.request.path if connection.request else ""
        print(f"served {len(payload)} {request_path}", flush=True)

    with serve(handle, "127.0.0.1", 0, compression=None, close_timeout=5) as server:
        print(f"port {server.socket.getsockname()[1]}", flush=True)
        server.serve_forever()


def start_server(path: Path, cpus: set[int]) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    if hasattr(os, "sched_setaffinity") and cpus:
        os.sched_setaffinity(process.pid, cpus)
    assert process.stdout is not None
    line = process.stdout.readline()  # "port N"
    return process, int(line.split()[1])


class _StopWhenDropped(logging.Handler):
    """Sets stop when stream_consume reports the dropped stream, i.e. before its backoff."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(logging.WARNING)
        self.stop = stop
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        if "stream dropped" in str(record.msg):
            self.message = record.getMessage()
            self.stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="Print the top of a cProfile.")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args()
    if args.serve:
        serve_events(args.serve)
        return

    # One core for the pipeline and the reference, so neither gets more CPU than the other;
    # the server, which only sends, gets the others.
    pipeline_cpus: set[int] = set()
    server_cpus: set[int] = set()
    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        pipeline_cpus = {available[0]}
        server_cpus = set(available[1:]) or pipeline_cpus
        os.sched_setaffinity(0, pipeline_cpus)

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from listening.models import FetchLog, Mention, Source
    from listening.services import brand_create, source_create, stream_consume
    from listening.text import item_text

    messages, raw_texts, last_time_us = make_events(args.events, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="earshot-stream-bench-"))
    events_path = workdir / "events.jsonl"
    events_path.write_bytes(b"\n".join(messages))
    server, port = start_server(events_path, server_cpus)
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [f"127.0.0.1:{port}"]

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        print(
            f"database: {connection.vendor} ({connection.settings_dict['NAME']}); "
            f"{len(messages)} events ({len(raw_texts)} posts); pipeline pinned to CPU "
            f"{sorted(pipeline_cpus) or '?'}, server on {sorted(server_cpus) or '?'}"
        )
        # The clean texts, exactly as the pipeline will see them, for the reference.
        texts = [item_text("", text) for text in raw_texts]
        mean_words = sum(len(t.split()) for t in texts) / len(texts)
        mean_bytes = sum(map(len, messages)) / len(messages)
        print(
            f"post texts: {len(texts)}, mean {mean_words:.0f} words; mean event {mean_bytes:.0f} B"
        )

        vader_before, _ = stock_vader_rate(texts)
        print(f"stock VADER (before): {vader_before:,.0f} texts/s")

        acme = brand_create(name="Acme", query='acme OR "acme mobile" OR #acme OR @acme')
        brand_create(name="Globex", query="globex OR #globex", competitor_of="Acme")
        source = source_create(brand=acme, kind="jetstream", url=f"ws://127.0.0.1:{port}/subscribe")

        stop = threading.Event()
        dropped = _StopWhenDropped(stop)
        services_logger = logging.getLogger("listening.services")
        services_logger.addHandler(dropped)
        profiler = cProfile.Profile() if args.profile else None
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        try:
            stream_consume(source_id=source.pk, stop=stop, max_connections=1)
        finally:
            if profiler:
                profiler.disable()
            elapsed = time.perf_counter() - started
            services_logger.removeHandler(dropped)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert server.stdout is not None
        served = server.stdout.readline().strip()  # "served N /subscribe?..."

        # Everything arrived and was stored, or the figure means nothing.
        source.refresh_from_db()
        log = FetchLog.objects.get(source=source)
        stored = Mention.objects.count()
        problems = []
        if not dropped.message:
            problems.append("the stream did not end with the server closing it")
        if source.cursor != str(last_time_us):
            problems.append(f"cursor {source.cursor!r}, expected the last time_us {last_time_us}")
        if log.error_class != "unavailable":
            problems.append(f"fetch log error_class {log.error_class!r}")
        if log.items_seen != len(texts):
            problems.append(f"fetch log saw {log.items_seen} posts, {len(texts)} were sent")
        if log.items_new != stored:
            problems.append(f"fetch log says {log.items_new} new, {stored} stored")
        if problems:
            raise SystemExit("benchmark run invalid: " + "; ".join(problems))
        print(f"server: {served}; connector: {dropped.message}")
        print(
            f"fetch log: {log.items_seen} posts seen, {log.items_new} new, "
            f"{log.items_unmatched} unmatched, {log.items_duplicate} duplicate; "
            f"{Source.objects.get(pk=source.pk).cursor} = last time_us"
        )

        vader_after, _ = stock_vader_rate(texts)
        print(f"stock VADER (after):  {vader_after:,.0f} texts/s")
        vader_rate = (vader_before + vader_after) / 2
        events_rate = len(messages) / elapsed
        print(
            f"pipeline: {len(messages)} events ({len(texts)} posts) in {elapsed:.2f} s = "
            f"{events_rate:,.0f} events/s; {stored} mentions stored "
            f"({stored / elapsed:,.0f} stored/s)"
        )
        print(
            f"peak RSS of the consuming process: {peak_rss_mb:.0f} MB "
            f"(before streaming: {rss_before / 1024:.0f} MB)"
        )
        print(f"stock VADER alone on the same texts: {vader_rate:,.0f} texts/s")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        print(
            f"RESULT stream_events_per_s={events_rate:.0f} vader_texts_per_s={vader_rate:.0f} "
            f"ratio={events_rate / vader_rate:.2f}"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
