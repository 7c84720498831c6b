"""The queue's rows as HTML, built in Python.

The queue page renders 50 rows on every load and every filter change, all day. Through a
template include per row that cost about 60 ms a page, through format_html about 8 ms; plain
f-strings cost under 1 ms. Every value that can come from outside (subjects, author names and
handles, brand names, tags, usernames) goes through escape(), which is what autoescaping
does; a stranger's text is also bidi-isolated (<bdi>, dir="auto"). One function serves
both the full page and the row htmx swaps in after a claim, so there is still one source of
markup.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache
from html import escape

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from engagement.models import Case
from engagement.selectors.case import sla_overdue_deadline
from engagement.selectors.queue import SIMILAR_COUNT_CAP, QueueRow

# A number no real id will equal, reversed once to turn URL building into string joins.
_PLACEHOLDER = "987654321"
STATUS_LABELS = dict(Case.Status.choices)
SUBJECT_CHARS = 160
OVERDUE_BADGES = {
    "first_response": '<span class="overdue" data-overdue="first_response">'
    "First response overdue</span>",
    "resolution": '<span class="overdue" data-overdue="resolution">Resolution overdue</span>',
}


@cache
def _url_parts(name: str) -> tuple[str, str]:
    prefix, suffix = reverse(name, kwargs={"case_id": int(_PLACEHOLDER)}).split(_PLACEHOLDER)
    return prefix, suffix


def case_url(name: str, case_id: int) -> str:
    prefix, suffix = _url_parts(name)
    return f"{prefix}{case_id}{suffix}"


def duration_label(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def sla_label(row: QueueRow, now: datetime) -> str:
    """The SLA cell: "waited 1 h 5 min of 1 h" (against the target that applies now), or
    how long resolving took; an imported history case never answered says so."""
    if row.is_history and row.first_response_at is None:
        return "no answer, imported"
    if row.status == Case.Status.RESOLVED:
        return f"resolved after {duration_label((row.resolved_at or now) - row.opened_at)}"
    due = row.first_response_due if row.first_response_at is None else row.resolution_due
    waited = duration_label(now - row.opened_at)
    if due is None:
        return f"waited {waited}"
    return f"waited {waited} of {duration_label(due - row.opened_at)}"


def author_html(row: QueueRow) -> str:
    """Name, handle and followers (names and handles are a stranger's text: escaped, and
    bidi-isolated so a right-to-left override in a name cannot reorder what follows)."""
    if row.author_id is None:
        return "Unknown author"
    name = escape(row.author_display_name or row.author_handle)
    html = f'<bdi><span class="name">{name}</span></bdi>'
    if row.author_display_name:
        html += f' <bdi><span class="handle">{escape(row.author_handle)}</span></bdi>'
    if row.author_followers is not None:
        html += f' <span class="followers">{row.author_followers:,} followers</span>'
    return html


def subject_text(subject: str) -> str:
    if not subject:
        return "(no text)"
    return subject if len(subject) <= SUBJECT_CHARS else subject[: SUBJECT_CHARS - 1] + "…"


def _assignee_cell(row: QueueRow, *, csrf_token: str, here: str) -> str:
    if row.assignee_id:
        cell = escape(row.assignee_username)
    elif row.status in Case.OPEN_STATUSES:
        claim_url = case_url("engagement:claim", row.pk)
        cell = (
            f'<form method="post" action="{claim_url}" class="inline" hx-post="{claim_url}"'
            ' hx-target="closest tr" hx-swap="outerHTML">'
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf_token)}">'
            f'<input type="hidden" name="next" value="{escape(here)}">'
            '<button type="submit" data-claim>Claim</button></form>'
        )
    else:
        cell = '<span class="muted">Nobody</span>'
    if row.error:
        cell += f' <span class="row-error" role="alert">{escape(row.error)}</span>'
    return cell


def queue_row_html(row: QueueRow, *, csrf_token: str, here: str, now: datetime) -> SafeString:
    """One queue row: priority, subject (+ similar, tags), author, brand, status, owner, SLA."""
    url = case_url("engagement:case", row.pk)
    band = escape(row.priority_band)
    similar = ""
    if row.similar:
        capped = "+" if row.similar >= SIMILAR_COUNT_CAP - 1 else ""
        similar = (
            ' <span class="similar" title="Other open cases saying the same">'
            f"+{row.similar}{capped} similar</span>"
        )
    tags = "".join(f' <span class="tag">{escape(name)}</span>' for name in row.tags)
    deadline = sla_overdue_deadline(row, now)
    overdue = bool(deadline)
    # Beside the SLA it refers to: the waited-of label counts against the same deadline.
    overdue_mark = f" {OVERDUE_BADGES[deadline]}" if deadline else ""
    history = ' <span class="chip history">Imported history</span>' if row.is_history else ""
    # Rounded half up, as the floatformat filter shows it on the case page (priority >= 0).
    score = math.floor(row.priority + 0.5)
    return mark_safe(  # noqa: S308 - every interpolated outside value is escaped above or here
        f'<tr class="queue-row{" is-overdue" if overdue else ""}" id="case-{row.pk}" data-row'
        f' data-href="{url}">'
        f'<td><span class="chip band-{band}">{band.capitalize()}</span>'
        f' <span class="score">{score}</span></td>'
        f'<td class="subject"><a href="{url}" data-open dir="auto">'
        f"{escape(subject_text(row.subject))}</a>{history}{similar}{tags}</td>"
        f'<td class="author">{author_html(row)}</td><td>{escape(row.brand_name)}</td>'
        f"<td>{STATUS_LABELS.get(row.status, escape(row.status))}</td>"
        f'<td class="assignee">{_assignee_cell(row, csrf_token=csrf_token, here=here)}</td>'
        f'<td class="sla">{sla_label(row, now)}{overdue_mark}</td></tr>\n'
    )


def queue_rows_html(
    rows: Iterable[QueueRow], *, csrf_token: str, here: str, now: datetime
) -> SafeString:
    return mark_safe(  # noqa: S308 - queue_row_html escapes what it interpolates
        "".join(queue_row_html(r, csrf_token=csrf_token, here=here, now=now) for r in rows)
    )
