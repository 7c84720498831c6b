"""Author standing: whether an author is, to one brand, an advocate, a detractor or neither.

``AuthorStanding``, per author and brand, is recounted as mentions are routed
(``standings_recount``). It counts every routed mention of the brand by the author (brand
replies excluded), with the brand's effective label:
* advocate: at least 3 positive mentions, and positive ones are at least 2/3 of all;
* detractor: at least 2 negative mentions, and negative ones are at least 1/2 of all;
* neutral otherwise.
"All" is the scored mentions: one Earshot left unscored (its language, issue 13) counts in
mention_count and unscored_count, never in a share.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db.models import Count, Max, Q, Sum

from engagement.models import AuthorStanding
from listening.models import UNSCORED, Mention, MentionMatch, our_compound_sql

ADVOCATE_MIN_POSITIVE = 3
ADVOCATE_MIN_SHARE = 2 / 3
DETRACTOR_MIN_NEGATIVE = 2
DETRACTOR_MIN_SHARE = 1 / 2


def standing_for(row: AuthorStanding) -> str:
    """The standing an AuthorStanding row's counts give (see the module docstring)."""
    # getattr: migration 0008 calls this with a historical row, from before unscored_count.
    total = (row.mention_count - getattr(row, "unscored_count", 0)) or 1
    if (
        row.positive_count >= ADVOCATE_MIN_POSITIVE
        and row.positive_count / total >= ADVOCATE_MIN_SHARE
    ):
        return AuthorStanding.Standing.ADVOCATE
    if (
        row.negative_count >= DETRACTOR_MIN_NEGATIVE
        and row.negative_count / total >= DETRACTOR_MIN_SHARE
    ):
        return AuthorStanding.Standing.DETRACTOR
    return AuthorStanding.Standing.NEUTRAL


def standings_recount(
    pairs: Collection[tuple[int, int]], *, routing_match_ids: Collection[int] = ()
) -> None:
    """Count again, from the MentionMatch rows, the standing of each (brand_id, author_id):
    its routed rows (route_error empty) and the rows being routed now (``routing_match_ids``,
    not marked yet), each with the brand's effective label.

    Idempotent: a row routed again (its routed_at cleared) is counted once. Routing calls it
    for the authors of each batch. Touches AuthorStanding only, in at most four queries.
    """
    pairs = set(pairs)
    if not pairs:
        return
    brand_ids, author_ids = {b for b, _ in pairs}, {a for _, a in pairs}
    counted = Q(routed_at__isnull=False, route_error="")
    if routing_match_ids:
        counted |= Q(pk__in=list(routing_match_ids))
    rows = (
        MentionMatch.objects.filter(
            counted, brand_id__in=brand_ids, mention__author_id__in=author_ids
        )
        .values("brand_id", "mention__author_id")
        .annotate(
            total=Count("pk"),
            positive=Count("pk", filter=Q(label=Mention.Label.POSITIVE)),
            negative=Count("pk", filter=Q(label=Mention.Label.NEGATIVE)),
            unscored=Count("pk", filter=Q(label=UNSCORED)),
            # Earshot's compound (NULL, so left out, for an unscored mention).
            compound=Sum(our_compound_sql("mention__")),
            last=Max("mention__published_at"),
        )
    )
    totals = {(r["brand_id"], r["mention__author_id"]): r for r in rows}
    existing = {
        (s.brand_id, s.author_id): s
        for s in AuthorStanding.objects.filter(brand_id__in=brand_ids, author_id__in=author_ids)
    }
    touched, new = [], []
    for key in sorted(pairs & set(totals)):
        found = totals[key]
        row = existing.get(key)
        if row is None:
            row = AuthorStanding(brand_id=key[0], author_id=key[1])
            new.append(row)
        else:
            touched.append(row)
        row.mention_count = found["total"]
        row.positive_count = found["positive"]
        row.negative_count = found["negative"]
        row.unscored_count = found["unscored"]
        row.compound_sum = found["compound"] or 0.0
        row.last_mention_at = found["last"]
        row.standing = standing_for(row)
    if touched:
        AuthorStanding.objects.bulk_update(
            touched,
            [
                "standing",
                "positive_count",
                "negative_count",
                "unscored_count",
                "mention_count",
                "compound_sum",
                "last_mention_at",
            ],
        )
    if new:
        AuthorStanding.objects.bulk_create(new)


def standing_label_change(*, brand_id: int, author_id: int, before: str, after: str) -> None:
    """Move one counted mention of author from label before to label after (an agent's
    correction) and recompute the standing. Not idempotent: call once per change. Touches the
    (brand, author) AuthorStanding row if there is one (no row: the mention was never counted,
    and routing will count its corrected label)."""
    row = AuthorStanding.objects.select_for_update().filter(brand_id=brand_id, author_id=author_id)
    row = row.first()
    if row is None:
        return
    for label, step in ((before, -1), (after, 1)):
        if label == Mention.Label.POSITIVE:
            row.positive_count = max(0, row.positive_count + step)
        elif label == Mention.Label.NEGATIVE:
            row.negative_count = max(0, row.negative_count + step)
        elif label == UNSCORED:
            row.unscored_count = max(0, row.unscored_count + step)
    row.standing = standing_for(row)
    row.save(update_fields=["positive_count", "negative_count", "unscored_count", "standing"])
