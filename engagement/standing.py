"""Author standing: whether an author is, to one brand, an advocate, a detractor or neither.

``AuthorStanding``, per author and brand, is updated as mentions are routed. It counts every
routed mention of the brand by the author (brand replies excluded):
* advocate: at least 3 positive mentions, and positive ones are at least 2/3 of all;
* detractor: at least 2 negative mentions, and negative ones are at least 1/2 of all;
* neutral otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from engagement.models import AuthorStanding
from listening.models import Mention

ADVOCATE_MIN_POSITIVE = 3
ADVOCATE_MIN_SHARE = 2 / 3
DETRACTOR_MIN_NEGATIVE = 2
DETRACTOR_MIN_SHARE = 1 / 2


def standing_for(row: AuthorStanding) -> str:
    """The standing an AuthorStanding row's counts give (see the module docstring)."""
    total = row.mention_count or 1
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


def standings_update(counted: Sequence[tuple[int, Mention]]) -> None:
    """Add the routed customer mentions, as (brand_id, mention), to AuthorStanding.

    Not idempotent: each call counts the mentions again (routing calls it once per routed
    row). Touches AuthorStanding only, in at most three queries.
    """
    if not counted:
        return
    pairs = {(brand_id, m.author_id) for brand_id, m in counted}
    existing = {
        (s.brand_id, s.author_id): s
        for s in AuthorStanding.objects.filter(
            brand_id__in={b for b, _ in pairs}, author_id__in={a for _, a in pairs}
        )
    }
    new: dict[tuple[int, int], AuthorStanding] = {}
    for brand_id, mention in counted:
        key = (brand_id, mention.author_id)
        row = existing.get(key) or new.get(key)
        if row is None:
            row = new[key] = AuthorStanding(brand_id=brand_id, author_id=mention.author_id)
        row.mention_count += 1
        row.positive_count += mention.label == Mention.Label.POSITIVE
        row.negative_count += mention.label == Mention.Label.NEGATIVE
        row.compound_sum += mention.compound
        if row.last_mention_at is None or mention.published_at > row.last_mention_at:
            row.last_mention_at = mention.published_at
    touched = [s for k, s in existing.items() if k in pairs]
    for row in [*touched, *new.values()]:
        row.standing = standing_for(row)
    if touched:
        AuthorStanding.objects.bulk_update(
            touched,
            [
                "standing",
                "positive_count",
                "negative_count",
                "mention_count",
                "compound_sum",
                "last_mention_at",
            ],
        )
    if new:
        AuthorStanding.objects.bulk_create(list(new.values()))
