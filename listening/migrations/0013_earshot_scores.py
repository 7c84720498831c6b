# Earshot's own score beside plain VADER's (issue 13). Both columns are added without a
# rewrite of the mention table (a nullable column and a constant default are catalogue-only
# changes in PostgreSQL 11+), and no row is updated: an empty earshot_label means "Earshot's
# score is plain VADER's", which is what every row stored before this migration had
# (Mention.our_label / our_compound read that rule). The label choices gain "unscored"
# (no SQL).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('listening', '0012_drop_covered_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='mention',
            name='earshot_compound',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='mention',
            name='earshot_label',
            field=models.CharField(blank=True, choices=[('positive', 'Positive'), ('neutral', 'Neutral'), ('negative', 'Negative'), ('unscored', 'not scored (language)')], db_default='', default='', max_length=8),
        ),
        migrations.AlterField(
            model_name='mentionmatch',
            name='label',
            field=models.CharField(choices=[('positive', 'Positive'), ('neutral', 'Neutral'), ('negative', 'Negative'), ('unscored', 'not scored (language)')], max_length=8),
        ),
        migrations.AlterField(
            model_name='mentionrollup',
            name='label',
            field=models.CharField(choices=[('positive', 'Positive'), ('neutral', 'Neutral'), ('negative', 'Negative'), ('unscored', 'not scored (language)')], max_length=8),
        ),
    ]
