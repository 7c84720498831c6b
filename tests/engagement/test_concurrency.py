"""Agents racing for the same cases: real threads, each with its own PostgreSQL connection."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from brands.models import AuditLog, Membership
from engagement.models import Case, Reply
from engagement.services import (
    CaseActionError,
    case_claim,
    case_claim_next,
    case_takeover,
    reply_deliver,
    reply_send,
)
from listening.models import Source
from tests.engagement.conftest import make_user, store_mention
from tests.engagement.test_services import make_case, mastodon  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough for a loaded CI machine; a barrier that times out fails the test loudly.
BARRIER_TIMEOUT = 30


def run_together(targets: list[Callable[[], Any]]) -> list[Any]:
    """Start one thread per target, release them at the same moment, return their results
    (or the exception each raised), in order."""
    barrier = threading.Barrier(len(targets), timeout=BARRIER_TIMEOUT)
    results: list[Any] = [None] * len(targets)

    def run(index: int, target: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = target()
        except Exception as exc:  # noqa: BLE001 (reported to the test as a result)
            results[index] = exc
        finally:
            connection.close()  # this thread's own connection

    threads = [
        threading.Thread(target=run, args=(i, target), name=f"agent-{i}")
        for i, target in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BARRIER_TIMEOUT * 2)
        assert not thread.is_alive(), f"{thread.name} is stuck"
    return results


@pytest.fixture
def agents(acme) -> list:
    return [make_user(f"agent{i}", acme, Membership.Role.AGENT) for i in range(8)]


def claim_counts() -> Counter:
    return Counter(AuditLog.objects.filter(action="claim").values_list("object_id", flat=True))


def test_agents_claiming_the_same_case_at_once_leave_one_owner(acme, agents):
    cases = [make_case(acme, priority=float(i)) for i in range(5)]

    for case in cases:
        results = run_together(
            [lambda a=a, c=case: case_claim(case_id=c.pk, user=a) for a in agents]
        )

        winners = [r for r in results if isinstance(r, Case)]
        refusals = [r for r in results if isinstance(r, CaseActionError)]
        assert len(winners) == 1, results
        assert len(refusals) == len(agents) - 1, results
        owner = winners[0].assignee
        case.refresh_from_db()
        assert case.assignee == owner
        assert case.status == Case.Status.OPEN
        assert {str(r) for r in refusals} == {f"Already claimed by {owner.username}."}
    assert claim_counts() == Counter({str(c.pk): 1 for c in cases})


def test_eight_agents_pressing_next_claim_every_case_exactly_once(acme, agents):
    cases = [make_case(acme, priority=float(i % 7)) for i in range(30)]

    def drain(agent) -> list[int]:
        claimed = []
        while (case := case_claim_next(user=agent)) is not None:
            assert case.assignee_id == agent.pk
            claimed.append(case.pk)
        return claimed

    results = run_together([lambda a=a: drain(a) for a in agents])

    assert not [r for r in results if isinstance(r, BaseException)], results
    claimed = [pk for per_agent in results for pk in per_agent]
    assert sorted(claimed) == sorted(c.pk for c in cases)
    assert not Case.objects.filter(assignee__isnull=True).exists()
    owners = dict(Case.objects.values_list("pk", "assignee_id"))
    for agent, per_agent in zip(agents, results, strict=True):
        assert all(owners[pk] == agent.pk for pk in per_agent)
    assert claim_counts() == Counter({str(c.pk): 1 for c in cases})


def test_next_and_direct_claims_racing_never_share_a_case(acme, agents):
    cases = [make_case(acme, priority=float(i)) for i in range(4)]
    direct, nexting = agents[:4], agents[4:]

    results = run_together(
        [
            lambda a=a, c=c: case_claim(case_id=c.pk, user=a)
            for a, c in zip(direct, cases, strict=True)
        ]
        + [lambda a=a: case_claim_next(user=a) for a in nexting]
    )

    assert not [r for r in results if not isinstance(r, Case | CaseActionError | None)], results
    assert claim_counts() == Counter({str(c.pk): 1 for c in cases})
    winners = [r for r in results if isinstance(r, Case)]
    assert len({c.pk for c in winners}) == len(winners)


def test_two_takeovers_at_once_are_both_logged_against_the_owner_they_replaced(acme, agents):
    case = make_case(acme, priority=1.0)
    case_claim(case_id=case.pk, user=agents[0])

    results = run_together(
        [lambda a=a: case_takeover(case=Case.objects.get(pk=case.pk), user=a) for a in agents[1:3]]
    )

    assert all(isinstance(r, Case) for r in results), results
    entries = list(AuditLog.objects.filter(action="takeover").order_by("at", "pk"))
    assert len(entries) == 2
    # Serialised by the row lock: the second takeover replaced the first taker, not agent0.
    assert entries[0].before["assignee"] == "agent0"
    assert entries[1].before["assignee"] == entries[0].after["assignee"]
    case.refresh_from_db()
    assert case.assignee.username == entries[1].after["assignee"]


def test_two_workers_delivering_one_reply_post_it_once(acme, agents, mastodon):  # noqa: F811
    source = Source.objects.create(
        brand=acme, kind="mastodon", url=mastodon.base_url, config={"access_token": "s3cret"}
    )
    mention = store_mention(source, "acme, my order?", external_id="109000000000000042")
    case = make_case(acme, mention)
    case_claim(case_id=case.pk, user=agents[0])
    reply = reply_send(case=case, user=agents[0], text="Looking into it.")
    mastodon.delay = 0.5

    results = run_together([lambda: reply_deliver(reply_id=reply.pk) for _ in range(3)])

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len(mastodon.received) == 1
    reply.refresh_from_db()
    assert (reply.status, reply.attempts) == (Reply.Status.SENT, 1)
