"""The queue's services on real PostgreSQL; replies go to a real local Mastodon-like server."""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import timedelta
from http.server import ThreadingHTTPServer

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from brands.models import AuditLog, Membership
from engagement.models import (
    CareSettings,
    Case,
    CaseMention,
    CasePresence,
    Note,
    Reply,
    SavedReply,
    SentimentCorrection,
    Tag,
)
from engagement.services import (
    CaseActionError,
    audit_record,
    case_assign,
    case_claim,
    case_claim_next,
    case_release,
    case_status_set,
    case_tags_set,
    case_takeover,
    note_add,
    presence_others,
    presence_touch,
    reply_deliver,
    reply_mark_manual,
    reply_retry,
    reply_send,
    saved_reply_render,
    sentiment_correct,
)
from engagement.tasks import MAX_DELIVERY_RETRIES, reply_deliver_task
from listening.models import Mention, Source
from tests.engagement.conftest import make_user, store_mention
from tests.feedserver import JsonApiHandler, serving

pytestmark = pytest.mark.django_db

_status_ids = itertools.count(1001)


# --- a local server implementing Mastodon's POST /api/v1/statuses ---------------------------


class _MastodonHandler(JsonApiHandler):
    server: _MastodonHttpServer

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state = self.server
        key = self.headers.get("Idempotency-Key")
        with state.lock:
            state.received.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "content_type": self.headers.get("Content-Type"),
                    "idempotency_key": key,
                    "body": json.loads(raw or b"{}"),
                }
            )
            failure = state.fail_status
            posted = None
            if self.path == "/api/v1/statuses" and not failure:
                # As Mastodon does: a repeated key gets the status posted the first time.
                posted = state.posted.get(key) if key else None
                if posted is None:
                    status_id = str(next(_status_ids))
                    base = f"http://127.0.0.1:{state.server_address[1]}"
                    posted = {"id": status_id, "url": f"{base}/@acme_help/{status_id}"}
                    state.posted[key or status_id] = posted
        # The status exists before the answer is sent: a client that gives up waiting has
        # still posted it.
        if state.delay:
            time.sleep(state.delay)
        if self.path != "/api/v1/statuses":
            self.send_json(404, {"error": "Record not found"})
        elif failure:
            self.send_json(failure, {"error": "Something went wrong on our end"})
        else:
            self.send_json(200, posted)


class _MastodonHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    lock: threading.Lock
    received: list[dict]
    # Statuses created, by idempotency key (or by id when a request had none).
    posted: dict[str, dict]
    fail_status: int | None
    # Seconds to wait before answering, so concurrent deliveries overlap.
    delay: float


@pytest.fixture
def mastodon(settings):
    """A real HTTP server on 127.0.0.1 answering POST /api/v1/statuses like Mastodon."""
    server = _MastodonHttpServer(("127.0.0.1", 0), _MastodonHandler)
    server.lock = threading.Lock()
    server.received = []
    server.posted = {}
    server.fail_status = None
    server.delay = 0.0
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    with serving(server, settings):
        yield server


@pytest.fixture
def reply_source(acme, mastodon) -> Source:
    return Source.objects.create(
        brand=acme, kind="mastodon", url=mastodon.base_url, config={"access_token": "s3cret"}
    )


# --- helpers --------------------------------------------------------------------------------


def make_case(brand, mention: Mention | None = None, **fields) -> Case:
    fields.setdefault("kind", "care")
    fields.setdefault("status", "new")
    author = mention.author if mention is not None else None
    case = Case.objects.create(brand=brand, author=author, **fields)
    if mention is not None:
        CaseMention.objects.create(case=case, mention=mention, brand=brand)
    return case


def audits(case: Case, action: str | None = None):
    entries = AuditLog.objects.filter(object_type="case", object_id=str(case.pk))
    return entries.filter(action=action) if action else entries


@pytest.fixture
def complaint(social_source) -> Mention:
    return store_mention(social_source, "acme lost my parcel again, awful", external_id="501")


@pytest.fixture
def case(acme, complaint) -> Case:
    return make_case(acme, complaint, priority=5.0)


@pytest.fixture
def owned_case(case, agent) -> Case:
    return case_claim(case_id=case.pk, user=agent)


# --- audit ----------------------------------------------------------------------------------


def test_audit_record_stores_who_what_before_and_after_as_json(acme, admin_user, case):
    when = timezone.now()
    entry = audit_record(
        actor=admin_user,
        brand=acme,
        action="configure",
        obj=case,
        before={"due": None, "who": admin_user},
        after={"due": when, "tags": {"b", "a"}},
    )
    entry.refresh_from_db()
    assert entry.actor == admin_user
    assert (entry.object_type, entry.object_id) == ("case", str(case.pk))
    assert entry.before == {"due": None, "who": "ada"}
    assert entry.after["tags"] == ["a", "b"]
    assert entry.after["due"].startswith(when.isoformat()[:19])


# --- claiming -------------------------------------------------------------------------------


def test_claiming_a_new_case_makes_the_agent_owner_and_opens_it(case, agent):
    claimed = case_claim(case_id=case.pk, user=agent)

    assert claimed.assignee == agent
    assert claimed.status == Case.Status.OPEN
    (entry,) = audits(case, "claim")
    assert entry.actor == agent
    assert entry.before == {"assignee": None, "status": "new"}
    assert entry.after == {"assignee": "ana", "status": "open"}


def test_claiming_a_case_someone_else_owns_names_the_owner(case, agent, teammate):
    case_claim(case_id=case.pk, user=teammate)

    with pytest.raises(CaseActionError, match=r"^Already claimed by tom\.$"):
        case_claim(case_id=case.pk, user=agent)
    case.refresh_from_db()
    assert case.assignee == teammate


def test_claiming_ones_own_case_again_changes_nothing(owned_case, agent):
    again = case_claim(case_id=owned_case.pk, user=agent)

    assert again.assignee == agent
    assert audits(owned_case, "claim").count() == 1


def test_a_marketer_may_not_claim_and_an_outsider_finds_nothing(case, marketer, outsider):
    with pytest.raises(PermissionDenied):
        case_claim(case_id=case.pk, user=marketer)
    with pytest.raises(Http404):
        case_claim(case_id=case.pk, user=outsider)
    with pytest.raises(Http404):
        case_claim(case_id=case.pk + 1000, user=outsider)
    case.refresh_from_db()
    assert case.assignee is None


def test_claim_next_takes_the_highest_priority_unclaimed_care_case(
    acme, other_brand, agent, teammate
):
    make_case(acme, priority=9.0, kind="advocate")
    make_case(acme, priority=8.0, status="resolved")
    make_case(acme, priority=7.0, assignee=teammate, status="open")
    make_case(other_brand, priority=6.0)
    wanted = make_case(acme, priority=5.0, status="waiting")
    make_case(acme, priority=1.0)

    claimed = case_claim_next(user=agent)

    assert claimed == wanted
    assert claimed.assignee == agent
    assert claimed.status == Case.Status.WAITING
    assert audits(wanted, "claim").get().after == {"assignee": "ana", "status": "waiting"}


def test_claim_next_returns_none_when_the_queue_is_empty(acme, agent, marketer):
    make_case(acme, priority=1.0, kind="advocate")

    assert case_claim_next(user=agent) is None
    assert case_claim_next(user=marketer) is None


def test_claim_next_only_looks_at_the_brands_asked_for(acme, other_brand, agent):
    Membership.objects.create(user=agent, brand=other_brand, role="agent")
    elsewhere = make_case(other_brand, priority=9.0)
    here = make_case(acme, priority=1.0)

    assert case_claim_next(user=agent, brand_ids=[acme.pk]) == here
    assert case_claim_next(user=agent, brand_ids=[acme.pk]) is None
    assert case_claim_next(user=agent) == elsewhere


def test_claim_next_ignores_brands_the_user_may_not_work(acme, other_brand, agent):
    make_case(other_brand, priority=9.0)

    assert case_claim_next(user=agent, brand_ids=[other_brand.pk]) is None


# --- release, assign, takeover --------------------------------------------------------------


def test_the_owner_releases_a_case_back_to_the_queue(owned_case, agent):
    released = case_release(case=owned_case, user=agent)

    assert released.assignee is None
    owned_case.refresh_from_db()
    assert owned_case.assignee is None
    entry = audits(owned_case, "release").get()
    assert (entry.before, entry.after) == ({"assignee": "ana"}, {"assignee": None})


def test_a_teammate_cannot_release_someone_elses_case_but_an_admin_can(
    owned_case, teammate, admin_user
):
    with pytest.raises(CaseActionError, match="Only ana"):
        case_release(case=owned_case, user=teammate)

    assert case_release(case=owned_case, user=admin_user).assignee is None


def test_an_admin_assigns_a_case_to_an_agent_with_the_change_logged(case, admin_user, agent):
    assigned = case_assign(case=case, user=admin_user, assignee=agent)

    assert assigned.assignee == agent
    assert assigned.status == Case.Status.OPEN
    entry = audits(case, "assign").get()
    assert entry.actor == admin_user
    assert entry.before == {"assignee": None, "status": "new"}
    assert entry.after == {"assignee": "ana", "status": "open"}


def test_an_admin_reassigns_an_owned_case(owned_case, admin_user, teammate):
    case_assign(case=owned_case, user=admin_user, assignee=teammate)

    owned_case.refresh_from_db()
    assert owned_case.assignee == teammate
    entry = audits(owned_case, "assign").get()
    assert (entry.before["assignee"], entry.after["assignee"]) == ("ana", "tom")


def test_an_agent_hands_their_case_to_a_teammate(owned_case, agent, teammate):
    assert case_assign(case=owned_case, user=agent, assignee=teammate).assignee == teammate


def test_an_agent_cannot_reassign_a_teammates_case(owned_case, teammate, admin_user):
    with pytest.raises(CaseActionError, match="Take over the case to reassign it; ana owns it."):
        case_assign(case=owned_case, user=teammate, assignee=admin_user)


def test_cases_are_assigned_only_to_agents_and_admins_of_the_brand(
    case, admin_user, marketer, outsider
):
    for nobody in (marketer, outsider):
        with pytest.raises(CaseActionError, match="only be assigned to agents and admins"):
            case_assign(case=case, user=admin_user, assignee=nobody)
    case.refresh_from_db()
    assert case.assignee is None
    assert not audits(case, "assign").exists()


def test_a_takeover_is_explicit_and_logged_with_the_previous_owner(owned_case, teammate):
    taken = case_takeover(case=owned_case, user=teammate)

    assert taken.assignee == teammate
    entry = audits(owned_case, "takeover").get()
    assert entry.actor == teammate
    assert entry.before["assignee"] == "ana"
    assert entry.after["assignee"] == "tom"


def test_taking_over_an_unassigned_case_claims_it(case, teammate):
    case_takeover(case=case, user=teammate)

    case.refresh_from_db()
    assert case.assignee == teammate
    assert audits(case, "claim").count() == 1
    assert not audits(case, "takeover").exists()


def test_a_marketer_cannot_take_over(owned_case, marketer):
    with pytest.raises(PermissionDenied):
        case_takeover(case=owned_case, user=marketer)


# --- status ---------------------------------------------------------------------------------


def test_a_case_walks_through_every_allowed_status(owned_case, agent):
    case = owned_case
    assert case.status == "open"
    case_status_set(case=case, user=agent, status="waiting")
    case_status_set(case=case, user=agent, status="open")
    case_status_set(case=case, user=agent, status="resolved")
    assert case.status == "resolved"
    assert case.resolved_at is not None

    case_status_set(case=case, user=agent, status="open")

    case.refresh_from_db()
    assert (case.status, case.resolved_at, case.reopened_count) == ("open", None, 1)
    actions = list(audits(case).order_by("at", "pk").values_list("action", "before", "after"))
    assert [a for a, _, _ in actions] == ["claim", "status", "status", "status", "reopen"]
    _, before, after = actions[-1]
    assert (before["status"], after["status"]) == ("resolved", "open")
    assert (before["reopened_count"], after["reopened_count"]) == (0, 1)


def test_waiting_cases_can_be_resolved(owned_case, agent):
    case_status_set(case=owned_case, user=agent, status="waiting")
    assert case_status_set(case=owned_case, user=agent, status="resolved").status == "resolved"


@pytest.mark.parametrize(
    ("start", "target"),
    [("new", "resolved"), ("new", "waiting"), ("resolved", "waiting"), ("open", "new")],
)
def test_a_status_change_outside_the_workflow_is_refused(acme, admin_user, start, target):
    case = make_case(acme, status=start, assignee=admin_user)

    with pytest.raises(CaseActionError, match="cannot become"):
        case_status_set(case=case, user=admin_user, status=target)
    case.refresh_from_db()
    assert case.status == start


def test_an_unknown_status_is_refused(owned_case, agent):
    with pytest.raises(CaseActionError, match="not a case status"):
        case_status_set(case=owned_case, user=agent, status="closed")


def test_only_the_owner_or_an_admin_changes_the_status(owned_case, teammate, admin_user):
    with pytest.raises(CaseActionError, match="ana owns it"):
        case_status_set(case=owned_case, user=teammate, status="resolved")

    assert case_status_set(case=owned_case, user=admin_user, status="resolved").status == (
        "resolved"
    )


def test_setting_the_current_status_again_logs_nothing(owned_case, agent):
    case_status_set(case=owned_case, user=agent, status="open")

    assert not audits(owned_case, "status").exists()


# --- notes and tags -------------------------------------------------------------------------


def test_any_agent_of_the_brand_adds_a_note(case, teammate):
    note = note_add(case=case, user=teammate, text="  Called the depot.  ")

    assert Note.objects.get() == note
    assert note.text == "Called the depot."


def test_a_note_must_have_text_and_a_reasonable_length(case, agent, marketer):
    with pytest.raises(CaseActionError, match="Write something"):
        note_add(case=case, user=agent, text="   ")
    with pytest.raises(CaseActionError, match="at most 5000"):
        note_add(case=case, user=agent, text="x" * 5001)
    with pytest.raises(PermissionDenied):
        note_add(case=case, user=marketer, text="hi")
    assert not Note.objects.exists()


def test_tags_of_the_brand_are_set_and_logged(acme, case, agent):
    billing = Tag.objects.create(brand=acme, name="billing")
    delivery = Tag.objects.create(brand=acme, name="delivery")

    case_tags_set(case=case, user=agent, tag_ids=[billing.pk, delivery.pk])
    case_tags_set(case=case, user=agent, tag_ids=[delivery.pk])
    case_tags_set(case=case, user=agent, tag_ids=[delivery.pk])

    assert list(case.tags.all()) == [delivery]
    entries = list(audits(case, "tags").order_by("at", "pk"))
    assert [(e.before, e.after) for e in entries] == [
        ({"tags": []}, {"tags": ["billing", "delivery"]}),
        ({"tags": ["billing", "delivery"]}, {"tags": ["delivery"]}),
    ]


def test_tags_of_another_brand_are_refused(other_brand, case, agent):
    foreign = Tag.objects.create(brand=other_brand, name="secret")

    with pytest.raises(CaseActionError, match="tags of this brand"):
        case_tags_set(case=case, user=agent, tag_ids=[foreign.pk])
    assert not case.tags.exists()


# --- saved replies --------------------------------------------------------------------------


def test_a_saved_reply_fills_in_the_author_brand_and_agent(acme, case, agent):
    agent.first_name, agent.last_name = "Ana", "Lopez"
    saved = SavedReply.objects.create(
        brand=acme,
        title="Sorry",
        body="Hi {author_name} ({author_handle}), {brand} here. {agent_name} will help. {x}",
    )

    text = saved_reply_render(saved_reply=saved, case=case, user=agent)

    assert text == ("Hi Carol (carol@social.example), Acme here. Ana Lopez will help. {x}")


@pytest.mark.parametrize(
    "body",
    [
        "{__class__}",
        "{0}",
        "{author_name!r}",
        "{author_name.__class__.__mro__}",
        "{author_name:>999999999}",
        "{brand[0]}",
        "{",
        "}{",
        "{{author_name}}",
        "{}",
    ],
)
def test_a_hostile_saved_reply_neither_raises_nor_leaks(acme, case, agent, body):
    saved = SavedReply.objects.create(brand=acme, title="Odd", body=body)

    text = saved_reply_render(saved_reply=saved, case=case, user=agent)

    assert "class" not in text.replace("{__class__}", "").replace(".__class__.", "")
    assert "'Carol'" not in text
    assert len(text) < 100
    if body != "{{author_name}}":
        assert text == body


def test_a_saved_reply_of_another_brand_is_refused(other_brand, case, agent):
    saved = SavedReply.objects.create(brand=other_brand, title="Theirs", body="Hi")

    with pytest.raises(CaseActionError):
        saved_reply_render(saved_reply=saved, case=case, user=agent)


# --- replies through a real local Mastodon --------------------------------------------------


@pytest.fixture
def mastodon_case(acme, reply_source, agent) -> Case:
    older = store_mention(
        reply_source,
        "acme where is my parcel?",
        external_id="109000000000000001",
        published_at=timezone.now() - timedelta(hours=2),
    )
    newer = store_mention(
        reply_source, "acme still nothing, awful", external_id="109000000000000002"
    )
    case = make_case(acme, older, priority=3.0)
    CaseMention.objects.create(case=case, mention=newer, brand=acme)
    return case_claim(case_id=case.pk, user=agent)


def test_a_reply_is_posted_to_mastodon_and_marked_sent(
    acme, mastodon, mastodon_case, agent, eager_tasks, django_capture_on_commit_callbacks
):
    CareSettings.objects.create(brand=acme, followup_days=7)

    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_send(case=mastodon_case, user=agent, text="Sorry Carol, on it. ")

    (received,) = mastodon.received
    assert received["path"] == "/api/v1/statuses"
    assert received["authorization"] == "Bearer s3cret"
    assert received["content_type"] == "application/json"
    assert received["body"] == {
        "status": "Sorry Carol, on it.",
        "in_reply_to_id": "109000000000000002",
    }
    reply.refresh_from_db()
    assert reply.status == Reply.Status.SENT
    assert reply.attempts == 1
    assert reply.error == ""
    assert reply.external_id.isdigit()
    assert reply.url == f"{mastodon.base_url}/@acme_help/{reply.external_id}"
    assert reply.sent_at is not None
    mastodon_case.refresh_from_db()
    assert mastodon_case.status == Case.Status.WAITING
    assert mastodon_case.first_response_at == reply.created_at
    assert mastodon_case.followup_until == reply.created_at + timedelta(days=7)
    entry = audits(mastodon_case, "reply").get()
    assert entry.before["status"] == "open"
    assert entry.before["first_response_at"] is None
    assert entry.after["status"] == "waiting"
    assert entry.after["reply_id"] == reply.pk


def test_a_later_reply_keeps_the_first_response_time(
    mastodon_case, agent, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = reply_send(case=mastodon_case, user=agent, text="One")
    with django_capture_on_commit_callbacks(execute=True):
        reply_send(case=mastodon_case, user=agent, text="Two")

    mastodon_case.refresh_from_db()
    assert mastodon_case.first_response_at == first.created_at
    assert mastodon_case.followup_until is None  # no CareSettings for the brand


def test_a_reply_is_delivered_only_after_commit(
    mastodon, mastodon_case, agent, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reply = reply_send(case=mastodon_case, user=agent, text="Hello")

    assert len(callbacks) == 1
    assert mastodon.received == []
    assert Reply.objects.get(pk=reply.pk).status == Reply.Status.SENDING


def test_delivering_a_sent_reply_again_never_posts_twice(mastodon, mastodon_case, agent):
    reply = reply_send(case=mastodon_case, user=agent, text="Hello")

    reply_deliver(reply_id=reply.pk)
    reply_deliver(reply_id=reply.pk)
    reply_deliver_task.apply(args=[reply.pk])

    assert len(mastodon.received) == 1
    reply.refresh_from_db()
    assert (reply.status, reply.attempts) == (Reply.Status.SENT, 1)


def test_a_reply_answers_the_post_it_was_written_for_even_if_more_arrive(
    acme, mastodon, mastodon_case, agent, reply_source
):
    reply = reply_send(case=mastodon_case, user=agent, text="Hello")
    assert reply.in_reply_to.external_id == "109000000000000002"
    # The customer posts again before the worker delivers the reply.
    later = store_mention(reply_source, "acme hello??", external_id="109000000000000003")
    CaseMention.objects.create(case=mastodon_case, mention=later, brand=acme)

    reply_deliver(reply_id=reply.pk)

    (received,) = mastodon.received
    assert received["body"]["in_reply_to_id"] == "109000000000000002"


def test_a_reply_whose_post_was_deleted_fails_with_the_reason(mastodon, mastodon_case, agent):
    reply = reply_send(case=mastodon_case, user=agent, text="Hello")
    Mention.objects.filter(pk=reply.in_reply_to_id).delete()

    reply = reply_deliver(reply_id=reply.pk)

    assert (reply.status, reply.error) == (Reply.Status.FAILED, "The customer's post is gone.")
    assert mastodon.received == []


def test_a_retry_after_the_instance_posted_but_did_not_answer_posts_once(
    mastodon, mastodon_case, agent, settings
):
    from listening.connectors.base import SourceUnavailable

    reply = reply_send(case=mastodon_case, user=agent, text="Hello")
    # The instance posts the status but answers too late: the worker gives up (as when it is
    # killed after the post reached the instance) and the task is retried.
    settings.EARSHOT_FETCH_TIMEOUT = 0.5
    mastodon.delay = 1.5
    with pytest.raises(SourceUnavailable):
        reply_deliver(reply_id=reply.pk, is_final_attempt=False)
    mastodon.delay = 0.0
    reply = reply_deliver(reply_id=reply.pk)

    keys = [r["idempotency_key"] for r in mastodon.received]
    assert keys == [f"earshot-reply-{reply.pk}"] * 2
    (posted,) = mastodon.posted.values()
    assert (reply.status, reply.attempts) == (Reply.Status.SENT, 2)
    assert reply.external_id == posted["id"]


def test_a_server_error_is_retried_then_the_reply_fails_with_the_reason(
    mastodon, mastodon_case, agent, eager_tasks, django_capture_on_commit_callbacks
):
    mastodon.fail_status = 500

    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_send(case=mastodon_case, user=agent, text="Hello")

    assert len(mastodon.received) == 1 + MAX_DELIVERY_RETRIES
    reply.refresh_from_db()
    assert reply.status == Reply.Status.FAILED
    assert reply.attempts == 1 + MAX_DELIVERY_RETRIES
    assert "HTTP 500" in reply.error


def test_a_transient_failure_before_the_last_attempt_shows_as_retrying(
    mastodon, mastodon_case, agent
):
    from listening.connectors.base import SourceUnavailable

    mastodon.fail_status = 503
    reply = reply_send(case=mastodon_case, user=agent, text="Hello")

    with pytest.raises(SourceUnavailable):
        reply_deliver(reply_id=reply.pk, is_final_attempt=False)

    reply.refresh_from_db()
    assert reply.status == Reply.Status.SENDING
    assert reply.attempts == 1
    assert "HTTP 503" in reply.error


def test_a_client_error_fails_at_once_without_retrying(
    mastodon, mastodon_case, agent, eager_tasks, django_capture_on_commit_callbacks
):
    mastodon.fail_status = 422

    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_send(case=mastodon_case, user=agent, text="Hello")

    assert len(mastodon.received) == 1
    reply.refresh_from_db()
    assert (reply.status, reply.attempts) == (Reply.Status.FAILED, 1)
    assert "HTTP 422" in reply.error
    # The instance's own reason, as the agent needs it to fix the reply.
    assert reply.error.endswith("The server said: Something went wrong on our end")


def test_a_failed_reply_is_retried_by_its_owner_and_then_sent(
    mastodon, mastodon_case, agent, teammate, eager_tasks, django_capture_on_commit_callbacks
):
    mastodon.fail_status = 422
    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_send(case=mastodon_case, user=agent, text="Hello")
    mastodon.fail_status = None

    with pytest.raises(CaseActionError, match="ana owns it"):
        reply_retry(reply=reply, user=teammate)
    with django_capture_on_commit_callbacks(execute=True):
        reply_retry(reply=reply, user=agent)

    reply.refresh_from_db()
    assert (reply.status, reply.attempts, reply.error) == (Reply.Status.SENT, 2, "")
    entry = AuditLog.objects.get(action="reply_retry")
    assert (entry.object_type, entry.object_id) == ("reply", str(reply.pk))
    assert entry.before["status"] == "failed"
    assert entry.after["status"] == "sending"


def test_retrying_a_reply_that_did_not_fail_does_nothing(mastodon, mastodon_case, agent):
    reply = reply_send(case=mastodon_case, user=agent, text="Hello")
    reply_deliver(reply_id=reply.pk)

    assert reply_retry(reply=reply, user=agent).status == Reply.Status.SENT
    assert not AuditLog.objects.filter(action="reply_retry").exists()


def test_only_the_owner_can_reply_until_a_teammate_takes_over(mastodon, mastodon_case, teammate):
    with pytest.raises(CaseActionError, match=r"^Take over the case to reply; ana owns it\.$"):
        reply_send(case=mastodon_case, user=teammate, text="Hi")
    with pytest.raises(CaseActionError, match="Take over the case to reply"):
        reply_mark_manual(case=mastodon_case, user=teammate, text="Hi")

    case_takeover(case=mastodon_case, user=teammate)
    reply = reply_send(case=mastodon_case, user=teammate, text="Hi")

    assert reply.user == teammate
    assert audits(mastodon_case, "takeover").get().before["assignee"] == "ana"


def test_an_unclaimed_case_must_be_claimed_before_replying(acme, reply_source, agent):
    mention = store_mention(reply_source, "acme help", external_id="109000000000000009")
    case = make_case(acme, mention)

    with pytest.raises(CaseActionError, match="Claim the case to reply"):
        reply_send(case=case, user=agent, text="Hi")


def test_marketers_and_outsiders_cannot_reply(mastodon_case, marketer, outsider):
    with pytest.raises(PermissionDenied):
        reply_send(case=mastodon_case, user=marketer, text="Hi")
    with pytest.raises(Http404):
        reply_send(case=mastodon_case, user=outsider, text="Hi")
    assert not Reply.objects.exists()


@pytest.mark.parametrize("text", ["", "   ", "x" * 5001])
def test_a_reply_needs_between_one_and_5000_characters(mastodon_case, agent, text):
    with pytest.raises(CaseActionError):
        reply_send(case=mastodon_case, user=agent, text=text)
    assert not Reply.objects.exists()


def test_a_source_that_cannot_reply_asks_for_a_manual_reply(acme, agent):
    feed = Source.objects.create(brand=acme, kind="rss", url="https://blog.example/feed.xml")
    mention = store_mention(feed, "acme broke my heart")
    case = case_claim(case_id=make_case(acme, mention).pk, user=agent)

    with pytest.raises(CaseActionError) as refused:
        reply_send(case=case, user=agent, text="Sorry!")
    assert str(refused.value) == (
        "This platform cannot be answered from Earshot: reply there and mark it replied."
    )
    assert not Reply.objects.exists()

    reply = reply_mark_manual(
        case=case, user=agent, text="Sorry!", url="https://blog.example/post#comment-3"
    )

    assert (reply.status, reply.url) == (Reply.Status.MANUAL, "https://blog.example/post#comment-3")
    assert reply.sent_at is not None
    case.refresh_from_db()
    assert case.status == Case.Status.WAITING
    assert case.first_response_at == reply.created_at
    entry = audits(case, "reply_manual").get()
    assert entry.after["reply_status"] == "manual"


def test_a_mastodon_source_without_a_token_asks_for_a_manual_reply(
    acme, social_source, agent, complaint
):
    case = case_claim(case_id=make_case(acme, complaint).pk, user=agent)

    with pytest.raises(CaseActionError, match="no access token"):
        reply_send(case=case, user=agent, text="Sorry!")
    assert reply_mark_manual(case=case, user=agent, text="Sorry!").url == ""


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://example.com/x", "not a url", "//evil.example"]
)
def test_a_manual_reply_link_must_be_http(owned_case, agent, url):
    with pytest.raises(CaseActionError, match="http"):
        reply_mark_manual(case=owned_case, user=agent, text="Done", url=url)
    assert not Reply.objects.exists()


def test_a_reply_to_a_resolved_case_keeps_it_resolved(owned_case, agent):
    case_status_set(case=owned_case, user=agent, status="resolved")

    reply_mark_manual(case=owned_case, user=agent, text="You're welcome!")

    owned_case.refresh_from_db()
    assert owned_case.status == Case.Status.RESOLVED


def test_answering_and_resolving_drop_the_waiting_part_of_the_priority(acme, case, agent):
    opened = timezone.now() - timedelta(minutes=90)
    Case.objects.filter(pk=case.pk).update(
        opened_at=opened,
        first_response_due=opened + timedelta(minutes=60),
        priority=40.0,
        priority_band="medium",
        priority_parts={
            "negativity": {"points": 25.0, "text": "most negative compound -0.62"},
            "waiting": {"points": 15.0, "text": "overdue: waited 90 of 60 min for first response"},
        },
    )
    case = case_claim(case_id=case.pk, user=agent)

    reply_mark_manual(case=case, user=agent, text="Sorry, looking now.")
    case.refresh_from_db()
    assert case.priority_parts["waiting"] == {"points": 0.0, "text": "waiting on the customer"}
    assert (case.priority, case.priority_band) == (25.0, "low")
    assert case.priority_parts["negativity"]["points"] == 25.0

    case_status_set(case=case, user=agent, status="resolved")
    case.refresh_from_db()
    assert case.priority_parts["waiting"] == {"points": 0.0, "text": "resolved"}
    assert case.priority == 25.0


# --- sentiment corrections ------------------------------------------------------------------


def test_a_correction_is_kept_beside_the_original_score(acme, complaint, agent):
    # The reading it overrides is Earshot's; plain VADER's stays on the mention too.
    original = (complaint.our_label, complaint.our_compound)
    vaders = (complaint.label, complaint.compound)

    correction = sentiment_correct(
        mention=complaint, brand=acme, user=agent, label="neutral", reason=" Sarcasm, not anger. "
    )

    assert (correction.original_label, correction.original_compound) == original
    assert (correction.label, correction.reason) == ("neutral", "Sarcasm, not anger.")
    complaint.refresh_from_db()
    assert (complaint.our_label, complaint.our_compound) == original
    assert (complaint.label, complaint.compound) == vaders
    entry = AuditLog.objects.get(action="sentiment_correct")
    assert (entry.object_type, entry.object_id) == ("mention", str(complaint.pk))
    assert entry.before["label"] == original[0]
    assert entry.after["label"] == "neutral"


def test_a_second_correction_starts_from_the_first(acme, complaint, agent):
    sentiment_correct(mention=complaint, brand=acme, user=agent, label="neutral", reason="a")
    with pytest.raises(CaseActionError, match="already neutral"):
        sentiment_correct(mention=complaint, brand=acme, user=agent, label="neutral", reason="b")

    sentiment_correct(mention=complaint, brand=acme, user=agent, label="positive", reason="c")

    latest = SentimentCorrection.objects.order_by("-pk").first()
    assert latest.original_label == complaint.label
    assert AuditLog.objects.filter(action="sentiment_correct").first().before["label"] == (
        "neutral"
    )


@pytest.mark.parametrize(
    ("label", "reason", "message"),
    [
        ("neutral", "", "Say why"),
        ("neutral", "   ", "Say why"),
        ("neutral", "x" * 301, "at most 300"),
        ("furious", "because", "not a sentiment label"),
    ],
)
def test_a_correction_needs_a_real_label_and_a_short_reason(
    acme, complaint, agent, label, reason, message
):
    with pytest.raises(CaseActionError, match=message):
        sentiment_correct(mention=complaint, brand=acme, user=agent, label=label, reason=reason)
    assert not SentimentCorrection.objects.exists()


def test_marketers_and_outsiders_cannot_correct_sentiment(
    acme, other_brand, complaint, marketer, outsider
):
    with pytest.raises(PermissionDenied):
        sentiment_correct(mention=complaint, brand=acme, user=marketer, label="neutral", reason="x")
    with pytest.raises(Http404):
        sentiment_correct(mention=complaint, brand=acme, user=outsider, label="neutral", reason="x")
    # An outsider's own brand does not reach another brand's mention either.
    with pytest.raises(Http404):
        sentiment_correct(
            mention=complaint, brand=other_brand, user=outsider, label="neutral", reason="x"
        )
    assert not SentimentCorrection.objects.exists()


# --- presence -------------------------------------------------------------------------------


def test_presence_shows_other_recent_viewers_and_typists(acme, case, agent, teammate, admin_user):
    presence_touch(case=case, user=agent)
    presence_touch(case=case, user=teammate)
    presence_touch(case=case, user=teammate, is_typing=True)
    presence_touch(case=case, user=admin_user)
    CasePresence.objects.filter(user=admin_user).update(
        seen_at=timezone.now() - timedelta(minutes=5)
    )

    assert presence_others(case=case, user=agent) == [{"username": "tom", "is_typing": True}]
    assert CasePresence.objects.filter(user=teammate).count() == 1
    assert presence_others(case=case, user=admin_user, within_seconds=600) == [
        {"username": "ana", "is_typing": False},
        {"username": "tom", "is_typing": True},
    ]


def test_presence_is_not_shared_with_outsiders(case, outsider, marketer):
    with pytest.raises(Http404):
        presence_touch(case=case, user=outsider)
    with pytest.raises(PermissionDenied):
        presence_others(case=case, user=marketer)


def test_a_superuser_can_work_any_brand(case):
    root = make_user("root", None, None)
    root.is_superuser = True
    root.save()

    assert case_claim(case_id=case.pk, user=root).assignee == root


# --- the reply target (issue 11) -------------------------------------------------------------


def _bluesky_post(source: Source, view: dict, *, minutes_ago: int) -> Mention:
    """Store one recorded Bluesky post (by its real uri and author) through items_store."""
    from listening.connectors.base import RawItem
    from listening.services import BrandMatcher, items_store, source_brands

    uri, handle = view["uri"], view["author"]["handle"]
    item = RawItem(
        external_id=uri,
        url=f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[1]}",
        body=f"@acme_help {view['record'].get('text', '')[:200]} acme",
        author_handle=handle,
        author_name=handle,
        author_followers=10,
        published_at=timezone.now() - timedelta(minutes=minutes_ago),
        language="en",
        platform="bluesky",
        thread_id=uri,
    )
    items_store(
        source=source,
        items=[item],
        matcher=BrandMatcher.for_brands(source_brands(source)),
        platform="bluesky",
    )
    return Mention.objects.get(source=source, external_id=uri)


def test_delivery_posts_under_the_post_the_agent_chose(
    acme, agent, pds, recorded_posts, eager_tasks, django_capture_on_commit_callbacks
):
    from tests import bluesky_server

    source = Source(
        brand=acme,
        kind="bluesky",
        url="https://public.api.bsky.app",
        config={
            "query": "acme",
            "identifier": bluesky_server.IDENTIFIER,
            "app_password": bluesky_server.APP_PASSWORD,
            "pds_url": pds.base_url,
        },
    )
    source.full_clean(exclude=["brand"])
    source.save()
    # Two customers in one conversation: real recorded posts by two different authors.
    views, authors = [], set()
    for view in recorded_posts.values():
        if view["author"]["handle"] not in authors:
            authors.add(view["author"]["handle"])
            views.append(view)
        if len(views) == 2:
            break
    first = _bluesky_post(source, views[0], minutes_ago=30)
    second = _bluesky_post(source, views[1], minutes_ago=10)
    case = Case.objects.create(
        brand=acme,
        author=first.author,
        status=Case.Status.OPEN,
        assignee=agent,
        answer_target=first,
        needs_answer_at=first.published_at,
    )
    for mention in (first, second):
        CaseMention.objects.create(case=case, mention=mention, brand=acme)

    with django_capture_on_commit_callbacks(execute=True):
        chosen = reply_send(case=case, user=agent, text="Hi, on it", in_reply_to_id=second.pk)
    with django_capture_on_commit_callbacks(execute=True):
        default = reply_send(case=case, user=agent, text="Hi, on it too")

    parents = [record["value"]["reply"]["parent"]["uri"] for record in pds.records()]
    # The chosen post, then the default: the post that needed an answer, not the latest.
    assert parents == [second.external_id, first.external_id]
    chosen.refresh_from_db()
    default.refresh_from_db()
    assert (chosen.status, chosen.in_reply_to_id) == (Reply.Status.SENT, second.pk)
    assert (default.status, default.in_reply_to_id) == (Reply.Status.SENT, first.pk)
    entry = AuditLog.objects.filter(action="reply").order_by("pk").first()
    assert entry.after["in_reply_to"] == second.external_id
