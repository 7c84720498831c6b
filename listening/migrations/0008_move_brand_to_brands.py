"""Brand now lives in brands (brands 0001); Source and MentionMatch point at brands.Brand.
State only: listening_brand and listening_brand_competitors keep their names and rows
(issue 10 point 1). After engagement 0009, so no foreign key in the state still points at
listening.Brand when it goes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("brands", "0001_initial"),
        ("engagement", "0009_move_access_to_brands"),
        ("listening", "0007_mention_scorer"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="source",
                    name="brand",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sources",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="mentionmatch",
                    name="brand",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="matches",
                        to="brands.brand",
                    ),
                ),
                migrations.DeleteModel(
                    name="Brand",
                ),
            ],
            database_operations=[],
        ),
    ]
