# Issue 13: an author's standing leaves the mentions Earshot did not score (their language)
# out of its shares (unscored_count, 0 for every row so far: nothing was unscored before), and
# a correction of an unscored mention records no original compound. Small tables; no rewrite.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('engagement', '0012_conversations_backfill'),
    ]

    operations = [
        migrations.AddField(
            model_name='authorstanding',
            name='unscored_count',
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AlterField(
            model_name='sentimentcorrection',
            name='original_compound',
            field=models.FloatField(blank=True, null=True),
        ),
    ]
