"""Rollups at three spans (quarter-hour, hour, day) with a language column, and the funnel's
columns on AuthorRollup (issue 12).

The rollups are derived data, so the three tables are dropped and made anew rather than
altered (their primary keys change). They are filled again after ``migrate`` by
listening.apps's post_migrate handler, which rebuilds every brand that has mentions but no
rollups (``rebuild_rollups`` does the same by hand).
"""

import django.db.models.deletion
from django.db import migrations, models

_FK = {
    "db_constraint": False,
    "db_index": False,
    "on_delete": django.db.models.deletion.CASCADE,
    "related_name": "+",
}
_SPANS = [(15, "quarter-hour"), (60, "hour"), (1440, "day")]


def _key(*names):
    return models.CompositePrimaryKey(
        *names, blank=True, editable=False, primary_key=True, serialize=False
    )


class Migration(migrations.Migration):
    dependencies = [
        ("brands", "0001_initial"),
        ("listening", "0010_rollups"),
    ]

    operations = [
        migrations.DeleteModel(name="MentionRollup"),
        migrations.DeleteModel(name="AuthorRollup"),
        migrations.DeleteModel(name="TermRollup"),
        migrations.CreateModel(
            name="MentionRollup",
            fields=[
                (
                    "pk",
                    _key(
                        "brand", "span", "bucket_start", "source", "platform", "label", "language"
                    ),
                ),
                ("brand", models.ForeignKey(to="brands.brand", **_FK)),
                ("span", models.PositiveSmallIntegerField(choices=_SPANS)),
                ("bucket_start", models.DateTimeField()),
                ("source", models.ForeignKey(to="listening.source", **_FK)),
                ("platform", models.CharField(max_length=32)),
                (
                    "label",
                    models.CharField(
                        choices=[
                            ("positive", "Positive"),
                            ("neutral", "Neutral"),
                            ("negative", "Negative"),
                        ],
                        max_length=8,
                    ),
                ),
                ("language", models.CharField(max_length=20)),
                ("mentions", models.BigIntegerField(default=0)),
                ("reach", models.BigIntegerField(default=0)),
                ("engagement", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="AuthorRollup",
            fields=[
                ("pk", _key("brand", "span", "bucket_start", "source", "author")),
                ("brand", models.ForeignKey(to="brands.brand", **_FK)),
                ("span", models.PositiveSmallIntegerField(choices=_SPANS)),
                ("bucket_start", models.DateTimeField()),
                ("source", models.ForeignKey(to="listening.source", **_FK)),
                ("author", models.ForeignKey(to="listening.author", **_FK)),
                ("mentions", models.BigIntegerField(default=0)),
                ("positive", models.BigIntegerField(default=0)),
                ("negative", models.BigIntegerField(default=0)),
                ("buying", models.BigIntegerField(default=0)),
                ("reach_max", models.BigIntegerField(default=0)),
                ("latest_key", models.BigIntegerField(default=-(2**63))),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["brand", "author", "span", "bucket_start"],
                        name="authorrollup_author_idx",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="TermRollup",
            fields=[
                ("pk", _key("brand", "span", "bucket_start", "source", "term")),
                ("brand", models.ForeignKey(to="brands.brand", **_FK)),
                ("span", models.PositiveSmallIntegerField(choices=_SPANS)),
                ("bucket_start", models.DateTimeField()),
                ("source", models.ForeignKey(to="listening.source", **_FK)),
                ("term", models.CharField(max_length=100)),
                ("mentions", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="RollupGeneration",
            fields=[
                (
                    "brand",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="brands.brand",
                    ),
                ),
                ("generation", models.BigIntegerField(default=0)),
            ],
        ),
    ]
