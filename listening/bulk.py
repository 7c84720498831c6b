"""Batch inserts of mentions and their brand matches.

On PostgreSQL rows go in with COPY into a per-connection temporary table and one
INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING, which measured about 2.4x faster than
Django's bulk_create here (40k vs 17k rows/s) and tells us exactly which rows were new even when
two workers store the same feed at once. Other databases (SQLite in embedded mode) use
bulk_create inside the caller's transaction, which SQLite serialises (IMMEDIATE mode).

Callers must be inside transaction.atomic().
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from listening.models import Mention, MentionMatch

_MENTION_COLUMNS = (
    "source_id",
    "external_id",
    "url",
    "author_id",
    "platform",
    "in_reply_to",
    "thread_id",
    "author_followers",
    "like_count",
    "reply_count",
    "repost_count",
    "title",
    "text",
    "is_text_truncated",
    "language",
    "published_at",
    "fetched_at",
    "neg",
    "neu",
    "pos",
    "compound",
    "label",
    "scorer_name",
    "scorer_version",
)
_MATCH_COLUMNS = (
    "mention_id",
    "brand_id",
    "matched_terms",
    "published_at",
    "label",
    "is_history",
)


@dataclass(slots=True)
class MentionRow:
    source_id: int
    external_id: str
    url: str
    author_id: int | None
    platform: str
    in_reply_to: str
    thread_id: str
    author_followers: int | None
    like_count: int | None
    reply_count: int | None
    repost_count: int | None
    title: str
    text: str
    is_text_truncated: bool
    language: str
    published_at: datetime
    fetched_at: datetime
    neg: float
    neu: float
    pos: float
    compound: float
    label: str
    scorer_name: str
    scorer_version: str
    # (brand_id, matched terms) for every brand whose query matched.
    matches: list[tuple[int, list[str]]]
    # Stored by ``import_mentions --history``: its brand matches are routed into history
    # cases (MentionMatch.is_history).
    is_history: bool = False


def _esc(text: str) -> str:
    """A field in COPY's text format: backslash, tab, newline and CR escaped, NUL dropped
    (PostgreSQL text cannot hold it). Clean text rarely has any, so check before copying."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text or "\x00" in text:
        return (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\x00", "")
        )
    return text


def _null(number: int | None) -> str:
    return "\\N" if number is None else str(int(number))


def _mention_copy_line(r: MentionRow) -> str:
    # One f-string per row instead of a call per field: this runs for every stored mention.
    return (
        f"{r.source_id}\t{_esc(r.external_id)}\t{_esc(r.url)}\t{_null(r.author_id)}"
        f"\t{_esc(r.platform)}\t{_esc(r.in_reply_to)}\t{_esc(r.thread_id)}"
        f"\t{_null(r.author_followers)}\t{_null(r.like_count)}\t{_null(r.reply_count)}"
        f"\t{_null(r.repost_count)}\t{_esc(r.title)}"
        f"\t{_esc(r.text)}\t{'t' if r.is_text_truncated else 'f'}\t{_esc(r.language)}"
        f"\t{r.published_at.isoformat()}"
        f"\t{r.fetched_at.isoformat()}\t{r.neg!r}\t{r.neu!r}\t{r.pos!r}\t{r.compound!r}"
        f"\t{r.label}\t{_esc(r.scorer_name)}\t{_esc(r.scorer_version)}\n"
    )


def mentions_insert(rows: list[MentionRow]) -> dict[str, int]:
    """Insert mentions and their matches; return {external_id: id} of the rows inserted now.

    Rows whose (source, external_id) already exists are skipped (a concurrent worker stored
    them first); they are absent from the result and get no matches from this call.
    """
    if not rows:
        return {}
    if connection.vendor == "postgresql":
        inserted = _mentions_copy(rows)
    else:
        inserted = _mentions_bulk_create(rows)
    _matches_insert(rows, inserted)
    return inserted


def _mentions_copy(rows: list[MentionRow]) -> dict[str, int]:
    columns = ", ".join(_MENTION_COLUMNS)
    with connection.cursor() as cursor:
        # ON COMMIT DELETE ROWS: the staging table lives as long as the connection, and its
        # rows vanish with the transaction, so a crash mid-batch leaves nothing behind.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS earshot_mention_load ("
            "source_id bigint, external_id text, url text, author_id bigint, platform text,"
            " in_reply_to text, thread_id text, author_followers bigint, like_count bigint,"
            " reply_count bigint, repost_count bigint, title text,"
            " text text, is_text_truncated boolean, language text,"
            " published_at timestamptz, fetched_at timestamptz,"
            " neg float8, neu float8, pos float8, compound float8, label text,"
            " scorer_name text, scorer_version text"
            ") ON COMMIT DELETE ROWS"
        )
        buffer = io.StringIO("".join(map(_mention_copy_line, rows)))
        cursor.cursor.copy_expert(f"COPY earshot_mention_load ({columns}) FROM STDIN", buffer)
        cursor.execute(
            f"INSERT INTO {Mention._meta.db_table} ({columns})"  # noqa: S608 (fixed names)
            f" SELECT {columns} FROM earshot_mention_load"
            " ON CONFLICT (source_id, external_id) DO NOTHING"
            " RETURNING external_id, id"
        )
        inserted = dict(cursor.fetchall())
        # DELETE, not TRUNCATE: a TRUNCATE gives the table a new file, and the commit then
        # waited 2-3 ms instead of 0.8 ms for every batch (measured with PostgreSQL 15).
        cursor.execute("DELETE FROM earshot_mention_load")
    return inserted


def _mentions_bulk_create(rows: list[MentionRow]) -> dict[str, int]:
    # The caller's IMMEDIATE transaction holds SQLite's write lock, so nothing can insert
    # between this check and the insert.
    source_id = rows[0].source_id
    existing = set(
        Mention.objects.filter(
            source_id=source_id, external_id__in=[r.external_id for r in rows]
        ).values_list("external_id", flat=True)
    )
    objs = [
        Mention(**{c: getattr(r, c) for c in _MENTION_COLUMNS})
        for r in rows
        if r.external_id not in existing
    ]
    Mention.objects.bulk_create(objs, batch_size=500)
    return {m.external_id: m.pk for m in objs}


def _matches_insert(rows: list[MentionRow], inserted: dict[str, int]) -> None:
    match_rows = [
        (inserted[r.external_id], brand_id, terms, r.published_at, r.label, r.is_history)
        for r in rows
        if r.external_id in inserted
        for brand_id, terms in r.matches
    ]
    if not match_rows:
        return
    if connection.vendor == "postgresql":
        buffer = io.StringIO(
            "".join(
                f"{m}\t{b}\t{_esc(json.dumps(t, ensure_ascii=False))}\t{p.isoformat()}"
                f"\t{label}\t{'t' if history else 'f'}\n"
                for m, b, t, p, label, history in match_rows
            )
        )
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f"COPY {MentionMatch._meta.db_table} ({', '.join(_MATCH_COLUMNS)}) FROM STDIN",
                buffer,
            )
    else:
        MentionMatch.objects.bulk_create(
            [
                MentionMatch(
                    mention_id=m,
                    brand_id=b,
                    matched_terms=t,
                    published_at=p,
                    label=label,
                    is_history=history,
                )
                for m, b, t, p, label, history in match_rows
            ],
            batch_size=500,
        )
