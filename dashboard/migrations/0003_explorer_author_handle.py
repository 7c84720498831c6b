"""The explorer's author filter: an author by handle alone (PostgreSQL only; see 0001).

author_unique_handle is (platform, handle): a handle without its platform cannot use it, and
the author table grows with every stranger heard (a sequential scan of it per page).
"""

from django.db import migrations

NAME = "explorer_author_handle_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON listening_author (handle)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("dashboard", "0002_explorer_sort_indexes"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
