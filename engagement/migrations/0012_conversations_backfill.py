"""Fill the conversation fields for cases routed before conversations (issue 11), and turn care
off for brands that are only someone's competitor.

* CaseMention.conversation: the mention's thread id, else the case's, else the mention's own id;
  CaseMention.external_id: the mention's id at the platform.
* Case.answer_target / needs_answer_at: the case's first customer post, for care cases.
* CareSettings.care_enabled = false for a brand that is another brand's competitor, watches no
  competitor itself and whose cases were never answered by an agent (today the demo's Globex
  and Initech): their complaints leave the queue; their mentions stay counted.

Batched by primary key so a large table is not read at once.
"""

from django.db import migrations
from django.db.models import Exists, OuterRef

CHUNK = 2000


def forwards(apps, schema_editor):
    Case = apps.get_model("engagement", "Case")
    CaseMention = apps.get_model("engagement", "CaseMention")
    CareSettings = apps.get_model("engagement", "CareSettings")
    Reply = apps.get_model("engagement", "Reply")
    Brand = apps.get_model("brands", "Brand")

    last = 0
    while True:
        links = list(
            CaseMention.objects.filter(pk__gt=last)
            .select_related("mention", "case")
            .order_by("pk")[:CHUNK]
        )
        if not links:
            break
        last = links[-1].pk
        for link in links:
            m = link.mention
            link.conversation = (m.thread_id or link.case.thread_id or m.external_id)[:255]
            link.external_id = m.external_id[:255]
        CaseMention.objects.bulk_update(links, ["conversation", "external_id"])

    last = 0
    while True:
        cases = list(
            Case.objects.filter(pk__gt=last, kind="care", answer_target__isnull=True).order_by(
                "pk"
            )[:CHUNK]
        )
        if not cases:
            break
        last = cases[-1].pk
        firsts = {}
        for case_id, mention_id, published_at in (
            CaseMention.objects.filter(case_id__in=[c.pk for c in cases], is_brand_reply=False)
            .order_by("mention__published_at", "mention_id")
            .values_list("case_id", "mention_id", "mention__published_at")
        ):
            firsts.setdefault(case_id, (mention_id, published_at))
        for case in cases:
            mention_id, _ = firsts.get(case.pk, (None, None))
            case.answer_target_id = mention_id
            case.needs_answer_at = case.opened_at
        Case.objects.bulk_update(cases, ["answer_target", "needs_answer_at"])

    Through = Brand.competitors.through
    answered = Reply.objects.filter(case__brand_id=OuterRef("pk"))
    watched_only = (
        Brand.objects.filter(
            Exists(Through.objects.filter(to_brand_id=OuterRef("pk"))),
        )
        .exclude(Exists(Through.objects.filter(from_brand_id=OuterRef("pk"))))
        .exclude(Exists(answered))
        .values_list("pk", flat=True)
    )
    ids = list(watched_only)
    existing = set(CareSettings.objects.filter(brand_id__in=ids).values_list("brand_id", flat=True))
    CareSettings.objects.bulk_create(
        [CareSettings(brand_id=b, care_enabled=False) for b in ids if b not in existing]
    )
    CareSettings.objects.filter(brand_id__in=ids).update(care_enabled=False)


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0011_conversations"),
        ("brands", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
