"""Route every unrouted mention into cases now, in process, and settle what follows from it.

One round: route until no unrouted mention is left (engagement.routing.mentions_route), drop
brand replies that waited too long for the post they answer (waiting_replies_expire), start
and close follow-up windows (followups_evaluate), refresh priorities
(cases_priority_refresh). Rounds repeat until one changes nothing (at most --max-rounds), all
at one "now", so the result is what the periodic tasks would reach, without a worker. Prints
the totals per kind on stdout, progress of long runs on stderr. Idempotent: a second run
finds nothing to do. Exit 1 with a message when routing fails or does not settle.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Max, Q
from django.utils import timezone

from engagement.followup import followups_evaluate
from engagement.models import Case
from engagement.priority import cases_priority_refresh
from engagement.routing import mentions_route, waiting_replies_expire

DEFAULT_MAX_ROUNDS = 100
ROUTE_LIMIT = 2000
PROGRESS_EVERY_SECONDS = 2.0

# RouteResult's counts as the summary names them, in the order it prints them; a count
# routing adds later is printed after these under its own name.
ROUTE_LABELS: dict[str, str] = {
    "opened": "opened",
    "joined": "joined",
    "reopened": "reopened",
    "brand_replies": "brand replies",
    "linked_late": "linked late",
    "waiting": "waiting",
    "skipped": "skipped",
    "failed": "failed",
    "advocates": "advocates (of opened and joined)",
}


@dataclasses.dataclass(slots=True)
class SettleResult:
    """What a run did: routing's counts summed over every sweep, and the other steps'."""

    route: dict[str, int] = dataclasses.field(default_factory=dict)
    routed: int = 0
    expired: int = 0
    followups: int = 0
    priorities: int = 0
    rounds: int = 0
    is_settled: bool = False
    history_filed: int = 0
    history_answered: int = 0


def _route_counts(result: object) -> dict[str, int]:
    return {
        f.name: getattr(result, f.name)
        for f in dataclasses.fields(result)
        if isinstance(getattr(result, f.name), int)
    }


def cases_settle(
    *,
    now: datetime | None = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    on_progress=None,
) -> SettleResult:
    """Run routing, waiting-reply expiry, follow-up and priority until a round changes nothing.

    Idempotent (each step is). Touches what those steps touch (cases, case mentions, waiting
    replies, standings, MentionMatch.routed_at). ``on_progress(routed_so_far)`` is called now
    and then during a long routing sweep.
    """
    now = now or timezone.now()
    outcome = SettleResult()
    before = Case.objects.aggregate(last=Max("pk"))["last"] or 0
    last_report = time.monotonic()
    for _ in range(max_rounds):
        outcome.rounds += 1
        changed = 0
        while True:
            result = mentions_route(limit=ROUTE_LIMIT, now=now)
            counts = _route_counts(result)
            for name, count in counts.items():
                outcome.route[name] = outcome.route.get(name, 0) + count
            moved = result.routed + result.failed
            outcome.routed += result.routed
            changed += moved
            if moved == 0:
                break
            if on_progress and time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
                on_progress(outcome.routed)
                last_report = time.monotonic()
        expired = waiting_replies_expire(now=now)
        outcome.expired += expired
        changed += expired
        followups = followups_evaluate(now=now)
        outcome.followups += followups
        priorities = cases_priority_refresh(now=now)
        outcome.priorities += priorities
        changed += followups + priorities
        if changed == 0:
            outcome.is_settled = True
            break
    history = Case.objects.filter(pk__gt=before, is_history=True).aggregate(
        filed=Count("pk"), answered=Count("pk", filter=Q(first_response_at__isnull=False))
    )
    outcome.history_filed, outcome.history_answered = history["filed"], history["answered"]
    return outcome


def summary_lines(outcome: SettleResult) -> list[str]:
    """The run's totals, one "kind: count" line each, for people and scripts."""
    if outcome.is_settled:
        head = f"Routed {outcome.routed} mention(s) in {outcome.rounds} round(s); settled."
    else:
        head = (
            f"Routed {outcome.routed} mention(s) in {outcome.rounds} round(s); NOT settled: "
            "the last round still changed something."
        )
    lines = [head]
    names = [n for n in ROUTE_LABELS if n in outcome.route]
    names += sorted(n for n in outcome.route if n not in ROUTE_LABELS)
    for name in names:
        lines.append(f"{ROUTE_LABELS.get(name, name.replace('_', ' '))}: {outcome.route[name]}")
    lines += [
        f"waiting replies expired: {outcome.expired}",
        f"follow-ups changed: {outcome.followups}",
        f"priorities changed: {outcome.priorities}",
        f"history cases filed: {outcome.history_filed} "
        f"({outcome.history_answered} answered, "
        f"{outcome.history_filed - outcome.history_answered} no answer, imported)",
    ]
    return lines


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-rounds",
            type=int,
            default=DEFAULT_MAX_ROUNDS,
            help=f"Stop after this many rounds if still changing (default {DEFAULT_MAX_ROUNDS}).",
        )

    def handle(self, *args, **options):
        max_rounds = options["max_rounds"]
        if max_rounds < 1:
            raise CommandError("--max-rounds must be at least 1.")

        def progress(routed: int) -> None:
            if options["verbosity"] >= 1:
                self.stderr.write(f"routing: {routed} mention(s) so far ...")

        try:
            outcome = cases_settle(max_rounds=max_rounds, on_progress=progress)
        except Exception as exc:
            # Every step commits as it goes: what was routed stays routed, and a re-run
            # continues from there.
            reason = " ".join(str(exc).split())
            if not reason.endswith((".", "?", "!")):
                reason += "."
            raise CommandError(
                f"Routing stopped: {type(exc).__name__}: {reason} What was done before it is "
                "kept; re-running route_cases continues from there."
            ) from exc
        for line in summary_lines(outcome):
            self.stdout.write(line)
        if not outcome.is_settled:
            raise CommandError(
                f"Still changing after {outcome.rounds} round(s) (--max-rounds): new mentions "
                "may be arriving as fast as they are routed. Run it again, or raise "
                "--max-rounds."
            )
