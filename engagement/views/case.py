"""The case page and its actions, and the author page.

Each view parses input with a form, fetches through selectors/case.py (which asks
brands.permissions), calls one service and renders. Mutating views are POST-only. With
htmx they answer with the fragment the action changed (an error line and status 409 when the
service refuses with CaseActionError); without it they redirect to the case with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET, require_POST

from brands.permissions import Action, can
from engagement import services
from engagement.forms.case import (
    AssignForm,
    BrandRefForm,
    CaseRefForm,
    CorrectionForm,
    ManualReplyForm,
    NoteForm,
    PresenceForm,
    ReplyForm,
    SimilarReplyForm,
    StatusForm,
    TagsForm,
    TargetRefForm,
)
from engagement.models import Case, SentimentCorrection, Tag
from engagement.selectors import case as selectors
from engagement.views import queue as queue_views
from listening.models import Mention, MentionMatch, label_text
from listening.outside import web_url
from listening.selectors import sentiment_model_active
from listening.sentiment import get_scorer
from listening.sentiment.care import CARE_NAME, CARE_VERSION
from listening.sentiment.vader import VADER_NAME
from listening.sentiment_explain import explain_care, explain_text

# Status of an htmx answer whose action a service refused: the page's htmx config swaps it
# (case.html), so the fragment shows the reason in place.
REFUSED = 409


def _case_url(case: Case) -> str:
    return reverse("engagement:case", args=[case.pk])


# Fields whose errors read as a sentence on their own (no "name:" in front).
_BARE_ERRORS = {"__all__", "target"}


def _form_error(form) -> str:
    errors = [
        f"{name}: {', '.join(errs)}" if name not in _BARE_ERRORS else ", ".join(errs)
        for name, errs in form.errors.items()
    ]
    return "; ".join(errors) or "Invalid input."


def _page_context(
    request: HttpRequest, case: Case, *, target_id: int | None = None, **extra: Any
) -> dict[str, Any]:
    page = selectors.case_page(case=case, target_id=target_id)
    context: dict[str, Any] = {
        "case": case,
        "page": page,
        "is_owner": case.assignee_id == request.user.pk,
        "presence": services.presence_others(case=case, user=request.user),
        "reply_form": ReplyForm(),
        "manual_form": ManualReplyForm(),
        "note_form": NoteForm(),
        "statuses": Case.Status.choices,
        "labels": CorrectionForm.base_fields["label"].choices,
        "similar_form": SimilarReplyForm(group=Case.objects.none()),
    }
    context.update(extra)
    return context


def _respond(
    request: HttpRequest,
    case: Case,
    *,
    fragment: str,
    error: str = "",
    success: str = "",
    context: Callable[[], dict[str, Any]] | None = None,
) -> HttpResponse:
    """The fragment for htmx (status 409 with the error line when refused), else a redirect."""
    if request.htmx:
        data = (context or (lambda: _page_context(request, case)))()
        data["error"] = error
        return render(request, f"engagement/{fragment}", data, status=REFUSED if error else 200)
    if error:
        messages.error(request, error)
    elif success:
        messages.success(request, success)
    return redirect(_case_url(case))


def _act(
    request: HttpRequest,
    case: Case,
    action: Callable[[], object],
    *,
    fragment: str,
    success: str,
) -> HttpResponse:
    try:
        action()
    except services.CaseActionError as exc:
        return _respond(request, case, fragment=fragment, error=str(exc))
    case.refresh_from_db()
    return _respond(request, case, fragment=fragment, success=success)


def _work(request: HttpRequest, case_id: int) -> Case:
    return selectors.case_get_for_user(case_id=case_id, user=request.user, action=Action.WORK_CASES)


@login_required
@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.case_get_for_user(case_id=case_id, user=request.user)
    # ?target=<mention id>: the post the agent chose to answer ("answer this post").
    target = TargetRefForm(request.GET)
    context = _page_context(
        request, case, target_id=target.cleaned_data["target"] if target.is_valid() else None
    )
    # Without JavaScript, the saved-reply picker is a GET form: the page comes back with the
    # rendered text already in the reply box.
    saved_id = request.GET.get("saved", "")
    if saved_id.isdigit():
        saved = selectors.saved_reply_get(case=case, saved_id=int(saved_id))
        text = services.saved_reply_render(saved_reply=saved, case=case, user=request.user)
        context["reply_form"] = ReplyForm(initial={"text": text})
    template = "engagement/_case_body.html" if request.htmx else "engagement/case.html"
    return render(request, template, context)


# --- Ownership: claim, release, assign, take over ------------------------------------------
# Ownership decides who may send, so these answer with the whole case body.


@login_required
@require_POST
def case_claim(request: HttpRequest, case_id: int, answer: str = "case") -> HttpResponse:
    """Claim a case: the one claim view, behind two URLs that differ only in the answer. The
    case page's button (answer "case") gets the case body back, or a redirect to the case; a
    queue row's (answer "row", urls/queue.py) gets the row back with its new owner or why
    not, or a redirect back to the queue."""
    case = _work(request, case_id)

    def claim() -> object:
        return services.case_claim(case_id=case.pk, user=request.user)

    if answer == "row":
        return queue_views.claim_answer(request, case_id=case.pk, claim=claim)
    return _act(request, case, claim, fragment="_case_body.html", success="You own this case now.")


@login_required
@require_POST
def case_release(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _work(request, case_id)
    return _act(
        request,
        case,
        lambda: services.case_release(case=case, user=request.user),
        fragment="_case_body.html",
        success="Case released.",
    )


@login_required
@require_POST
def case_assign(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _work(request, case_id)
    form = AssignForm(request.POST, workers=selectors.case_workers(brand_id=case.brand_id))
    if not form.is_valid():
        return _respond(request, case, fragment="_case_body.html", error=_form_error(form))
    assignee = form.cleaned_data["assignee"]
    return _act(
        request,
        case,
        lambda: services.case_assign(case=case, user=request.user, assignee=assignee),
        fragment="_case_body.html",
        success=f"Assigned to {assignee.get_username()}.",
    )


@login_required
@require_POST
def case_takeover(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _work(request, case_id)
    return _act(
        request,
        case,
        lambda: services.case_takeover(case=case, user=request.user),
        fragment="_case_body.html",
        success="You took this case over.",
    )


# --- Header: status and tags ----------------------------------------------------------------


@login_required
@require_POST
def case_status(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _work(request, case_id)
    form = StatusForm(request.POST)
    if not form.is_valid():
        return _respond(request, case, fragment="_case_header.html", error=_form_error(form))
    status = form.cleaned_data["status"]
    return _act(
        request,
        case,
        lambda: services.case_status_set(case=case, user=request.user, status=status),
        fragment="_case_header.html",
        success=f"Status: {Case.Status(status).label}.",
    )


@login_required
@require_POST
def case_tags(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _work(request, case_id)
    form = TagsForm(request.POST, brand_tags=Tag.objects.filter(brand_id=case.brand_id))
    if not form.is_valid():
        return _respond(request, case, fragment="_case_header.html", error=_form_error(form))
    tag_ids = [tag.pk for tag in form.cleaned_data["tags"]]
    return _act(
        request,
        case,
        lambda: services.case_tags_set(case=case, user=request.user, tag_ids=tag_ids),
        fragment="_case_header.html",
        success="Tags saved.",
    )


# --- Conversation: notes, replies, sentiment ------------------------------------------------


@login_required
@require_POST
def case_note(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _work(request, case_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _respond(request, case, fragment="_case_conversation.html", error=_form_error(form))
    return _act(
        request,
        case,
        lambda: services.note_add(case=case, user=request.user, text=form.cleaned_data["text"]),
        fragment="_case_conversation.html",
        success="Note added.",
    )


def _reply_respond(
    request: HttpRequest,
    case: Case,
    *,
    error: str,
    success: str,
    target_id: int | None = None,
    **forms,
):
    # On refusal the reply box keeps what the agent wrote (the bound form is rendered back)
    # and the post they chose to answer.
    return _respond(
        request,
        case,
        fragment="_case_main.html",
        error=error,
        success=success,
        context=lambda: _page_context(request, case, target_id=target_id, **forms),
    )


def _posted_target(form) -> int | None:
    return form.cleaned_data.get("target") if form.is_valid() else None


@login_required
@require_POST
def case_reply(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _work(request, case_id)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return _reply_respond(request, case, error=_form_error(form), success="", reply_form=form)
    target_id = form.cleaned_data["target"]
    try:
        reply = services.reply_send(
            case=case,
            user=request.user,
            text=form.cleaned_data["text"],
            in_reply_to_id=target_id,
        )
    except services.CaseActionError as exc:
        # The text stays in the box, ready for "replied on platform".
        return _reply_respond(
            request, case, error=str(exc), success="", target_id=target_id, reply_form=form
        )
    case.refresh_from_db()
    # The box stays on the post just answered (no jump back to the default).
    return _reply_respond(
        request,
        case,
        error="",
        success=f"Reply {reply.get_status_display().lower()}.",
        target_id=target_id,
    )


@login_required
@require_POST
def case_reply_manual(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _work(request, case_id)
    form = ManualReplyForm(request.POST)
    # The reply box's text field, bound, so a refusal keeps what was typed.
    reply_form = ReplyForm(request.POST)
    if not form.is_valid():
        return _reply_respond(
            request,
            case,
            error=_form_error(form),
            success="",
            target_id=_posted_target(reply_form),
            manual_form=form,
            reply_form=reply_form,
        )
    target_id = form.cleaned_data["target"]
    try:
        services.reply_mark_manual(
            case=case,
            user=request.user,
            text=form.cleaned_data["text"],
            url=form.cleaned_data["url"] or "",
            in_reply_to_id=target_id,
        )
    except services.CaseActionError as exc:
        return _reply_respond(
            request,
            case,
            error=str(exc),
            success="",
            target_id=target_id,
            manual_form=form,
            reply_form=reply_form,
        )
    case.refresh_from_db()
    return _reply_respond(
        request,
        case,
        error="",
        success="Marked as replied on the platform.",
        target_id=target_id,
    )


@login_required
@require_POST
def reply_retry(request: HttpRequest, reply_id: int) -> HttpResponse:
    reply = selectors.reply_get_for_user(reply_id=reply_id, user=request.user)
    case = reply.case
    try:
        services.reply_retry(reply=reply, user=request.user)
    except services.CaseActionError as exc:
        return _reply_respond(request, case, error=str(exc), success="")
    case.refresh_from_db()
    return _reply_respond(request, case, error="", success="Retrying the reply.")


@login_required
@require_GET
def saved_reply_render(request: HttpRequest, case_id: int, saved_id: int) -> HttpResponse:
    """The saved reply's text with the case's variables filled in, as plain text (case.js
    inserts it into the reply box)."""
    case = _work(request, case_id)
    saved = selectors.saved_reply_get(case=case, saved_id=saved_id)
    text = services.saved_reply_render(saved_reply=saved, case=case, user=request.user)
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


def _mention_context(request: HttpRequest, link, **extra: Any) -> dict[str, Any]:
    corrections = [c for c in link.mention.corrections_newest_first if c.brand_id == link.brand_id]
    entry = selectors.Entry(
        kind="mention",
        at=link.mention.published_at,
        obj=link,
        link=web_url(link.mention.url),
        correction=corrections[0] if corrections else None,
    )
    context = {
        "case": link.case,
        "entry": entry,
        "labels": CorrectionForm.base_fields["label"].choices,
        "can_work": True,
    }
    context.update(extra)
    return context


@login_required
@require_POST
def mention_correct(request: HttpRequest, mention_id: int) -> HttpResponse:
    form = CorrectionForm(request.POST)
    case_id = form.data.get("case", "")
    link = selectors.case_mention_get_for_user(
        case_id=int(case_id) if str(case_id).isdigit() else 0,
        mention_id=mention_id,
        user=request.user,
        action=Action.WORK_CASES,
    )
    case = link.case
    error = ""
    if not form.is_valid():
        error = _form_error(form)
    else:
        try:
            services.sentiment_correct(
                mention=link.mention,
                brand=case.brand,
                user=request.user,
                label=form.cleaned_data["label"],
                reason=form.cleaned_data["reason"],
            )
        except services.CaseActionError as exc:
            error = str(exc)
    if request.htmx:
        link = selectors.case_mention_get_for_user(
            case_id=case.pk, mention_id=mention_id, user=request.user, action=Action.WORK_CASES
        )
        return render(
            request,
            "engagement/_case_mention.html",
            _mention_context(request, link, error=error),
            status=REFUSED if error else 200,
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request, "Sentiment corrected; Earshot's and VADER's scores are kept beside it."
        )
    return redirect(_case_url(case))


def explanation_html(explanation) -> str:
    """The words that carried valence, with their contribution and the rules that fired."""
    rows = format_html_join(
        "",
        '<tr class="{}"><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>',
        (
            (
                "pos" if w.contribution > 0 else "neg" if w.contribution < 0 else "",
                w.word,
                "" if w.lexicon_valence is None else f"{w.lexicon_valence:+.2f}",
                f"{w.contribution:+.3f}",
                ", ".join(sorted(w.flags)),
            )
            for w in explanation.words
            if w.contribution or w.flags
        ),
    )
    return format_html(
        '<p class="why-summary">{}</p>'
        '<table class="why"><thead><tr><th>Word</th><th>Lexicon</th><th>Contribution</th>'
        "<th>Rules</th></tr></thead><tbody>{}</tbody></table>"
        '<p class="muted">Compound {} ({}); pos {}, neu {}, neg {}.</p>',
        explanation.summary,
        rows,
        f"{explanation.compound:+.3f}",
        explanation.label,
        f"{explanation.pos:.3f}",
        f"{explanation.neu:.3f}",
        f"{explanation.neg:.3f}",
    )


@dataclass(frozen=True)
class LabelSource:
    """Where a mention's effective label for a brand comes from (the "why?" headline).

    kind: "correction" (an agent's, the latest), "brand_model" (a scorer of the brand's own,
    issue 13 section 3), "earshot" (Earshot's scorer as ingest stored it), "vader" (stored
    before Earshot had a scorer of its own: Earshot's score is plain VADER's) or "unscored"
    (a language Earshot's scorer does not handle)."""

    kind: str
    label: str  # the effective label (MentionMatch.label)
    scorer: str = ""  # "name version" of the scorer that gave Earshot's score
    correction: SentimentCorrection | None = None


def label_source(
    *, mention: Mention, effective_label: str, correction: SentimentCorrection | None
) -> LabelSource:
    """Why the brand sees ``effective_label``: the rule of MentionMatch's docstring, newest
    authority first (a correction, else the brand's own model, else Earshot's score)."""
    if correction is not None and correction.label == effective_label:
        return LabelSource("correction", effective_label, correction=correction)
    scorer = f"{mention.scorer_name} {mention.scorer_version}"
    if effective_label != mention.our_label:
        # Issue 13 section 3: a brand's learned model writes only that brand's
        # MentionMatch.label, never Mention.earshot_*. When it records which model labelled
        # a mention, name it here; until then a label that is neither a correction nor
        # Earshot's can only be such a model's.
        return LabelSource("brand_model", effective_label)
    if not mention.is_scored:
        return LabelSource("unscored", effective_label, scorer=scorer)
    if not mention.earshot_label or mention.scorer_name == VADER_NAME:
        return LabelSource("vader", effective_label, scorer=scorer)
    return LabelSource("earshot", effective_label, scorer=scorer)


@dataclass(frozen=True)
class CareRow:
    """One step of the care scorer's table, formatted for the page."""

    what: str
    delta: str  # signed, four places: "+0.4118", "-0.2954", "0.0000"
    direction: str  # "up", "down" or "none": the CSS class colours the delta
    compound: str  # the compound after the step, signed


@dataclass(frozen=True)
class CareTable:
    """Earshot's care scorer on a mention today, formatted for the page (explain_care)."""

    rows: list[CareRow]
    plain_compound: str
    compound: str
    label: str
    positive_threshold: str
    negative_threshold: str
    is_grouped: bool
    scorer: str  # the scorer that explains today: "earshot-care 1.1+vader3.3.2"
    stored_compound: str  # Earshot's compound as stored ("none" when unscored)
    # The stored score came from another scorer or version, or the rules changed since: the
    # steps explain today's score, which the page must not pass off as the stored one.
    is_stored_elsewhere: bool


def _signed(value: float) -> str:
    return f"{value:+.4f}" if round(value, 4) else "0.0000"


def care_table(mention: Mention) -> CareTable:
    care = explain_care(mention.text)
    stored = mention.our_compound
    return CareTable(
        rows=[
            CareRow(
                what=step.what,
                delta=_signed(step.delta),
                direction="up" if step.delta > 0 else "down" if step.delta < 0 else "none",
                compound=_signed(step.compound),
            )
            for step in care.steps
        ],
        plain_compound=_signed(care.plain_compound),
        compound=_signed(care.compound),
        label=care.label,
        positive_threshold=_signed(care.positive_threshold),
        negative_threshold=_signed(care.negative_threshold),
        is_grouped=care.is_grouped,
        scorer=f"{CARE_NAME} {CARE_VERSION}",
        stored_compound="none" if stored is None else _signed(stored),
        is_stored_elsewhere=(
            mention.scorer_name != CARE_NAME
            or mention.scorer_version != CARE_VERSION
            or stored is None
            or round(stored, 4) != round(care.compound, 4)
        ),
    )


@login_required
@require_GET
def mention_explain(request: HttpRequest, mention_id: int) -> HttpResponse:
    """Why is this mention labelled as it is for the case's brand: where the label comes from,
    plain VADER's words, and (when Earshot's care scorer is or was used) each step from plain
    VADER's compound to Earshot's, as the scorer reads the text today. Work is linear in the
    text (issue 9): a long text gets the care steps grouped by kind."""
    form = CaseRefForm(request.GET)
    link = selectors.case_mention_get_for_user(
        case_id=form.cleaned_data["case"] if form.is_valid() else 0,
        mention_id=mention_id,
        user=request.user,
    )
    mention = link.mention
    corrections = [c for c in mention.corrections_newest_first if c.brand_id == link.brand_id]
    correction = corrections[0] if corrections else None
    effective_label = (
        MentionMatch.objects.filter(mention_id=mention.pk, brand_id=link.brand_id)
        .values_list("label", flat=True)
        .first()
    )
    if effective_label is None:  # a mention in a case is matched; the rule if it is not
        effective_label = correction.label if correction is not None else mention.our_label
    source = label_source(mention=mention, effective_label=effective_label, correction=correction)
    context: dict[str, Any] = {
        "case": link.case,
        "mention": mention,
        "source": source,
        # The brand's model now (the one that labelled the mention, or a later one that a
        # rescoring has not reached yet); never its bytes.
        "brand_model": (
            sentiment_model_active(brand_id=link.case.brand_id)
            if source.kind == "brand_model"
            else None
        ),
        "effective_label_text": label_text(effective_label),
        "earshot_label_text": mention.our_label_text,
    }
    if mention.is_scored:
        explanation = explain_text(mention.text)
        context["explanation"] = explanation
        context["explanation_html"] = explanation_html(explanation)
        # Earshot's care steps where its care scorer gave the stored score or gives it now
        # (a deployment that scores with plain VADER has none to show).
        if mention.scorer_name == CARE_NAME or get_scorer().name == CARE_NAME:
            context["care"] = care_table(mention)
    return render(request, "engagement/_case_explain.html", context)


# --- Presence ---------------------------------------------------------------------------------


@login_required
@require_POST
def case_presence(request: HttpRequest, case_id: int) -> HttpResponse:
    """Touch the user's presence and answer with who else is here (polled every 5 s)."""
    case = selectors.case_get_for_user(case_id=case_id, user=request.user)
    form = PresenceForm(request.POST)
    is_typing = form.is_valid() and form.cleaned_data["is_typing"]
    services.presence_touch(case=case, user=request.user, is_typing=is_typing)
    others = services.presence_others(case=case, user=request.user)
    return render(request, "engagement/_case_presence.html", {"case": case, "presence": others})


# --- Similar requests -------------------------------------------------------------------------


@login_required
@require_POST
def case_similar_reply(request: HttpRequest, case_id: int) -> HttpResponse:
    """One answer to the case and its similar requests: per case, send it or mark it replied
    on the platform, claiming unowned cases first; a refusal on one case stops no other."""
    case = _work(request, case_id)
    group_ids = [case.pk] + [c.pk for c in selectors.case_similar(case=case)]
    group = Case.objects.filter(pk__in=group_ids, brand_id=case.brand_id)
    form = SimilarReplyForm(request.POST, group=group.select_related("assignee"))
    if not form.is_valid():
        return _respond(request, case, fragment="_case_similar.html", error=_form_error(form))
    text = form.cleaned_data["text"]
    manual = form.cleaned_data["mode"] == SimilarReplyForm.Mode.MANUAL
    report = []
    for target in form.cleaned_data["cases"]:
        try:
            if target.assignee_id is None:
                services.case_claim(case_id=target.pk, user=request.user)
                target.refresh_from_db()
            if manual:
                services.reply_mark_manual(case=target, user=request.user, text=text)
                report.append((target, True, "Marked replied on platform."))
            else:
                reply = services.reply_send(case=target, user=request.user, text=text)
                report.append((target, True, f"Reply {reply.get_status_display().lower()}."))
        except services.CaseActionError as exc:
            report.append((target, False, str(exc)))
    done = sum(1 for _, ok, _ in report if ok)
    summary = f"Replied on {done} of {len(report)} cases."
    if request.htmx:
        case.refresh_from_db()
        return render(
            request,
            "engagement/_case_similar.html",
            _page_context(request, case, report=report, summary=summary),
        )
    for target, ok, message in report:
        (messages.success if ok else messages.error)(request, f"Case {target.pk}: {message}")
    messages.info(request, summary)
    return redirect(_case_url(case))


# --- Author -----------------------------------------------------------------------------------

LABEL_COLOURS = {"positive": "#067647", "neutral": "#667085", "negative": "#b42318"}


def trajectory_svg(points: list[dict], *, width: int = 480, height: int = 140) -> str:
    """A polyline of compound over time with a zero line, points coloured by label, and a
    dashed mark where a case got its first response (selectors.author_trajectory's items).
    Mentions Earshot left unscored (their language) have no compound: they are in the table
    under the chart, not on the line."""
    pad = 10
    if not any(p.get("kind") == "mention" for p in points):
        return format_html('<p class="muted">{}</p>', "No mentions of the brand yet.")
    mentions = [p for p in points if p.get("kind") == "mention" and p.get("compound") is not None]
    times = [p["at"].timestamp() for p in points]
    start, span = min(times), (max(times) - min(times)) or 1.0

    def x(point: dict) -> float:
        if len(points) == 1:
            return width / 2
        return pad + (point["at"].timestamp() - start) / span * (width - 2 * pad)

    def y(compound: float) -> float:
        return pad + (1 - (compound + 1) / 2) * (height - 2 * pad)

    polyline = " ".join(f"{x(p):.1f},{y(float(p['compound'])):.1f}" for p in mentions)
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="{}" fill="{}" class="point {}">'
        "<title>{} {} {}</title></circle>",
        (
            (
                f"{x(p):.1f}",
                f"{y(float(p['compound'])):.1f}",
                5 if p.get("case_opened") else 3,
                LABEL_COLOURS.get(p.get("label", ""), "#667085"),
                p.get("label", ""),
                p["at"].strftime("%Y-%m-%d %H:%M"),
                f"{float(p['compound']):+.2f}",
                f"opened case {p['case_id']}" if p.get("case_opened") else "",
            )
            for p in mentions
        ),
    )
    replies = format_html_join(
        "",
        '<line x1="{x}" y1="0" x2="{x}" y2="{h}" stroke="#2453d6" '
        'stroke-dasharray="2 2" class="first-response"><title>first response on case {case}'
        "</title></line>",
        (
            {"x": f"{x(p):.1f}", "h": height, "case": p["case_id"]}
            for p in points
            if p.get("kind") == "first_response"
        ),
    )
    return format_html(
        '<svg class="trajectory" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="Compound sentiment over time">'
        '<line x1="0" y1="{zero}" x2="{w}" y2="{zero}" stroke="#98a2b3" '
        'stroke-dasharray="4 3" class="zero"/>{replies}'
        '<polyline points="{line}" fill="none" stroke="#2453d6" stroke-width="1.5"/>{dots}</svg>',
        w=width,
        h=height,
        zero=f"{y(0.0):.1f}",
        replies=replies,
        line=polyline,
        dots=dots,
    )


@login_required
@require_GET
def author_detail(request: HttpRequest, author_id: int) -> HttpResponse:
    """The author as one brand heard them. Read-only for everyone who may open it (marketers
    come from the dashboard's authors page); cases link to their pages only for roles that
    may open those, so a marketer is never sent to a 403."""
    form = BrandRefForm(request.GET)
    brand_id = form.cleaned_data["brand"] if form.is_valid() else None
    profile = selectors.author_profile_get(
        author_id=author_id, brand_id=brand_id, user=request.user
    )
    return render(
        request,
        "engagement/author.html",
        {
            "profile": profile,
            "trajectory_svg": trajectory_svg(profile.trajectory),
            "can_open_cases": can(request.user, profile.brand.pk, Action.VIEW_QUEUE),
        },
    )
