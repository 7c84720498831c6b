"""The queue's rows as HTML, built in Python.

The queue page renders 50 rows on every load and every filter change; through a template
include per row that cost about 60 ms a page (most of the page's time with 100k open cases).
format_html escapes every value from strangers (subjects, author names) exactly as
autoescaping would, and one function serves both the full page and the row htmx swaps in
after a claim, so there is still one source of markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from engagement.models import Case

# A number no real id will equal, reversed once to turn URL building into string joins.
_PLACEHOLDER = "987654321"


@cache
def _url_parts(name: str) -> tuple[str, str]:
    prefix, suffix = reverse(name, kwargs={"case_id": int(_PLACEHOLDER)}).split(_PLACEHOLDER)
    return prefix, suffix


def case_url(name: str, case_id: int) -> str:
    prefix, suffix = _url_parts(name)
    return f"{prefix}{case_id}{suffix}"


def _assignee_cell(case: Case, *, csrf_token: str, here: str, error: str) -> SafeString:
    if case.assignee_id:
        cell = format_html("{}", case.assignee.get_username())
    elif case.status != Case.Status.RESOLVED:
        claim_url = case_url("engagement:claim", case.pk)
        cell = format_html(
            '<form method="post" action="{}" class="inline" hx-post="{}" hx-target="closest tr"'
            ' hx-swap="outerHTML"><input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<input type="hidden" name="next" value="{}">'
            '<button type="submit" data-claim>Claim</button></form>',
            claim_url,
            claim_url,
            csrf_token,
            here,
        )
    else:
        cell = format_html('<span class="muted">{}</span>', "Nobody")
    if error:
        cell = format_html('{} <span class="row-error" role="alert">{}</span>', cell, error)
    return cell


def queue_row_html(row: dict, *, csrf_token: str, here: str = "") -> SafeString:
    """One queue row: priority, subject (+ similar, tags), author, brand, status, owner, SLA."""
    case: Case = row["case"]
    url = case_url("engagement:case", case.pk)
    band = case.priority_band
    similar = ""
    if row["similar"]:
        similar = format_html(
            ' <span class="similar" title="Other open cases saying the same">+{}{} similar</span>',
            row["similar"],
            "+" if row.get("similar_capped") else "",
        )
    tags = format_html_join(
        "", ' <span class="tag">{}</span>', ((t.name,) for t in case.tags.all())
    )
    overdue = (
        format_html(' <span class="overdue">{}</span>', "Overdue") if row["is_overdue"] else ""
    )
    return format_html(
        '<tr class="queue-row{}" id="case-{}" data-row data-href="{}">'
        '<td><span class="chip band-{}">{}</span> <span class="score">{}</span></td>'
        '<td class="subject"><a href="{}" data-open>{}</a>{}{}</td>'
        '<td class="author">{}</td><td>{}</td><td>{}</td>'
        '<td class="assignee">{}</td><td class="sla">{}{}</td></tr>\n',
        " is-overdue" if row["is_overdue"] else "",
        case.pk,
        url,
        band,
        band[:1].upper() + band[1:],
        floatformat(case.priority, 0),
        url,
        Truncator(case.subject or "(no text)").chars(160),
        similar,
        tags,
        row["author"],
        case.brand.name,
        case.get_status_display(),
        _assignee_cell(case, csrf_token=csrf_token, here=here, error=row.get("error", "")),
        row["sla"],
        overdue,
    )


def queue_rows_html(rows: Iterable[dict], *, csrf_token: str, here: str) -> SafeString:
    return format_html_join(
        "", "{}", ((queue_row_html(r, csrf_token=csrf_token, here=here),) for r in rows)
    )
