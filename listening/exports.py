"""The export records, and cells for CSV files that people open in spreadsheets.

One mention record and one correction record (field order, ISO-8601 UTC times) serve every
export: ``manage.py export_mentions`` (CSV and JSON Lines), the dashboard's CSV downloads and,
later, the API. Builders read only what the caller's queryset already joined (see each
docstring), so a stream of rows costs no query per row. To add a column, add it to the field
tuple and to the record builder here; every export gains it.

Spreadsheet cells (issue 9: CSV formula injection). Mention text, titles, author names,
external ids and correction reasons come from strangers. Excel, LibreOffice Calc and Google
Sheets read a cell that starts with "=", "+", "-" or "@" as a formula
(``=HYPERLINK("http://evil", "click")``, ``@SUM(...)``, DDE payloads), and a leading tab or
carriage return is the usual way to slip one past a naive check. OWASP's rule for CSV
injection is to prefix such a cell with a single quote, which spreadsheets take as "this is
text" and do not display.

The web CSV downloads always use ``spreadsheet_safe_row``; ``manage.py export_mentions``
keeps exact text by default (re-import and sentiment evaluation read it back) and applies the
same rule with ``--spreadsheet-safe``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from listening.models import MentionMatch

__all__ = [
    "CORRECTION_FIELDS",
    "FORMULA_TRIGGERS",
    "MENTION_FIELDS",
    "correction_record",
    "csv_row",
    "iso_utc",
    "mention_record",
    "spreadsheet_safe",
    "spreadsheet_safe_row",
]

MENTION_FIELDS = [
    "id",
    "brand",
    "source",
    "external_id",
    "url",
    "author",
    "published_at",
    "title",
    "text",
    "language",
    "neg",
    "neu",
    "pos",
    "compound",
    "label",
    "effective_label",
    "matched_terms",
    "earshot_compound",
    "earshot_label",
]
CORRECTION_FIELDS = [
    "mention_id",
    "text",
    "vader_label",
    "vader_compound",
    "corrected_label",
    "reason",
    "corrected_by",
    "corrected_at",
    "earshot_label",
    "earshot_compound",
]
# How a list value (matched_terms) is written in one CSV cell; JSON keeps the list.
CSV_LIST_SEPARATOR = "; "


def iso_utc(moment: datetime) -> str:
    """moment as ISO 8601 in UTC with a "Z": 2026-01-02T03:04:05.123456Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def mention_record(match: MentionMatch, *, brand_name: str | None = None) -> dict[str, object]:
    """The exported mention: one MentionMatch as a dict in MENTION_FIELDS order.

    Reads match.mention, its source and its author (select_related them), and match.brand
    unless brand_name is given. matched_terms stays a list. Pure: touches nothing.
    """
    mention = match.mention
    author = mention.author
    return {
        "id": mention.pk,
        "brand": match.brand.name if brand_name is None else brand_name,
        "source": mention.source.name or mention.source.url,
        "external_id": mention.external_id,
        "url": mention.url,
        "author": (author.display_name or author.handle) if author else "",
        "published_at": iso_utc(mention.published_at),
        "title": mention.title,
        "text": mention.text,
        "language": mention.language,
        "neg": mention.neg,
        "neu": mention.neu,
        "pos": mention.pos,
        "compound": mention.compound,
        # Plain VADER's label (stock VADER's, the export's contract) and the brand's effective
        # label: an agent's correction where there is one, else Earshot's label
        # (listening.models.MentionMatch), "unscored" included.
        "label": mention.label,
        "effective_label": match.label,
        "matched_terms": match.matched_terms,
        # Earshot's own score (None and "unscored" for a language its scorer does not handle).
        "earshot_compound": mention.our_compound,
        "earshot_label": mention.our_label,
    }


def correction_record(correction: Any) -> dict[str, object]:
    """The exported sentiment correction (an engagement SentimentCorrection; listening does
    not import engagement), in CORRECTION_FIELDS order: plain VADER's label and compound, the
    agent's label and reason, and Earshot's label and compound that the agent corrected (the
    same as VADER's for corrections made before Earshot had its own score; None and
    "unscored" for a language its scorer does not handle). Reads correction.mention and
    correction.user (select_related them). Pure: touches nothing."""
    mention = correction.mention
    return {
        "mention_id": correction.mention_id,
        "text": mention.text,
        "vader_label": mention.label,
        "vader_compound": mention.compound,
        "corrected_label": correction.label,
        "reason": correction.reason,
        "corrected_by": correction.user.get_username(),
        "corrected_at": iso_utc(correction.created_at),
        "earshot_label": correction.original_label,
        "earshot_compound": correction.original_compound,
    }


def csv_row(record: Mapping[str, object], fields: Sequence[str]) -> list[object]:
    """record's values in fields order for one CSV row, lists joined by CSV_LIST_SEPARATOR."""
    return [
        CSV_LIST_SEPARATOR.join(value) if isinstance(value, list) else value
        for value in (record[name] for name in fields)
    ]


# A cell is a formula when its first character is one of these. Leading whitespace is looked
# through: some spreadsheets (LibreOffice with "trim spaces", Google Sheets' importer) drop it
# first, so " =1+1" and "\t=1+1" are treated like "=1+1".
FORMULA_TRIGGERS = ("=", "+", "-", "@")
# OWASP also lists a leading tab and carriage return on their own (a cell that starts with
# them is split or shifted by some importers); line feed and NUL go with them.
_CONTROL_TRIGGERS = ("\t", "\r", "\n", "\0")


def spreadsheet_safe(value: str) -> str:
    """value, prefixed with "'" when a spreadsheet could read it as a formula.

    Pure and lossless: a neutralised cell is exactly "'" + value, every other cell is
    returned unchanged. Idempotent in effect: the result never starts with a trigger, so a
    second call returns it unchanged.
    """
    if value.startswith(_CONTROL_TRIGGERS) or value.lstrip().startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def spreadsheet_safe_row(row: Iterable[object]) -> list[object]:
    """A CSV row with every text cell passed through spreadsheet_safe().

    Only ``str`` cells are touched. Numeric columns (ids, the neg/neu/pos/compound scores)
    are ints and floats, written by the csv module as plain numbers, so a compound of -0.5
    stays -0.5 and a spreadsheet can still sum it; a number cannot carry a formula.
    """
    return [spreadsheet_safe(cell) if isinstance(cell, str) else cell for cell in row]
