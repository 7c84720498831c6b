"""Indexes for the mention explorer's filters and full-text search (PostgreSQL only).

The tables are listening's; these indexes are not in its models' state because Django cannot
describe an expression GIN index with a text search configuration portably, and SQLite (a
newcomer's first run) has neither GIN nor tsvector: there the explorer falls back to
substring matches and this migration does nothing.

CONCURRENTLY, so that adding them to a live million-row table does not block ingest (hence a
non-atomic migration); IF NOT EXISTS makes a rerun after an interrupted build harmless (an
interrupted CONCURRENTLY build leaves an INVALID index: drop it and migrate again).

Which query needs each index: dashboard/explorer/selectors.py (module docstring).
"""

from django.db import migrations

INDEXES = [
    # q: full-text search. The expression must equal the query's exactly (selectors.TextSearch):
    # 'simple' = lower-cased words, no stemming, no stop words (mentions are in every language).
    (
        "explorer_mention_text_fts",
        "listening_mention USING GIN (to_tsvector('simple'::regconfig, text))",
    ),
    # term: matched_terms @> '["term"]'.
    (
        "explorer_match_terms_gin",
        "listening_mentionmatch USING GIN (matched_terms jsonb_path_ops)",
    ),
    # platform and lang, newest first.
    ("explorer_mention_platform_idx", "listening_mention (platform, published_at DESC)"),
    ("explorer_mention_lang_idx", "listening_mention (language, published_at DESC)"),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, target in INDEXES:
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {target}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("listening", "0009_match_is_history"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
