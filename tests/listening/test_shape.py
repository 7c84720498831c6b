"""The common mention shape as webhooks and imports parse it."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from listening.connectors.base import RawItem
from listening.shape import (
    SHAPE_FIELD_NAMES,
    SHAPE_FIELDS,
    CsvHeaderError,
    ShapeError,
    item_from_mapping,
    read_csv,
    read_jsonl,
    shape_table_markdown,
)

MINIMAL = {"external_id": "p1", "text": "Acme rocks", "published_at": "2026-11-02T10:00:00Z"}


def test_every_field_lands_where_the_stored_mention_reads_it():
    item = item_from_mapping(
        {
            "external_id": "  post-1 ",
            "text": " Loving my new Acme phone ",
            "title": "Review",
            "published_at": "2026-11-02T10:00:00+01:00",
            "platform": "Reddit",
            "url": "https://forum.example/p/1",
            "author_handle": "jdoe",
            "author_name": "Jane Doe",
            "author_url": "https://forum.example/u/jdoe",
            "author_followers": 1200,
            "lang": "en-GB",
            "in_reply_to": "post-0",
            "thread_id": "post-0",
            "like_count": 5,
            "reply_count": 0,
            "repost_count": "2",
        }
    )

    assert item == RawItem(
        external_id="post-1",
        body="Loving my new Acme phone",
        title="Review",
        published_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        platform="reddit",
        url="https://forum.example/p/1",
        author_handle="jdoe",
        author_name="Jane Doe",
        author_url="https://forum.example/u/jdoe",
        author_followers=1200,
        language="en-GB",
        in_reply_to="post-0",
        thread_id="post-0",
        like_count=5,
        reply_count=0,
        repost_count=2,
    )


def test_optional_fields_missing_null_or_blank_are_empty_and_unknown_keys_are_ignored():
    item = item_from_mapping({**MINIMAL, "url": None, "lang": "  ", "mood": "great", "x": [1]})

    assert item == RawItem(
        external_id="p1",
        body="Acme rocks",
        published_at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
    )


def test_a_title_alone_is_enough_and_numeric_ids_become_strings():
    item = item_from_mapping(
        {"external_id": 42, "title": "Acme news", "published_at": 0, "thread_id": 7}
    )

    assert (item.external_id, item.title, item.body, item.thread_id) == ("42", "Acme news", "", "7")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-02T10:00:00+02:00", datetime(2026, 11, 2, 8, 0, tzinfo=UTC)),
        ("2026-11-02T10:00:00-05:30", datetime(2026, 11, 2, 15, 30, tzinfo=UTC)),
        ("2026-11-02T10:00:00Z", datetime(2026, 11, 2, 10, 0, tzinfo=UTC)),
        ("2026-11-02T10:00:00", datetime(2026, 11, 2, 10, 0, tzinfo=UTC)),
        ("2026-11-02 10:00:00.250", datetime(2026, 11, 2, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2026-11-02", datetime(2026, 11, 2, tzinfo=UTC)),
        (1793613600, datetime(2026, 11, 2, 10, 0, tzinfo=UTC)),
        (1793613600.5, datetime(2026, 11, 2, 10, 0, 0, 500000, tzinfo=UTC)),
        ("1793613600", datetime(2026, 11, 2, 10, 0, tzinfo=UTC)),
    ],
)
def test_published_at_takes_iso_with_offset_z_naive_as_utc_and_unix_seconds(value, expected):
    assert item_from_mapping({**MINIMAL, "published_at": value}).published_at == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"external_id": None}, 'missing required field "external_id"'),
        ({"external_id": "   "}, 'missing required field "external_id"'),
        ({"external_id": "x" * 256}, 'field "external_id" is 256 characters long'),
        ({"external_id": 1.5}, 'field "external_id" must be a string or an integer, got a number'),
        ({"text": "", "title": ""}, 'missing required field "text" (or "title")'),
        ({"text": 12}, 'field "text" must be a string, got a number'),
        ({"url": ["https://x.example"]}, 'field "url" must be a string, got a list'),
        ({"published_at": None}, 'missing required field "published_at"'),
        ({"published_at": "yesterday"}, 'field "published_at" is not an ISO 8601 date-time'),
        ({"published_at": "2026-02-30T10:00:00"}, 'field "published_at" is not an ISO 8601'),
        ({"published_at": True}, 'field "published_at" must be an ISO 8601 date-time'),
        ({"published_at": 1e20}, 'field "published_at" is not a usable Unix timestamp'),
        ({"author_followers": -1}, 'field "author_followers" must be an integer >= 0'),
        ({"like_count": "many"}, 'field "like_count" must be an integer >= 0'),
        ({"reply_count": True}, 'field "reply_count" must be an integer >= 0'),
        ({"repost_count": 2.5}, 'field "repost_count" must be an integer >= 0'),
    ],
)
def test_a_missing_or_mistyped_field_is_an_error_naming_it(change, message):
    with pytest.raises(ShapeError) as excinfo:
        item_from_mapping({**MINIMAL, **change})
    assert message in str(excinfo.value)


def test_errors_start_with_the_line_number_when_one_is_given():
    with pytest.raises(ShapeError) as excinfo:
        item_from_mapping({"text": "acme", "published_at": 0}, line=17)
    assert str(excinfo.value) == 'line 17: missing required field "external_id"'


def test_an_item_that_is_not_an_object_is_an_error():
    with pytest.raises(ShapeError, match="expected an object"):
        item_from_mapping(["p1", "acme"])  # type: ignore[arg-type]


def test_shape_fields_document_every_field_the_parser_reads_in_order():
    assert SHAPE_FIELD_NAMES[:4] == ("external_id", "text", "title", "published_at")
    assert len(set(SHAPE_FIELD_NAMES)) == len(SHAPE_FIELDS) == 16
    table = shape_table_markdown()
    assert table.startswith("| field | required | meaning |")
    assert all(f"| `{name}` |" in table for name in SHAPE_FIELD_NAMES)


def test_jsonl_rows_carry_their_line_numbers_and_blank_lines_are_skipped():
    data = (
        b'{"external_id": "a", "text": "acme", "published_at": 0}\n'
        b"\n"
        b"{not json}\n"
        b'{"text": "acme", "published_at": 0}\n'
        b'{"external_id": "caf\xc3\xa9", "text": "acme", "published_at": 0}\n'
        b'{"external_id": "\xff", "text": "acme", "published_at": 0}\n'
    )
    rows = list(read_jsonl(io.BytesIO(data)))

    assert [r.line for r in rows] == [1, 3, 4, 5, 6]
    assert [r.item.external_id if r.item else None for r in rows] == ["a", None, None, "café", None]
    assert str(rows[1].error).startswith("line 3: not valid JSON")
    assert str(rows[2].error) == 'line 4: missing required field "external_id"'
    assert str(rows[4].error).startswith("line 6: not UTF-8")


def test_csv_reads_a_bom_quoted_newlines_and_reports_bad_rows_by_their_first_line():
    data = (
        b"\xef\xbb\xbfexternal_id,text,published_at,like_count\n"
        b'a,"acme, with a comma",2026-11-02T10:00:00Z,3\n'
        b'b,"two\nlines",2026-11-02T10:00:00Z,\n'
        b"c,acme,later,1\n"
        b"d,caf\xe9,2026-11-02T10:00:00Z,1\n"
        b"e,acme,2026-11-02T10:00:00Z,1,extra\n"
    )
    rows = list(read_csv(io.BytesIO(data)))

    assert [r.line for r in rows] == [2, 3, 5, 6, 7]
    assert rows[0].item.body == "acme, with a comma" and rows[0].item.like_count == 3
    assert rows[1].item.body == "two\nlines" and rows[1].item.like_count is None
    assert str(rows[2].error).startswith('line 5: field "published_at" is not an ISO 8601')
    assert str(rows[3].error) == "line 6: not UTF-8 (invalid bytes in the row)"
    assert str(rows[4].error) == "line 7: 5 values but the header has 4 columns"


def test_csv_without_the_required_columns_is_refused_before_any_row():
    with pytest.raises(CsvHeaderError, match="lacks required column.*external_id"):
        list(read_csv(io.BytesIO(b"id,text,published_at\n1,acme,0\n")))
