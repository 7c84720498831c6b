"""The explorer searches listening_mentionsearch now (listening/search.py, listening's 0016):
the expression index over to_tsvector('simple', text), which every insert had to parse the
text for, goes. CONCURRENTLY, so that a live table is not blocked (hence non-atomic)."""

from django.db import migrations

CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS explorer_mention_text_fts"
    " ON listening_mention USING GIN (to_tsvector('simple'::regconfig, text))"
)


def index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS explorer_mention_text_fts")


def index_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("dashboard", "0005_roi_settings"),
        ("listening", "0016_mention_search"),
    ]

    operations = [
        migrations.RunPython(index_drop, index_create, elidable=False),
    ]
