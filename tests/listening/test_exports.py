"""The export records' shared pieces, and spreadsheet_safe(): the one rule every CSV meant
for spreadsheets uses (issue 9)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listening.exports import (
    FORMULA_TRIGGERS,
    MENTION_FIELDS,
    csv_row,
    iso_utc,
    spreadsheet_safe,
    spreadsheet_safe_row,
)

DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def is_dangerous(cell: str) -> bool:
    """Independent statement of the rule: OWASP's characters, also behind leading blanks."""
    return cell[:1] in DANGEROUS_FIRST or cell.lstrip()[:1] in FORMULA_TRIGGERS


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://evil.example", "click")',
        "+SUM(1+1)",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "\n=1+1",
        "   =1+1",
        "\u3000=1+1",  # an ideographic space in front
        "=",
        "-",
    ],
)
def test_it_prefixes_a_formula_with_a_single_quote(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell",
    ["", "acme", "1+1=2", "e-mail", "a@b.example", "'=already quoted", " acme", "😀 =", "#acme"],
)
def test_it_leaves_ordinary_text_unchanged(cell: str) -> None:
    assert spreadsheet_safe(cell) is cell


def test_a_row_keeps_numbers_as_numbers() -> None:
    row = spreadsheet_safe_row([7, "=1+1", -0.5, None, "acme", -3])
    assert row == [7, "'=1+1", -0.5, None, "acme", -3]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    assert out.getvalue() == "7,'=1+1,-0.5,,acme,-3\n"


# Hostile strings: anything, and anything that starts like a formula.
cells = st.one_of(
    st.text(),
    st.builds(
        lambda blank, start, rest: blank + start + rest,
        st.text(alphabet=" \t\u00a0\u3000\u2028", max_size=3),
        st.sampled_from(DANGEROUS_FIRST),
        st.text(),
    ),
)


@settings(max_examples=500)
@given(cells)
def test_a_neutralised_cell_never_starts_a_formula_and_loses_nothing(cell: str) -> None:
    safe = spreadsheet_safe(cell)
    assert not is_dangerous(safe)
    if is_dangerous(cell):
        assert safe == "'" + cell
    else:
        assert safe == cell
    assert spreadsheet_safe(safe) == safe


@settings(max_examples=200)
@given(st.lists(cells, max_size=6))
def test_a_row_round_trips_through_the_csv_module(row: list[str]) -> None:
    out = io.StringIO()
    csv.writer(out).writerow(spreadsheet_safe_row(row))
    (back,) = csv.reader(io.StringIO(out.getvalue(), newline=""))
    if not row:
        return
    assert back == [spreadsheet_safe(cell) for cell in row]
    assert not any(is_dangerous(cell) for cell in back)


def test_a_megabyte_cell_and_lone_surrogates_are_handled() -> None:
    big = "=" + "A" * 1_000_000
    assert spreadsheet_safe(big) == "'" + big
    assert spreadsheet_safe("\ud800=") == "\ud800="
    assert spreadsheet_safe("-\ud800") == "'-\ud800"


def test_times_are_written_in_utc_with_a_z() -> None:
    paris = timezone(timedelta(hours=2))
    assert iso_utc(datetime(2026, 5, 1, 10, 0, 0, 120, tzinfo=paris)) == (
        "2026-05-01T08:00:00.000120Z"
    )
    assert iso_utc(datetime(2026, 5, 1, 8, 0, tzinfo=UTC)) == "2026-05-01T08:00:00Z"


def test_a_csv_row_follows_the_field_order_and_joins_lists() -> None:
    record = {name: name for name in MENTION_FIELDS} | {"id": 7, "matched_terms": ["a", "b c"]}
    row = csv_row(record, MENTION_FIELDS)
    assert row[0] == 7 and row[1] == "brand"
    assert row[MENTION_FIELDS.index("matched_terms")] == "a; b c"
    assert row[-2:] == ["earshot_compound", "earshot_label"]


def test_the_mention_record_keeps_its_columns_and_adds_earshots_at_the_end() -> None:
    # The contract's columns, in their order (README, export_mentions), then Earshot's own
    # score (issue 13): compound and label stay plain VADER's.
    assert MENTION_FIELDS == [
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
    assert csv_row({"x": []}, ["x"]) == [""]
