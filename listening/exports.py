"""Cells for CSV files that people open in spreadsheets (issue 9: CSV formula injection).

Mention text, titles, author names, external ids and correction reasons come from strangers.
Excel, LibreOffice Calc and Google Sheets read a cell that starts with "=", "+", "-" or "@" as
a formula (``=HYPERLINK("http://evil", "click")``, ``@SUM(...)``, DDE payloads), and a leading
tab or carriage return is the usual way to slip one past a naive check. OWASP's rule for CSV
injection is to prefix such a cell with a single quote, which spreadsheets take as "this is
text" and do not display.

The web CSV downloads always use ``spreadsheet_safe_row``; ``manage.py export_mentions``
keeps exact text by default (re-import and sentiment evaluation read it back) and applies the
same rule with ``--spreadsheet-safe``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["FORMULA_TRIGGERS", "spreadsheet_safe", "spreadsheet_safe_row"]

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
