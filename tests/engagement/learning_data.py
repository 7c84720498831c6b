"""Texts written for the learning tests: a brand's own words that neither plain VADER nor the
care scorer read as its agents do ("zorbed" is its customers' word for broken, "glimmy" for
great, and a polite "thanks" on a status question is no praise). Enough of them, corrected,
for a small model to learn what the scorers miss."""

from __future__ import annotations

import random

THINGS = ("order", "parcel", "app", "router", "account", "invoice", "delivery", "card")
WHEN = ("today", "this morning", "tonight", "yesterday", "at noon", "on monday")
LABELS = ("negative", "neutral", "positive")


def labelled_texts(n: int, *, start: int = 0, seed: int = 1) -> list[tuple[str, str]]:
    """n (text, true label) pairs, the labels in turn, each text unique (its reference)."""
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        label = LABELS[i % 3]
        thing, when = rng.choice(THINGS), rng.choice(WHEN)
        if label == "negative":
            text = f"Acme {thing} got zorbed {when}, ref {i}"
        elif label == "positive":
            text = f"Acme {thing} was glimmy {when}, ref {i}"
        else:
            text = f"Acme {thing} status check {when}, thanks, ref {i}"
        out.append((text, label))
    return out


# Plain, general sentences every scorer reads right: corrections that agree with the care
# scorer (made when another scorer labelled the brand), so a model cannot beat it there.
PLAIN = {
    "positive": "I love Acme, the {thing} is wonderful and the team is great, ref {i}",
    "negative": "Acme {thing} is awful, I hate it, terrible and broken, ref {i}",
    "neutral": "Acme {thing} opens at nine on weekdays, ref {i}",
}


def plain_texts(n: int, *, seed: int = 2) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [
        (PLAIN[LABELS[i % 3]].format(thing=rng.choice(THINGS), i=i), LABELS[i % 3])
        for i in range(n)
    ]
