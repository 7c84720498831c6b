"""Ingest benchmark: the whole fetch -> match -> score -> store path against stock VADER.

Run with the venv's python from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/earshot .venv/bin/python bench/ingest.py

It generates ~20,000 realistic feed items (title plus a 20-60 word body; about half mention
the brand), serves them as RSS 2.0, Atom and JSON Feed files from a local HTTP server (a
separate process: it only sends bytes), and polls every source through the real service on a
scratch copy of the configured database (test_<name>, created and dropped here). In the same
process, pinned to the same single core, it times stock vaderSentiment's polarity_scores on
the same clean texts, then ``--rounds`` times (default 5) ingests every item through new
sources and times VADER again: each round's ratio takes the mean of the VADER timings on
either side of it, and the median round is the result (a shared machine's bursts spoil a
round, not the figure). Each round also prints a CPU-time comparison (this process plus its
PostgreSQL backend against stock VADER's CPU), as a diagnostic beside the result.

The last line is: RESULT ingest_mentions_per_s=<x> vader_texts_per_s=<y> ratio=<x/y>
where x counts feed items ingested per second (every item is fetched, parsed, cleaned and
matched; the matching half is scored and stored) and y is stock VADER texts per second on
the clean text of every item.
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where bench/queue.py would shadow the
# standard library's queue module for everything imported after it.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("/bench")]

import argparse
import cProfile
import http.server
import json
import os
import pstats
import random
import resource
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")

BRAND_WORDS = ["Acme", "Acme Mobile", "#acme", "@acme", "ACME"]
OTHER_BRANDS = ["Globex", "Initech", "Umbrella", "Hooli", "Soylent"]
POSITIVE = [
    "love",
    "great",
    "excellent",
    "happy",
    "fantastic",
    "thanks",
    "awesome",
    "best",
    "reliable",
    "friendly",
    "fast",
    "recommend",
    "impressed",
    "smooth",
    "helpful",
]
NEGATIVE = [
    "terrible",
    "awful",
    "hate",
    "broken",
    "slow",
    "worst",
    "angry",
    "refund",
    "disappointed",
    "useless",
    "scam",
    "rude",
    "outage",
    "failed",
    "frustrating",
]
NEUTRAL = [
    "the",
    "a",
    "new",
    "plan",
    "store",
    "phone",
    "network",
    "today",
    "announced",
    "price",
    "customers",
    "city",
    "update",
    "service",
    "week",
    "app",
    "coverage",
    "data",
    "team",
    "support",
    "call",
    "online",
    "order",
    "delivery",
    "account",
    "after",
    "before",
    "with",
    "from",
    "about",
    "their",
    "this",
    "that",
    "and",
    "but",
    "not",
    "very",
    "really",
    "so",
    "my",
    "our",
    "it",
    "is",
    "was",
    "has",
    "will",
    "still",
    "again",
]
BOOST = ["very", "really", "extremely", "so", "not", "never", "hardly", "!!", "kind of"]
EMOJI = ["🙂", "😡", "👍", "🔥"]


def make_text(rng: random.Random, mentions_brand: bool) -> tuple[str, str]:
    """A social-post-like title and 20-60 word body, about half of them about Acme."""
    words = []
    for _ in range(rng.randint(20, 60)):
        roll = rng.random()
        if roll < 0.10:
            words.append(rng.choice(POSITIVE))
        elif roll < 0.20:
            words.append(rng.choice(NEGATIVE))
        elif roll < 0.25:
            words.append(rng.choice(BOOST))
        elif roll < 0.28:
            words.append(rng.choice(OTHER_BRANDS))
        else:
            words.append(rng.choice(NEUTRAL))
    if mentions_brand:
        words.insert(rng.randrange(len(words)), rng.choice(BRAND_WORDS))
    if rng.random() < 0.05:
        words.append(rng.choice(EMOJI))
    body = " ".join(words).capitalize() + rng.choice([".", "!", "?", "..."])
    title_words = [rng.choice(NEUTRAL + POSITIVE + NEGATIVE) for _ in range(rng.randint(4, 9))]
    if mentions_brand and rng.random() < 0.5:
        title_words.insert(0, "Acme")
    return " ".join(title_words).capitalize(), body


def write_feeds(directory: Path, total: int, feeds: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = []
    base = datetime(2026, 11, 1, tzinfo=UTC)
    per_feed = total // feeds
    for f in range(feeds):
        kind = ("rss", "rss", "rss", "atom", "json")[f % 5]
        items = []
        for n in range(per_feed):
            title, body = make_text(rng, rng.random() < 0.5)
            if rng.random() < 0.3:  # feeds carry HTML
                body = f"<p>{escape(body)}</p><p><a href='https://x.example/{n}'>more</a></p>"
            items.append(
                (
                    f"bench-{f}-{n}",
                    title,
                    body,
                    base - timedelta(minutes=n),
                    f"https://news{f}.example/{n}",
                    f"author{rng.randrange(500)}",
                )
            )
        if kind == "rss":
            name = f"feed{f}.xml"
            parts = [
                "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>",
                f"<title>Bench {f}</title><link>https://news{f}.example/</link>",
                "<language>en</language>",
            ]
            for guid, title, body, when, link, author in items:
                parts.append(
                    f"<item><guid isPermaLink='false'>{guid}</guid><title>{escape(title)}</title>"
                    f"<link>{link}</link><description>{escape(body)}</description>"
                    f"<author>{author}@example.com ({author})</author>"
                    f"<pubDate>{format_datetime(when)}</pubDate></item>"
                )
            parts.append("</channel></rss>")
            data = "".join(parts).encode()
        elif kind == "atom":
            name = f"feed{f}.atom"
            parts = [
                "<?xml version='1.0' encoding='utf-8'?>",
                "<feed xmlns='http://www.w3.org/2005/Atom' xml:lang='en'>",
                f"<title>Bench {f}</title><id>urn:bench:{f}</id>",
                f"<updated>{base.isoformat()}</updated>",
            ]
            for guid, title, body, when, link, author in items:
                parts.append(
                    f"<entry><id>urn:{guid}</id><title>{escape(title)}</title>"
                    f"<link rel='alternate' href='{link}'/><updated>{when.isoformat()}</updated>"
                    f"<author><name>{author}</name></author>"
                    f"<summary type='html'>{escape(body)}</summary></entry>"
                )
            parts.append("</feed>")
            data = "".join(parts).encode()
        else:
            name = f"feed{f}.json"
            data = json.dumps(
                {
                    "version": "https://jsonfeed.org/version/1.1",
                    "title": f"Bench {f}",
                    "language": "en",
                    "items": [
                        {
                            "id": guid,
                            "url": link,
                            "title": title,
                            "content_html": body,
                            "date_published": when.isoformat(),
                            "authors": [{"name": author}],
                        }
                        for guid, title, body, when, link, author in items
                    ],
                }
            ).encode()
        (directory / name).write_bytes(data)
        names.append(name)
    return names


def serve(directory: Path) -> tuple[subprocess.Popen, int]:
    """A static file server in its own process: it only sends bytes."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
            str(directory),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
    port = int(line.split(" port ")[1].split()[0])
    return process, port


def stock_vader_rate(texts: list[str]) -> tuple[float, float]:
    """Stock VADER's texts per second on texts, in wall time and in this process's CPU time."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    started, cpu_started = time.perf_counter(), time.process_time()
    for text in texts:
        analyzer.polarity_scores(text)
    return (
        len(texts) / (time.perf_counter() - started),
        len(texts) / (time.process_time() - cpu_started),
    )


def backend_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds (user + system) the database backend process ``pid`` has used, read from
    /proc; None when it is not a process of this machine (a remote database) or unreadable."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command's closing parenthesis: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="Print the top of a cProfile.")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="Ingest rounds, each timed between two stock VADER timings; the median is kept.",
    )
    args = parser.parse_args()

    # One core for both sides, so neither gets more CPU than the other.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from listening.connectors.rss import parse_feed
    from listening.models import Mention
    from listening.search import search_index_catch_up
    from listening.services import brand_create, source_create, source_poll
    from listening.text import item_text

    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    workdir = Path(tempfile.mkdtemp(prefix="earshot-bench-"))
    names = write_feeds(workdir, args.items, args.feeds, args.seed)
    server, port = serve(workdir)
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [f"127.0.0.1:{port}"]
    settings.EARSHOT_FETCH_MAX_BYTES = 50 * 1024 * 1024

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        print(
            f"database: {connection.vendor} ({connection.settings_dict['NAME']}); "
            f"{len(names)} feeds, {args.items} items; pinned to CPU "
            f"{sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
        )
        # The clean texts, exactly as the pipeline will see them, for the reference.
        texts = []
        for name in names:
            for item in parse_feed((workdir / name).read_bytes()).items:
                texts.append(item_text(item.title, item.body))
        mean_words = sum(len(t.split()) for t in texts) / len(texts)
        print(f"clean texts: {len(texts)}, mean {mean_words:.0f} words")

        acme = brand_create(name="Acme", query='acme OR "acme mobile" OR #acme OR @acme')
        brand_create(name="Globex", query="globex OR #globex", competitor_of="Acme")
        profiler = cProfile.Profile() if args.profile else None
        rounds = []
        vader_before, vader_cpu_before = stock_vader_rate(texts)
        backend_pid = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend_pid = cursor.fetchone()[0]
        cpu_ratios = []
        for number in range(1, args.rounds + 1):
            # New sources each round (a URL query string keeps them apart): every item is
            # new to the store again, nothing is skipped as already stored.
            source_ids = [
                source_create(
                    brand=acme, kind="rss", url=f"http://127.0.0.1:{port}/{name}?round={number}"
                ).pk
                for name in names
            ]
            stored_before = Mention.objects.count()
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            backend_before = backend_cpu_seconds(backend_pid)
            started, cpu_started = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            for source_id in source_ids:
                result = source_poll(source_id=source_id)
                if result.fetch_log.error_class:
                    raise SystemExit(f"fetch failed: {result.fetch_log.error_message}")
            if profiler:
                profiler.disable()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            backend_after = backend_cpu_seconds(backend_pid)
            peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            stored = Mention.objects.count() - stored_before
            # The explorer's search documents are written behind ingest, by a beat task in
            # its own worker (listening.search); timed here on their own, not in the ratio.
            index_started = time.perf_counter()
            indexed = search_index_catch_up()
            index_seconds = time.perf_counter() - index_started
            vader_after, vader_cpu_after = stock_vader_rate(texts)
            # The reference is the mean of the VADER timings on either side of this round.
            vader_rate = (vader_before + vader_after) / 2
            items_rate = len(texts) / elapsed
            rounds.append((items_rate / vader_rate, items_rate, vader_rate))
            print(
                f"round {number}: {len(texts)} items in {elapsed:.2f} s = {items_rate:,.0f}"
                f" items/s ({stored} stored, {stored / elapsed:,.0f} mentions stored/s);"
                f" stock VADER {vader_before:,.0f} before, {vader_after:,.0f} after;"
                f" ratio {items_rate / vader_rate:.2f}; peak RSS {peak_rss_mb:.0f} MB"
                f" (before: {rss_before / 1024:.0f} MB)"
            )
            print(
                f"  search documents (behind ingest, not in the ratio): {indexed} written"
                f" in {index_seconds:.2f} s"
            )
            # The same comparison in CPU time, which a shared machine's stolen time does not
            # inflate: this process's CPU plus its database backend's (the work PostgreSQL did
            # for this connection), against stock VADER's CPU. PostgreSQL's background
            # processes (WAL writer, checkpointer) are not counted.
            if backend_before is not None and backend_after is not None:
                database = backend_after - backend_before
                vader_cpu_rate = (vader_cpu_before + vader_cpu_after) / 2
                cpu_ratio = (len(texts) / (cpu + database)) / vader_cpu_rate
                cpu_ratios.append(cpu_ratio)
                print(
                    f"  CPU: {cpu:.2f} s in this process + {database:.2f} s in its database"
                    f" backend, against stock VADER's {len(texts) / vader_cpu_rate:.2f} s:"
                    f" CPU ratio {cpu_ratio:.2f}"
                )
            vader_before, vader_cpu_before = vader_after, vader_cpu_after
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        # The median round by ratio: on a shared machine one slow moment (another process's
        # burst) spoils one round, not the figure.
        ratio, items_rate, vader_rate = sorted(rounds)[(len(rounds) - 1) // 2]
        print(
            f"median of {len(rounds)} rounds: {items_rate:,.0f} items/s against stock VADER"
            f" alone on the same texts {vader_rate:,.0f} texts/s"
            f" (ratios {', '.join(f'{r:.2f}' for r, _, _ in rounds)})"
        )
        if cpu_ratios:
            print(
                f"CPU ratio (median of {len(cpu_ratios)} rounds, not the result):"
                f" {sorted(cpu_ratios)[(len(cpu_ratios) - 1) // 2]:.2f}"
            )
        print(
            f"RESULT ingest_mentions_per_s={items_rate:.0f} vader_texts_per_s={vader_rate:.0f} "
            f"ratio={ratio:.2f}"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
