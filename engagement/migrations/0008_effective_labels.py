"""Make agents' earlier sentiment corrections the effective label (issue 10 point 5).

Before this, a correction changed nothing outside the corrections CSV. MentionMatch.label is
now the brand's effective label: the latest correction of each (mention, brand) is copied
there, and the author's standing counts it instead of the scorer's label.
"""

from django.db import migrations


def corrections_apply(apps, schema_editor):
    from engagement.standing import standing_for

    correction_model = apps.get_model("engagement", "SentimentCorrection")
    match_model = apps.get_model("listening", "MentionMatch")
    standing_model = apps.get_model("engagement", "AuthorStanding")
    latest = {}
    for mention_id, brand_id, label in correction_model.objects.order_by(
        "created_at", "pk"
    ).values_list("mention_id", "brand_id", "label"):
        latest[(mention_id, brand_id)] = label  # later ones overwrite earlier ones
    for (mention_id, brand_id), label in latest.items():
        match = (
            match_model.objects.select_related("mention")
            .filter(mention_id=mention_id, brand_id=brand_id)
            .first()
        )
        if match is None or match.label == label:
            continue
        before = match.label
        match_model.objects.filter(pk=match.pk).update(label=label)
        author_id = match.mention.author_id
        if match.routed_at is None or author_id is None:
            continue
        row = standing_model.objects.filter(brand_id=brand_id, author_id=author_id).first()
        if row is None:
            continue
        for value, step in ((before, -1), (label, 1)):
            if value == "positive":
                row.positive_count = max(0, row.positive_count + step)
            elif value == "negative":
                row.negative_count = max(0, row.negative_count + step)
        row.standing = standing_for(row)
        row.save(update_fields=["positive_count", "negative_count", "standing"])


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0007_login_attempt_pair_idx"),
        ("listening", "0007_mention_scorer"),
    ]

    operations = [migrations.RunPython(corrections_apply, migrations.RunPython.noop)]
