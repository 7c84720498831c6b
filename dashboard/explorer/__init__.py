"""The mention explorer (issue 12, page 6): every mention of a brand or of one of its
competitors, filtered, sorted, searched, 50 a page, and the same rows as a streamed CSV.

The GET parameters are the drill-down contract: every chart point and table row of the other
dashboard pages links to ``dashboard:explorer`` with the parameters that select the mentions
behind it (build the link with ``explorer_url(...)``). All are optional; unknown ones are
ignored, and a bad value shows an error above no rows instead of guessing.

==============  ==========================================================================
``brand``       The workspace brand's id (default: the user's first brand). A brand the user
                may not see answers 404.
``matched``     The brand counted: ``brand`` itself (default) or the id of one of its
                competitors (only what ``brand``'s own sources caught of it).
``label``       Effective sentiment (``MentionMatch.label``, corrections included):
                ``positive``, ``neutral``, ``negative``, or ``unscored`` (a language
                Earshot's scorer does not handle: "not scored (language)").
``platform``    ``Mention.platform`` exactly as stored, e.g. ``mastodon``, ``bluesky``, ``web``.
``source``      A ``Source`` id.
``lang``        ``Mention.language`` exactly as stored, e.g. ``en``.
``author``      An author's handle (``Author.handle``), exactly.
``term``        A matched term of the brand's query (one of ``MentionMatch.matched_terms``).
``since``       First local day, ``YYYY-MM-DD``, from its midnight in the user's time zone.
``until``       Last local day, ``YYYY-MM-DD``, inclusive (up to the next local midnight).
``has_case``    ``yes``: mentions filed in a case of the matched brand; ``no``: the others.
``q``           Full-text search (web-search syntax: words, ``"a phrase"``, ``or``, ``-word``).
``sort``        ``newest`` (default), ``oldest``, ``reach`` (author followers at the time of
                the mention) or ``engagement`` (likes + replies + reposts).
``after``       The page cursor (opaque: written by the "Next" link, not by other pages).
==============  ==========================================================================

Full-text search on PostgreSQL matches each mention's ``to_tsvector('simple', text)``, stored
in MentionSearch with a GIN index behind ingest (listening/search.py: mentions not indexed yet
are parsed on the fly, so none is missed): the ``simple`` configuration lower-cases words
and nothing more (no stemming, no stop words), because mentions come in every language and a
search for a brand or product name must find exactly that word; ``refund`` does not find
``refunds`` (search ``refund or refunds``). SQLite (a newcomer's first run) falls back to a
case-insensitive substring match.

Pages use a keyset cursor (sort key + id), never OFFSET or COUNT(*): the 1,000th page costs
what the first does, at a million mentions.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

# The parameters of the drill-down contract, in the order a link writes them.
PARAMETERS = (
    "brand",
    "matched",
    "label",
    "platform",
    "source",
    "lang",
    "author",
    "term",
    "since",
    "until",
    "has_case",
    "q",
    "sort",
)


def explorer_url(**params: object) -> str:
    """The explorer's URL for these filters (see the table above); None and "" are left out.

    >>> explorer_url(brand=3, label="negative", since="2026-01-01")  # doctest: +SKIP
    '/dashboard/explorer/?brand=3&label=negative&since=2026-01-01'
    """
    unknown = set(params) - set(PARAMETERS)
    if unknown:
        raise ValueError(f"not explorer parameters: {sorted(unknown)}")
    query = [(name, params[name]) for name in PARAMETERS if params.get(name) not in (None, "")]
    path = reverse("dashboard:explorer")
    return f"{path}?{urlencode(query)}" if query else path
