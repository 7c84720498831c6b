"""The explorer's full-text search moves out of ingest's transaction (listening/search.py).

Creates MentionSearch and its queue, and on PostgreSQL the triggers that queue every new
mention (and any whose text changes), then writes the search document of every mention
already stored and builds the GIN index over them. All in this migration's transaction: the
trigger's lock on listening_mention holds concurrent inserts back until it commits, so no
mention is stored between the copy and the trigger. Writing the documents takes about a
minute per million mentions. dashboard's 0006 then drops the expression index it replaces.
"""

import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

# The configuration must equal listening.search.TEXT_SEARCH_CONFIG (a migration keeps its own
# copy: it must not change when the code does).
CREATE = """
CREATE FUNCTION listening_mention_search_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO listening_mentionsearchpending (mention_id)
    SELECT id FROM new_mentions ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION listening_mention_search_requeue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM listening_mentionsearch WHERE mention_id = NEW.id;
    INSERT INTO listening_mentionsearchpending (mention_id) VALUES (NEW.id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER listening_mention_search_queue
    AFTER INSERT ON listening_mention REFERENCING NEW TABLE AS new_mentions
    FOR EACH STATEMENT EXECUTE FUNCTION listening_mention_search_queue();

CREATE TRIGGER listening_mention_search_requeue
    AFTER UPDATE OF text ON listening_mention
    FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text)
    EXECUTE FUNCTION listening_mention_search_requeue();

INSERT INTO listening_mentionsearch (mention_id, document)
SELECT id, to_tsvector('simple'::regconfig, text) FROM listening_mention;

CREATE INDEX mentionsearch_document_gin ON listening_mentionsearch USING GIN (document);
"""

DROP = """
DROP TRIGGER IF EXISTS listening_mention_search_requeue ON listening_mention;
DROP TRIGGER IF EXISTS listening_mention_search_queue ON listening_mention;
DROP FUNCTION IF EXISTS listening_mention_search_requeue();
DROP FUNCTION IF EXISTS listening_mention_search_queue();
"""


def search_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def search_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):

    dependencies = [
        ('listening', '0015_drop_plain_label_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='MentionSearch',
            fields=[
                ('mention', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='listening.mention')),
                ('document', django.contrib.postgres.search.SearchVectorField()),
            ],
        ),
        migrations.CreateModel(
            name='MentionSearchPending',
            fields=[
                ('mention_id', models.BigIntegerField(primary_key=True, serialize=False)),
            ],
        ),
        migrations.RunPython(search_create, search_drop, elidable=False),
    ]
