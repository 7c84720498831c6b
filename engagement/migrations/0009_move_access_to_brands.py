"""Membership, AuditLog and LoginAttempt now live in brands (brands 0001); every foreign key
to Brand points at brands.Brand. State only: the tables, their rows and their constraints
stay as they are (issue 10 point 1)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("brands", "0001_initial"),
        ("engagement", "0008_effective_labels"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="auditlog",
                    name="actor",
                ),
                migrations.RemoveField(
                    model_name="auditlog",
                    name="brand",
                ),
                migrations.DeleteModel(
                    name="LoginAttempt",
                ),
                migrations.RemoveField(
                    model_name="membership",
                    name="brand",
                ),
                migrations.RemoveField(
                    model_name="membership",
                    name="user",
                ),
                migrations.AlterField(
                    model_name="authorstanding",
                    name="brand",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="standings",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="autotagrule",
                    name="brand",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="auto_tag_rules",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="caresettings",
                    name="brand",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="care",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="brand",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="cases",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="casemention",
                    name="brand",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="savedreply",
                    name="brand",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="saved_replies",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="sentimentcorrection",
                    name="brand",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="corrections",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="tag",
                    name="brand",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tags",
                        to="brands.brand",
                    ),
                ),
                migrations.DeleteModel(
                    name="AuditLog",
                ),
                migrations.DeleteModel(
                    name="Membership",
                ),
            ],
            database_operations=[],
        ),
    ]
