"""Full-text search over mentions (PostgreSQL): kept behind ingest, complete at once.

Why not an expression GIN index on listening_mention, as before: every insert had to run
PostgreSQL's text-search parser over the text inside ingest's transaction, about 10% of
ingest (the bench's 12,136 mentions: 400-450 ms of a 3.9 s round, measured by COPYing them
with and without the index). Zulip keeps its message search the same way (a trigger queues
ids, a worker writes the tsvectors).

- A statement-level trigger (listening's 0016 migration) queues the id of every new mention
  in MentionSearchPending, whoever inserts it (ingest's COPY, the admin, a test): 20-30 ms
  per 12,000 mentions, in the inserting statement.
- ``search_index_catch_up`` (the beat task ``listening.tasks.search_index_task``, every
  EARSHOT_SEARCH_INDEX_INTERVAL seconds) turns queued ids into MentionSearch rows, a batch
  per transaction, in its own worker and its own database backend.
- ``text_search_sql`` is the one search condition: the mention's document matches, or the
  mention is still queued and its text, parsed on the fly, matches. A search therefore finds
  a mention the moment it is committed; the queue is what the indexer has not reached (a few
  seconds of ingest), so parsing it costs little. Should the worker stop, the queue grows and
  searches slow down with it, never miss.

The text search configuration is 'simple' (lower-cased words, no stemming, no stop words):
mentions come in every language.
"""

from __future__ import annotations

from django.db import connection, transaction

from listening.models import Mention, MentionSearch, MentionSearchPending

TEXT_SEARCH_CONFIG = "simple"
# Mentions indexed per transaction: about 0.2 s of work, so a batch never holds its rows long.
SEARCH_INDEX_BATCH = 5000

_SEARCH = MentionSearch._meta.db_table
_PENDING = MentionSearchPending._meta.db_table
_MENTION = Mention._meta.db_table
_CONFIG = f"'{TEXT_SEARCH_CONFIG}'::regconfig"

# One batch: take the oldest queued ids (skipping those another indexer holds), write their
# documents (a rewritten text replaces the old one), and say how many ids were taken.
_CATCH_UP = f"""
WITH picked AS (
    DELETE FROM {_PENDING}
    WHERE mention_id IN (
        SELECT mention_id FROM {_PENDING} ORDER BY mention_id LIMIT %s FOR UPDATE SKIP LOCKED
    )
    RETURNING mention_id
), written AS (
    INSERT INTO {_SEARCH} (mention_id, document)
    SELECT m.id, to_tsvector({_CONFIG}, m.text)
    FROM {_MENTION} m JOIN picked ON picked.mention_id = m.id
    ON CONFLICT (mention_id) DO UPDATE SET document = EXCLUDED.document
    RETURNING 1
)
SELECT (SELECT count(*) FROM picked), (SELECT count(*) FROM written)
"""  # noqa: S608 (fixed names)


def search_index_catch_up(*, batch_size: int = SEARCH_INDEX_BATCH) -> int:
    """Write the search documents of every queued mention; return how many were written.

    Each batch is its own transaction, so a killed worker loses at most one batch's work
    (its ids go back to the queue with the rollback) and two indexers never take the same
    ids. Queued ids whose mention was deleted meanwhile are dropped. Nothing on SQLite."""
    if connection.vendor != "postgresql":
        return 0
    written = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_CATCH_UP, [batch_size])
            taken, done = cursor.fetchone()
        written += done
        if taken < batch_size:
            return written


def search_queue_length() -> int:
    """How many mentions wait for their search document (0 on SQLite)."""
    if connection.vendor != "postgresql":
        return 0
    return MentionSearchPending.objects.count()


def text_search_sql(mention_id_sql: str, text_sql: str, query_sql: str) -> str:
    """The search condition for one mention, given the SQL of its id, of its text and of the
    user's query (websearch syntax): its stored document matches, or it has none yet, is
    queued, and its text matches. Parameters, in order: query, id, id, text, query.

    A scalar subquery, not EXISTS: PostgreSQL may turn an EXISTS into a hash of every
    matching document, which for a common word read 164,000 rows at a million mentions
    (explorer p95 169 ms) where the explorer's walk over a brand's newest mentions needs a
    few hundred primary-key probes. The GIN index serves search_ids_sql."""
    query = f"websearch_to_tsquery({_CONFIG}, {query_sql})"
    return (
        f"COALESCE((SELECT s.document @@ {query} FROM {_SEARCH} s"  # noqa: S608
        f" WHERE s.mention_id = {mention_id_sql}),"
        f" EXISTS (SELECT 1 FROM {_PENDING} p WHERE p.mention_id = {mention_id_sql})"
        f" AND to_tsvector({_CONFIG}, {text_sql}) @@ {query})"
    )


def search_ids_sql(limit: int) -> str:
    """SQL (two parameters: the query twice) of up to ``limit`` ids of mentions whose text
    matches: from the GIN index, then from the queue. UNION ALL, so that a LIMIT stops the
    scan early; an id cannot be in both (a document is written as its id leaves the queue,
    in one transaction), and callers may still de-duplicate."""
    query = f"websearch_to_tsquery({_CONFIG}, %s)"
    return (
        f"SELECT mention_id FROM {_SEARCH} WHERE document @@ {query}"  # noqa: S608
        f" UNION ALL SELECT m.id FROM {_PENDING} p JOIN {_MENTION} m ON m.id = p.mention_id"
        f" WHERE to_tsvector({_CONFIG}, m.text) @@ {query}"
        f" LIMIT {int(limit)}"
    )
