"""Queue benchmark: 20 agents working a 100,000-case queue on PostgreSQL through gunicorn.

Run with the venv's python from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/earshot .venv/bin/python bench/queue.py

It builds a scratch copy of the configured database (test_<name>, dropped afterwards) with
one brand, 20 agents and 100,000 open cases (each with its customer's mention), starts a real
gunicorn (DEBUG off, static files collected) on 127.0.0.1, and runs simulated agents, each a
thread with its own signed-in session, looping "load the queue page -> next case -> claim ->
reply (marked as replied on the platform) -> resolve":

0. a 5 s warm-up round, not measured (fresh workers compile templates on first use);
1. with 0.5 s of think time between actions for 30 s: the queue page's p50/p95 latency,
   beside a reference measured at the same time: the sign-in page (a small template, no
   queries) loaded every 0.5 s by one more client;
2. with no think time for 20 s: actions per second at saturation.

Each phase's clock starts once all agents are signed in (password hashing takes ~0.3 s an
agent), and the agents start at random moments within their first loop's think time, as
people do, rather than all loading the queue in the same millisecond (20 agents started
together stay in step and load the queue together on every loop).

Then it counts double claims: cases that two agents both claimed (from the audit log, where
every claim is written), which must be 0. The last line is
`RESULT queue_actions_per_s=<x> queue_p95_ms=<y> double_claims=<n>`.
Target: queue page p95 under 150 ms at that size and load.
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where bench/queue.py would shadow the
# standard library's queue module for everything imported after it.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("/bench")]

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")

PASSWORD = "bench-password-not-secret"  # noqa: S105 (scratch database only)
CASE_ID_RE = re.compile(r"/cases/(\d+)/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_data(cases: int, agents: int, seed: int) -> list[str]:
    """Brand, agents and open cases with their customers' mentions, in bulk."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from brands.models import Brand, Membership
    from engagement.models import CareSettings, Case, CaseMention
    from listening.models import Author, Mention, MentionMatch, Source

    rng = random.Random(seed)
    now = timezone.now()
    brand = Brand.objects.create(name="Acme", query="acme", handles="@acme_help")
    CareSettings.objects.create(brand=brand)
    source = Source.objects.create(brand=brand, kind="rss", url="https://news.example/feed")
    user_model = get_user_model()
    usernames = [f"agent{i:02d}" for i in range(agents)]
    for name in usernames:
        user = user_model.objects.create_user(name, f"{name}@example.com", PASSWORD)
        Membership.objects.create(user=user, brand=brand, role=Membership.Role.AGENT)

    authors = Author.objects.bulk_create(
        [
            Author(
                platform="web",
                handle=f"customer{i}",
                display_name=f"Customer {i}",
                followers=int(10 ** rng.uniform(0, 6)),
            )
            for i in range(cases // 5)
        ],
        batch_size=5000,
    )
    complaints = [
        "my Acme bill is wrong again",
        "Acme outage for three hours, terrible",
        "still waiting on my Acme refund",
        "why is Acme roaming so expensive?",
        "Acme support never answers, awful",
    ]
    step = 5000
    for start in range(0, cases, step):
        batch = range(start, min(cases, start + step))
        mentions = Mention.objects.bulk_create(
            [
                Mention(
                    source=source,
                    external_id=f"bench-{i}",
                    url=f"https://news.example/{i}",
                    author=authors[i % len(authors)],
                    title="",
                    text=rng.choice(complaints),
                    language="en",
                    platform="web",
                    thread_id=f"bench-{i}",
                    published_at=now - timedelta(minutes=rng.uniform(1, 4000)),
                    neg=0.4,
                    neu=0.6,
                    pos=0.0,
                    compound=-rng.uniform(0.05, 0.95),
                    label="negative",
                )
                for i in batch
            ]
        )
        MentionMatch.objects.bulk_create(
            [
                MentionMatch(
                    mention=m,
                    brand=brand,
                    matched_terms=["acme"],
                    published_at=m.published_at,
                    label=m.label,
                    routed_at=now,
                )
                for m in mentions
            ]
        )
        case_rows = []
        for m in mentions:
            priority = rng.uniform(0, 100)
            band = "high" if priority >= 60 else "medium" if priority >= 35 else "low"
            case_rows.append(
                Case(
                    brand=brand,
                    author=m.author,
                    kind="care",
                    status="new",
                    thread_id=m.thread_id,
                    subject=m.text,
                    priority=priority,
                    priority_band=band,
                    # Parts that add up to the score, as routing writes them: answering and
                    # resolving recompute the score from them (the waiting part drops to 0).
                    priority_parts={
                        "negativity": {"points": min(40.0, priority), "text": "bench"},
                        "reach": {"points": max(0.0, priority - 40.0), "text": "bench"},
                    },
                    opened_at=m.published_at,
                    last_mention_at=m.published_at,
                    first_response_due=m.published_at + timedelta(minutes=60),
                    resolution_due=m.published_at + timedelta(hours=24),
                    similarity_key=str(hash(m.text) & 0xFFFFFFFF),
                )
            )
        created = Case.objects.bulk_create(case_rows)
        CaseMention.objects.bulk_create(
            [
                CaseMention(case=c, mention=m, brand=brand)
                for c, m in zip(created, mentions, strict=True)
            ]
        )
        print(f"  {start + len(batch):,} cases", end="\r", flush=True)
    print()
    return usernames


class Agent(threading.Thread):
    def __init__(self, base: str, username: str, think: float) -> None:
        super().__init__(daemon=True)
        self.base, self.think = base, think
        self.until = 0.0  # set by run_phase when the phase starts
        self.start_delay = 0.0
        self.session = requests.Session()
        self.username = username
        self.queue_ms: list[float] = []
        # (action, milliseconds) of every request, to show where slow tails come from.
        self.timings: list[tuple[str, float]] = []
        self.actions = 0
        self.errors: list[str] = []

    def login(self) -> None:
        self.session.get(f"{self.base}/login/", timeout=30)
        token = self.session.cookies["csrftoken"]
        r = self.session.post(
            f"{self.base}/login/",
            data={"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
            timeout=30,
            allow_redirects=False,
        )
        if r.status_code != 302:
            raise RuntimeError(f"{self.username} could not sign in: HTTP {r.status_code}")

    def post(self, path: str, **data: str) -> requests.Response:
        headers = {"X-CSRFToken": self.session.cookies["csrftoken"], "Referer": self.base + "/"}
        return self.session.post(
            self.base + path, data=data, headers=headers, timeout=30, allow_redirects=False
        )

    def pause(self) -> None:
        if self.think:
            time.sleep(self.think)

    def run(self) -> None:
        time.sleep(self.start_delay)
        while time.monotonic() < self.until:
            try:
                started = time.perf_counter()
                r = self.session.get(f"{self.base}/queue/", timeout=30)
                self.queue_ms.append((time.perf_counter() - started) * 1000)
                self.check(r, 200, "queue")
                self.pause()
                r = self.post("/queue/next/")
                self.check(r, 302, "next")
                found = CASE_ID_RE.search(r.headers.get("Location", ""))
                if not found:
                    self.errors.append(f"next: no case ({r.headers.get('Location')})")
                    self.pause()
                    continue
                case_id = found.group(1)
                self.pause()
                self.check(self.post(f"/queue/{case_id}/claim/"), (200, 302), "claim")
                self.pause()
                self.check(
                    self.post(
                        f"/cases/{case_id}/reply/manual/",
                        text="Sorry about this, we are fixing it now.",
                        url="",
                    ),
                    (200, 302),
                    "reply",
                )
                self.pause()
                self.check(
                    self.post(f"/cases/{case_id}/status/", status="resolved"), (200, 302), "resolve"
                )
                self.pause()
            except requests.RequestException as exc:
                self.errors.append(repr(exc))

    def check(self, response: requests.Response, expected, what: str) -> None:
        self.actions += 1
        self.timings.append((what, response.elapsed.total_seconds() * 1000))
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if response.status_code not in allowed:
            self.errors.append(f"{what}: HTTP {response.status_code}")


class Reference(threading.Thread):
    """Loads the sign-in page (a small template, no queries) every 0.5 s while the agents
    work: the reference, on this machine under the same load at the same moment, that the
    queue page's latency is read against."""

    def __init__(self, base: str, until: float) -> None:
        super().__init__(daemon=True)
        self.base, self.until = base, until
        self.ms: list[float] = []
        self.errors = 0

    def run(self) -> None:
        session = requests.Session()
        while time.monotonic() < self.until:
            started = time.perf_counter()
            try:
                ok = session.get(f"{self.base}/login/", timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            self.ms.append((time.perf_counter() - started) * 1000)
            self.errors += not ok
            time.sleep(0.5)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def server_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [master, *map(int, children.read_text().split())] if children.exists() else [master]


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def run_phase(
    base: str,
    usernames: list[str],
    think: float,
    seconds: float,
    seed: int,
    reference: Reference | None = None,
) -> list[Agent]:
    agents = [Agent(base, name, think) for name in usernames]
    # Agents start at random moments within one loop's think time, as people do, rather than
    # all 20 loading the queue in the same millisecond and staying in step from then on.
    rng = random.Random(seed)
    for agent in agents:
        agent.start_delay = rng.uniform(0, 5 * think)
    # Signing in hashes a password (about 0.3 s each, on purpose): the measured time starts
    # once every agent is signed in, or the phase would be a third shorter than it says.
    for agent in agents:
        agent.login()
    started = time.monotonic()
    for agent in agents:
        agent.until = started + seconds
        agent.start()
    if reference is not None:
        reference.until = started + seconds
        reference.start()
    for agent in agents:
        agent.join(seconds + 60)
    if reference is not None:
        reference.join(60)
    for agent in agents:
        agent.elapsed = time.monotonic() - started
    return agents


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--think-seconds", type=float, default=30.0)
    parser.add_argument("--saturation-seconds", type=float, default=20.0)
    parser.add_argument("--warmup-seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.db.models import Count

    from brands.models import AuditLog

    if connection.vendor != "postgresql":
        raise SystemExit("bench/queue.py measures PostgreSQL: set DATABASE_URL to one.")
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    server = None
    try:
        db = connection.settings_dict
        db_url = (
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
        print(f"building {args.cases:,} open cases for {args.agents} agents in {db['NAME']} ...")
        started = time.monotonic()
        usernames = build_data(args.cases, args.agents, args.seed)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"  built in {time.monotonic() - started:.0f} s")

        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # The agents speak http:// to 127.0.0.1: no HTTPS redirect, HSTS or secure cookies.
            "EARSHOT_PLAIN_HTTP": "true",
            "PYTHONUNBUFFERED": "1",
        }
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=REPO,
            env=env,
            check=True,
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--config",
                "config/gunicorn.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
                "--worker-class",
                "gthread",
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{base}/login/", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        print(f"gunicorn: {args.workers} workers x {args.threads} threads on {base}")

        # Fresh gunicorn workers compile templates and warm caches on their first requests;
        # a short unmeasured round keeps that start-up cost out of the steady-state figures.
        run_phase(base, usernames, 0.5, args.warmup_seconds, args.seed)
        watched = {
            "load generator (this process)": [os.getpid()],
            "gunicorn": server_pids(server.pid),
            "PostgreSQL": postgres_pids(),
        }
        cpu_before = {name: cpu_seconds(pids) for name, pids in watched.items()}
        reference = Reference(base, until=0.0)
        thinking = run_phase(base, usernames, 0.5, args.think_seconds, args.seed, reference)
        by_action: dict[str, list[float]] = {}
        for agent in thinking:
            for what, ms in agent.timings:
                by_action.setdefault(what, []).append(ms)
        print(
            "think-time latency by action (p50/p95 ms): "
            + ", ".join(
                f"{what} {statistics.median(ms):.0f}/{percentile(ms, 0.95):.0f}"
                for what, ms in by_action.items()
            )
        )
        print(
            "CPU seconds used in the think-time phase: "
            + ", ".join(
                f"{name} {cpu_seconds(pids) - cpu_before[name]:.1f}"
                for name, pids in watched.items()
            )
            + f" (of {2 * args.think_seconds:.0f} available on 2 cores)"
        )
        queue_ms = [ms for a in thinking for ms in a.queue_ms]
        think_actions = sum(a.actions for a in thinking)
        p50, p95 = statistics.median(queue_ms), percentile(queue_ms, 0.95)
        print(
            f"think time 0.5 s, {args.think_seconds:.0f} s: {think_actions} actions "
            f"({think_actions / args.think_seconds:.1f}/s), queue page p50 {p50:.0f} ms, "
            f"p95 {p95:.0f} ms over {len(queue_ms)} loads"
        )
        ref_p50, ref_p95 = statistics.median(reference.ms), percentile(reference.ms, 0.95)
        print(
            f"reference, the sign-in page under the same load: p50 {ref_p50:.0f} ms, "
            f"p95 {ref_p95:.0f} ms over {len(reference.ms)} loads ({reference.errors} failed); "
            f"queue page p95 = {p95 / ref_p95:.1f}x the reference's"
        )

        saturated = run_phase(base, usernames, 0.0, args.saturation_seconds, args.seed)
        sat_actions = sum(a.actions for a in saturated)
        sat_rate = sat_actions / args.saturation_seconds
        sat_ms = [ms for a in saturated for ms in a.queue_ms]
        print(
            f"no think time, {args.saturation_seconds:.0f} s: {sat_actions} actions = "
            f"{sat_rate:.1f} actions/s; queue page p50 {statistics.median(sat_ms):.0f} ms, "
            f"p95 {percentile(sat_ms, 0.95):.0f} ms"
        )
        errors = [e for a in thinking + saturated for e in a.errors]
        if errors:
            print(f"errors: {len(errors)}; first: {errors[:5]}")

        double_claims = (
            AuditLog.objects.filter(action="claim", object_type="case")
            .values("object_id")
            .annotate(claims=Count("actor_id", distinct=True))
            .filter(claims__gt=1)
            .count()
        )
        claimed = AuditLog.objects.filter(action="claim").count()
        print(f"claims written: {claimed}; cases claimed by more than one agent: {double_claims}")
        print(
            f"RESULT queue_actions_per_s={sat_rate:.1f} queue_p95_ms={p95:.0f} "
            f"double_claims={double_claims}"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
