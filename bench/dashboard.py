"""Dashboard benchmark (issue 12): the charted pages and the explorer at 10k and 1M mentions.

Run with the venv's python from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/earshot .venv/bin/python bench/dashboard.py

It builds a scratch copy of the configured database (test_<name>, dropped afterwards) with
three brands (Acme watches Globex and Initech as competitors), one source each, and for each
size (``--size 10k``, ``1m`` or ``10m``; default 10k then 1m, in the same database, emptied
between sizes):

- authors (one per 20 mentions, followers spread over 0 to 1,000,000) and mentions spread
  evenly over two years, generated inside PostgreSQL (INSERT ... SELECT over generate_series,
  the fastest bulk path there is; no row crosses the wire), with one of 20 common words
  three times each and a rare word in one mention of 100,000;
- MentionMatch rows with the effective labels; a quarter of Acme's source's mentions also
  match Globex and a sixth Initech (share of voice);
- one care case per 20 negative Acme mentions, half with a first response, a third resolved
  with an outcome;
- the explorer's search documents (listening.search, as its beat task writes them);
- the rollups, rebuilt with listening.rollups.rollups_rebuild for each brand, then ANALYZE.

With ``--keep`` each size gets its own database (test_<name>_<size>), which is kept
afterwards and reused by the next ``--keep`` run when it already holds that size's data: the
10m build takes most of an hour, measuring it again takes minutes.

Then, signed in as a marketer of Acme in ``--time-zone`` (default Asia/Kolkata, +5:30: every
local midnight falls mid-hour in UTC, the most rollup cells per day boundary), it loads the
overview, share-of-voice, authors, funnel and care pages for the last 90 days through Django's
test client in process (no HTTP server: the figures are the view's own cost, queries and
templates included), ``--warmup`` times unmeasured then ``--repeat`` times each, and the
explorer with a full-text search for a common and for a rare word. It prints p50 / p95 per
page, the queries per page (counted with CaptureQueriesContext) and the rows they read (each
query run again under EXPLAIN ANALYZE: the actual rows of its scan nodes), beside a reference
measured in the same run: the sign-in page, a small template with no queries.

Top authors, the funnel and the care figures read every author or case of the range, so the
dashboard keeps them in Django's cache per state of the data (dashboard.selectors: a rollup
generation, a fingerprint of the cases). The repeated loads measure that steady state, which
is what a marketer clicking around gets; the "cold p95" column clears the cache before every
load, the cost of the first view after new data.

The last line is
`RESULT dashboard_p95_ms_1m=<x> dashboard_p95_ms_10k=<y> growth=<x/y> explorer_p95_ms_1m=<z>`
where x and y are the slowest page's p95 at each size and z the slower explorer search's p95.
Targets: x under 100 ms, growth under 1.3, z under 250 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")
# Its test client speaks plain http:// (config/settings.py: no HTTPS redirect then).
os.environ.setdefault("EARSHOT_PLAIN_HTTP", "true")

SIZES = {"10k": 10_000, "1m": 1_000_000, "10m": 10_000_000}
PAGES = ("overview", "share", "authors", "funnel", "care")
WORDS = [
    *("great", "service", "delivery", "late", "refund", "love", "hate", "order", "support"),
    *("price", "cheap", "broken", "fast", "slow", "app", "update", "battery", "screen"),
    *("shipping", "thanks"),
]
COMMON, RARE = "refund", "zanzibar"
DAYS = 730


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def setup_brands():
    """Three brands, Acme watching the other two, one source each, and a marketer of Acme;
    the ones already there in a kept database."""
    from django.contrib.auth import get_user_model

    from brands.models import Brand, Membership
    from engagement.models import CareSettings
    from listening.models import Source

    user = get_user_model().objects.filter(username="marketer").first()
    if user is not None:
        brands = list(Brand.objects.filter(name__in=("Acme", "Globex", "Initech")).order_by("name"))
        sources = [Source.objects.get(brand=b) for b in brands]
        return brands, sources, user

    brands = [
        Brand.objects.create(name=name, query=name.lower())
        for name in ("Acme", "Globex", "Initech")
    ]
    acme = brands[0]
    acme.competitors.set(brands[1:])
    CareSettings.objects.create(brand=acme)
    sources = [
        Source.objects.create(brand=b, kind="rss", url=f"https://{b.name.lower()}.example/feed")
        for b in brands
    ]
    user = get_user_model().objects.create_user("marketer", "m@example.com", "not-used")
    Membership.objects.create(user=user, brand=acme, role=Membership.Role.MARKETER)
    return brands, sources, user


def empty_data() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE listening_mentionrollup, listening_authorrollup, listening_termrollup, "
            "engagement_casemention, engagement_case, listening_mentionmatch, "
            "listening_mention, listening_author, listening_mentionsearchpending CASCADE"
        )


def build_data(total: int, brands, sources) -> None:
    """Authors, mentions, matches, cases and rollups for ``total`` mentions, in SQL."""
    from django.db import connection

    from listening.rollups import rollups_rebuild
    from listening.search import search_index_catch_up

    acme, globex, initech = brands
    words = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS) + "]"
    step = DAYS * 86400.0 / total  # seconds between mentions, over two years
    authors = max(1, total // 20)
    started = time.monotonic()
    with connection.cursor() as c:
        c.execute(
            "INSERT INTO listening_author (platform, handle, display_name, profile_url, "
            "followers, updated_at) SELECT 'web', 'user' || g, 'User ' || g, '', "
            "(g * 7919) %% 1000000, now() FROM generate_series(1::bigint, %s) g",
            [authors],
        )
        c.execute("SELECT min(id) FROM listening_author")
        first_author = c.fetchone()[0]
        src = "ARRAY[" + ",".join(str(s.pk) for s in sources) + "]"
        names = "ARRAY[" + ",".join(f"'{b.name.lower()}'" for b in brands) + "]"
        # The f-string splices in constants and our own ids only.
        c.execute(
            f"""
            INSERT INTO listening_mention (source_id, external_id, url, author_id, title, text,
              is_text_truncated, language, published_at, fetched_at, platform, in_reply_to,
              thread_id, author_followers, like_count, reply_count, repost_count, neg, neu,
              pos, compound, label, scorer_name, scorer_version)
            SELECT ({src})[1 + g %% 3], 'b' || g, 'https://x.example/' || g,
              %(a)s + (g * 31) %% %(authors)s, '',
              ({names})[1 + g %% 3] || ' ' || ({words})[1 + g %% 20] || ' '
                || ({words})[1 + (g / 20) %% 20] || ' ' || ({words})[1 + (g / 400) %% 20]
                || CASE WHEN g %% 100000 = 7 THEN ' {RARE}' ELSE '' END,
              false, CASE WHEN g %% 10 = 0 THEN 'de' ELSE 'en' END,
              now() - g * %(step)s * interval '1 second', now(),
              CASE WHEN g %% 3 = 0 THEN 'bluesky' ELSE 'mastodon' END, '', 'b' || g,
              ((g * 7919) %% 1000000), g %% 50, g %% 7, g %% 3,
              0, 1, 0, 0, (ARRAY['positive','neutral','negative'])[1 + (g / 3) %% 3],
              'vader', '3.3.2'
            FROM generate_series(1::bigint, %(total)s) g""",  # noqa: S608
            {"a": first_author, "authors": authors, "step": step, "total": total},
        )
        # Every mention matches its source's brand; Acme's source also catches competitors.
        for brand, source in zip(brands, sources, strict=True):
            c.execute(
                "INSERT INTO listening_mentionmatch (mention_id, brand_id, matched_terms, "
                "published_at, label, routed_at, route_error, is_history) "
                "SELECT id, %s, jsonb_build_array(%s), published_at, label, now(), '', false "
                "FROM listening_mention WHERE source_id = %s",
                [brand.pk, brand.name.lower(), source.pk],
            )
        for rival, every in ((globex, 4), (initech, 6)):
            c.execute(
                "INSERT INTO listening_mentionmatch (mention_id, brand_id, matched_terms, "
                "published_at, label, routed_at, route_error, is_history) "
                "SELECT id, %s, jsonb_build_array(%s), published_at, label, now(), '', false "
                "FROM listening_mention WHERE source_id = %s AND id %% %s = 0",
                [rival.pk, rival.name.lower(), sources[0].pk, every],
            )
        # Care cases: one per 20 negative Acme mentions; half answered, a third resolved.
        c.execute(
            """
            INSERT INTO engagement_case (brand_id, author_id, kind, status, thread_id,
              answer_target_id, needs_answer_at, is_history, subject, priority, priority_band,
              priority_parts, similarity_key, phrase_key, opened_at, last_mention_at,
              first_response_at, resolved_at, reopened_count, first_response_due,
              resolution_due, followup_until, compound_before, compound_after, outcome)
            SELECT %(brand)s, m.author_id, 'care',
              CASE WHEN x.h %% 3 = 0 THEN 'resolved' ELSE 'open' END, m.thread_id, m.id,
              m.published_at, false, m.text, (m.id %% 100)::float,
              CASE WHEN m.id %% 100 >= 60 THEN 'high' WHEN m.id %% 100 >= 35 THEN 'medium'
                ELSE 'low' END,
              '{}'::jsonb, '', '', m.published_at, m.published_at,
              CASE WHEN x.h %% 2 = 0
                THEN m.published_at + (m.id %% 120) * interval '1 minute' END,
              CASE WHEN x.h %% 3 = 0 THEN m.published_at + interval '5 hours' END, 0,
              m.published_at + interval '1 hour', m.published_at + interval '1 day',
              m.published_at + interval '3 days', -0.5,
              CASE WHEN x.h %% 3 = 0 THEN 0.2 END,
              CASE WHEN x.h %% 3 <> 0 THEN ''
                ELSE (ARRAY['converted','improved','unchanged','worsened','no_further_word'])
                  [1 + x.h / 3 %% 5] END
            FROM listening_mention m, LATERAL (SELECT abs(hashtext(m.external_id)) AS h) x
            WHERE m.source_id = %(source)s AND m.label = 'negative' AND m.id %% 20 < 3""",
            {"brand": acme.pk, "source": sources[0].pk},
        )
        c.execute(
            "INSERT INTO engagement_casemention (case_id, mention_id, brand_id, is_brand_reply, "
            "conversation, external_id) SELECT c.id, c.answer_target_id, c.brand_id, false, "
            "c.thread_id, m.external_id FROM engagement_case c "
            "JOIN listening_mention m ON m.id = c.answer_target_id"
        )
        c.execute("SELECT count(*) FROM listening_mentionmatch")
        matches = c.fetchone()[0]
        c.execute("SELECT count(*), count(*) FILTER (WHERE outcome <> '') FROM engagement_case")
        cases, outcomes = c.fetchone()
    # The explorer's search documents, as the beat task writes them behind ingest (the
    # trigger queued every mention above); big batches, as nothing else runs.
    search_index_catch_up(batch_size=200_000)
    loaded = time.monotonic() - started
    for brand in brands:
        rollups_rebuild(brand_id=brand.pk)
    with connection.cursor() as c:
        c.execute("ANALYZE")
        c.execute("SELECT count(*) FROM listening_mentionrollup")
        rollup_rows = c.fetchone()[0]
    print(
        f"  {total:,} mentions, {authors:,} authors, {matches:,} matches, {cases:,} cases "
        f"({outcomes:,} with an outcome) loaded in {loaded:.0f} s; rollups rebuilt "
        f"({rollup_rows:,} mention rollup rows) and ANALYZE in "
        f"{time.monotonic() - started - loaded:.0f} s"
    )


SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Function Scan"}


def rows_read(queries: list) -> int:
    """Rows the page's queries read from tables, indexes and functions: each SELECT run
    again under EXPLAIN ANALYZE, summing the actual rows of its scan nodes (all loops)."""
    import json

    from django.db import connection

    def walk(node: dict) -> int:
        own = node["Actual Rows"] * node.get("Actual Loops", 1) if node["Node Type"] in SCANS else 0
        return own + sum(walk(child) for child in node.get("Plans", []))

    total = 0
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if sql.startswith("DECLARE"):  # a streamed query (.iterator()): its SELECT
                sql = sql.split(" FOR ", 1)[1]
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            total += walk(plan[0]["Plan"])
    return total


def measure(
    client, url: str, params: dict, warmup: int, repeat: int, *, cold: bool = False
) -> tuple[list[float], list]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        response = client.get(url, params)
        if response.status_code != 200:
            raise SystemExit(f"{url} {params}: HTTP {response.status_code}")
    from django.core.cache import cache

    times = []
    for _ in range(repeat):
        if cold:
            cache.clear()
        started = time.perf_counter()
        client.get(url, params)
        times.append((time.perf_counter() - started) * 1000)
    if cold:
        cache.clear()
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    return times, queries.captured_queries


def run_size(label: str, total: int, brands, sources, user, args) -> dict[str, float]:
    from django.test import Client
    from django.urls import reverse

    from dashboard.timezones import SESSION_KEY
    from listening.models import Mention

    print(f"size {label}:")
    if args.keep and Mention.objects.count() == total:
        print(f"  {total:,} mentions kept from an earlier --keep run")
    else:
        empty_data()
        build_data(total, brands, sources)
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = args.time_zone
    session.save()
    acme = brands[0]
    rows = []
    p95 = {}
    cold_p95 = {}
    for page in PAGES:
        url, params = reverse(f"dashboard:{page}"), {"brand": acme.pk, "range": "90d"}
        times, queries = measure(client, url, params, args.warmup, args.repeat)
        cold, _ = measure(client, url, params, 0, args.repeat, cold=True)
        p95[page] = percentile(times, 0.95)
        cold_p95[page] = percentile(cold, 0.95)
        rows.append((page, statistics.median(times), p95[page], cold_p95[page], queries))
    for name, word in (("explorer common", COMMON), ("explorer rare", RARE)):
        url, params = reverse("dashboard:explorer"), {"brand": acme.pk, "q": word}
        times, queries = measure(client, url, params, args.warmup, args.repeat)
        p95[name] = percentile(times, 0.95)
        rows.append((f"{name} ({word!r})", statistics.median(times), p95[name], None, queries))
    anonymous = Client()
    times, queries = measure(anonymous, reverse("login"), {}, args.warmup, args.repeat)
    rows.append(
        (
            "reference: sign-in page",
            statistics.median(times),
            percentile(times, 0.95),
            None,
            queries,
        )
    )
    print(
        f"  {'page':34s} {'p50 ms':>8s} {'p95 ms':>8s} {'cold p95':>9s} {'queries':>8s}"
        f" {'rows read':>10s} {'slowest query ms':>17s}"
    )
    slow = []
    for name, p50, p95_ms, cold_ms, queries in rows:
        worst = max(queries, key=lambda q: float(q["time"]), default={"time": 0, "sql": ""})
        worst_ms = float(worst["time"]) * 1000
        cold_text = f"{cold_ms:9.1f}" if cold_ms is not None else f"{'':9s}"
        print(
            f"  {name:34s} {p50:8.1f} {p95_ms:8.1f} {cold_text} {len(queries):8d}"
            f" {rows_read(queries):10,d} {worst_ms:17.1f}"
        )
        if worst_ms > 50:
            slow.append(f"    {name}: {' '.join(worst['sql'].split())[:160]}")
    if slow:
        print("  queries over 50 ms (one load, first 160 characters):", *slow, sep="\n")
    slowest = max(PAGES, key=lambda page: p95[page])
    explorer = max(p95["explorer common"], p95["explorer rare"])
    print(
        f"  slowest page: {slowest}, p95 {p95[slowest]:.1f} ms (cold: {max(cold_p95.values()):.1f}"
        f" ms); explorer p95 {explorer:.1f} ms"
    )
    return {"dashboard": p95[slowest], "explorer": explorer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), action="append")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--time-zone",
        default="Asia/Kolkata",
        help="The marketer's time zone (default Asia/Kolkata: +5:30, the most rollup cells"
        " per local day boundary of the common zones).",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="Build each size in its own database, keep it, and reuse it when it holds the size.",
    )
    args = parser.parse_args()
    sizes = args.size or ["10k", "1m"]

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench/dashboard.py measures PostgreSQL: set DATABASE_URL to one.")
    settings.ALLOWED_HOSTS = ["*"]  # the test client's host is "testserver"
    old_name = connection.settings_dict["NAME"]
    results = {}
    if args.keep:
        for label in sizes:
            connection.close()
            connection.settings_dict["NAME"] = old_name
            connection.settings_dict["TEST"]["NAME"] = f"test_{old_name}_{label}"
            connection.creation.create_test_db(
                verbosity=0, autoclobber=True, keepdb=True, serialize=False
            )
            print(f"kept database {connection.settings_dict['NAME']}; test client in process")
            brands, sources, user = setup_brands()
            results[label] = run_size(label, SIZES[label], brands, sources, user, args)
    else:
        connection.creation.create_test_db(
            verbosity=0, autoclobber=True, keepdb=False, serialize=False
        )
        try:
            print(f"scratch database {connection.settings_dict['NAME']}; test client in process")
            brands, sources, user = setup_brands()
            for label in sizes:
                results[label] = run_size(label, SIZES[label], brands, sources, user, args)
        finally:
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)
    if "10m" in results:
        ten, base = results["10m"], results.get("10k") or results[sizes[0]]
        print(
            f"10m: slowest page p95 {ten['dashboard']:.1f} ms "
            f"(growth over {next(iter(results))}: {ten['dashboard'] / base['dashboard']:.2f}), "
            f"explorer p95 {ten['explorer']:.1f} ms"
        )
    big = results.get("1m") or results[sizes[-1]]
    small = results.get("10k") or results[sizes[0]]
    x, y = big["dashboard"], small["dashboard"]
    print(
        f"RESULT dashboard_p95_ms_1m={x:.1f} dashboard_p95_ms_10k={y:.1f} "
        f"growth={x / y:.2f} explorer_p95_ms_1m={big['explorer']:.1f}"
    )


if __name__ == "__main__":
    main()
