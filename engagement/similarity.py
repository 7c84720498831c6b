"""Similar requests: the keys that group cases saying the same thing.

``similarity_key``: SHA-256 of the normalised text of the case's first mention (casefolded;
URLs, @handles, #tags, numbers and punctuation removed; whitespace collapsed).
``phrase_key``: "<day>:<phrase>" where the phrase is the most frequent bigram of adjacent
words of the first mention in which neither word is a stopword, a brand term (the brand's
name, query terms and handles), a sentiment word (in VADER's lexicon), a number, or shorter
than 3 letters; ties go to the first. The day is the mention's local date. Cases of the same
brand and kind, not resolved, that share either key are shown as a group (``similar_cases``,
a read in the selectors).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime

from django.utils import timezone

from brands.models import Brand
from listening.sentiment import get_analyzer

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE_OR_TAG_RE = re.compile(r"(?<!\w)[@#][\w.@-]*\w")
_NOT_LETTERS_RE = re.compile(r"[\W\d_]+")
_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can cannot could did do does doing down during each even
    ever every few for from further get gets got had has have having he her here hers herself
    him himself his how i if in into is it its itself just let me more most my myself no nor
    not now of off on once only or other ought our ours ourselves out over own please same she
    should so some still such than that the their theirs them themselves then there these they
    this those through to too under until up very via was we were what when where which while
    who whom why will with would yet you your yours yourself yourselves again already always
    anyone anything back day days doesn don dont cant didnt isnt wont im ive its thats week
    today yesterday tomorrow since new one two really much many make made going know need
want trying tried like"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def text_normalise(text: str) -> str:
    """Casefolded text without URLs, @handles, #tags, numbers and punctuation."""
    text = _URL_RE.sub(" ", unicodedata.normalize("NFKC", text))
    text = _HANDLE_OR_TAG_RE.sub(" ", text)
    return " ".join(_NOT_LETTERS_RE.sub(" ", text.casefold()).split())


def similarity_key_for(text: str) -> str:
    """The similarity key of a text: SHA-256 of its normalised form, or "" when nothing is left."""
    normalised = text_normalise(text)
    return hashlib.sha256(normalised.encode()).hexdigest() if normalised else ""


def brand_terms_for(brand: Brand) -> frozenset[str]:
    """The words of the brand's name, query and own handles: never part of a key phrase."""
    words = set(text_normalise(brand.name).split())
    words.update(text_normalise(re.sub(r"[@#]", " ", brand.query)).split())
    words.update(text_normalise(" ".join(brand.own_handle_keys).replace("_", " ")).split())
    words.update(brand.own_handle_keys)
    return frozenset(words - {"and", "or", "not"})


def key_phrase_for(text: str, *, brand_terms: frozenset[str]) -> str:
    """The most frequent bigram of adjacent content words (see the module docstring)."""
    lexicon = get_analyzer().lexicon
    words = text_normalise(text).split()

    def is_content(word: str) -> bool:
        return (
            len(word) >= 3
            and word not in STOPWORDS
            and word not in brand_terms
            and word not in lexicon
        )

    bigrams = [
        f"{a} {b}"
        for a, b in zip(words, words[1:], strict=False)
        if is_content(a) and is_content(b)
    ]
    if not bigrams:
        return ""
    counts = Counter(bigrams)
    best = max(counts.values())
    return next(b for b in bigrams if counts[b] == best)


def phrase_key(*, text: str, published_at: datetime, brand_terms: frozenset[str]) -> str:
    """ "<day>:<phrase>" of a text (see the module docstring), or "" when it has no phrase."""
    phrase = key_phrase_for(text, brand_terms=brand_terms)
    if not phrase:
        return ""
    try:
        day = timezone.localtime(published_at).date().isoformat()
    except OverflowError:  # year 1 west of UTC is year 0 locally
        day = published_at.astimezone(UTC).date().isoformat()
    return f"{day}:{phrase}"[:120]
