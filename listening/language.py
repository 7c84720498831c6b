"""Tell which language a mention is written in, offline and in a few microseconds (issue 13).

VADER only reads English, so a mention whose source names no language is detected here and
the caller decides what its scorer can handle. The detector is CLD2, Chromium's compact
language detector, through ``pycld2`` (Apache-2.0): its model is compiled into the wheel (no
download, no network) and it knows about 160 languages. Measured by ``bench/language_cost.py``
on one core, on 48-word posts like bench/ingest.py's: 8.5 us a post, 4 % of stock VADER's time
on the same posts (CLD2 on every post: 14 us, 6 %); on the English airline customer tweets it
called none another language (5.9 % unsure). The others tried, on the same stripped texts:
lingua 2.1 (2.2 needs Python 3.12) about 2 ms a post, 9x VADER, and 2.0 % of those tweets
called another language; py3langid 208 us and 1.2 %; fastText's small model 58 us and 1.2 %;
langdetect (unmaintained) 2.9 ms and 3.5 %.

Contract of :func:`detect_language` / :func:`detect_languages`:

- an ISO 639-1 code ("en", "es", "zh", "he"), or an ISO 639-3 code for the few languages that
  have no two-letter one ("ceb", "haw");
- "" when unsure: too little text once @handles, URLs and hashtag signs are gone, emoji or
  numbers only, a mix with no clear majority, a script CLD2 only recognises as a script, or
  text CLD2 does not call reliable. "" never means "not English": callers assume their
  scorer's language for it.

Most English posts are settled before CLD2 by a cheaper shortcut (:func:`is_plainly_english`:
ASCII text with two English-only words such as "the", "you", "would").

Pure functions: no settings, no ORM, no I/O, safe on any ``str`` (NUL, lone surrogates,
megabytes), never raising.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pycld2

# Enough to tell a language; CLD2's cost grows with length, and the language of a post does
# not change after its first few sentences.
MAX_CHARS = 1_000
# CLD2 counts the bytes of letters it scored (UTF-8, spaces between words included): fewer
# than this is about three short words ("ok thanks", "Danke schön"), too little to tell.
# Such words fit several languages: CLD2 calls "thankyou" Danish and airport codes Nynorsk.
MIN_TEXT_BYTES = 24
# Below this share for the first language the text is a mix with no clear majority.
MIN_PERCENT = 60
# The English shortcut: ASCII text whose first FAST_PATH_CHARS hold ENGLISH_MARKERS_NEEDED
# different words of _ENGLISH_MARKERS is English without asking CLD2. It costs about a third
# of a CLD2 call and settles most English mentions (a tweet has few words: two markers, not
# three, is what lets most of them through; CLD2 agreed on every airline tweet it settled).
FAST_PATH_CHARS = 200
ENGLISH_MARKERS_NEEDED = 2
# Frequent English words that are not frequent words of another language written in ASCII:
# so not "is", "of", "was", "will", "for", "have", "had", "just", "has", "but", "we", "my",
# "to", "been" (Dutch, German, Danish, Swedish, Spanish, French or Polish words too).
_ENGLISH_MARKER_WORDS = (
    "the and you your with this that are what from they there their about when which were "
    "would should could because please thanks why how our get got i'm it's don't can't "
    "didn't won't isn't wasn't doesn't i've i'll you're we're they're that's there's"
)
_ENGLISH_MARKERS = frozenset(_ENGLISH_MARKER_WORDS.split())
# Punctuation to spaces, so "you?" and "this," count; the apostrophe stays ("don't").
_PUNCTUATION_TO_SPACE = str.maketrans(dict.fromkeys('!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~', " "))

# @user, @user@instance.social (Mastodon), URLs with a scheme or starting www.
_HANDLE_RE = re.compile(r"@[\w.-]+(?:@[\w.-]+)?")
_URL_RE = re.compile(r"(?:\b[a-zA-Z][\w+.-]*://|\bwww\.)\S*")
# What CLD2 refuses as "invalid UTF-8": C0/C1 controls other than whitespace, lone
# surrogates and the Unicode noncharacters.
_INVALID_FOR_CLD2_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"\\U{plane:04x}fffe\\U{plane:04x}ffff" for plane in range(17))
    + "]"
)
# CLD2's own codes -> the ISO 639 code we store. Old ISO codes (iw, jw) and CLD2's variants.
_CODES = {"iw": "he", "jw": "jv", "zh-Hant": "zh", "sr-ME": "sr", "nb": "no"}
# CLD2 results that name no language: unknown, a script only ("xx-Latn"), and its joke
# languages; Scots fires on informal English ("ye", "wee") and reads as not English, so it is
# taken as unsure rather than as a language the scorer does not handle.
_NOT_A_LANGUAGE = {"un", "zzb", "zze", "zzh", "zzp", "tlh", "xxx", "sco"}


def strip_for_detection(text: str) -> str:
    """The words of a post that say which language it is in: no @handles, URLs or '#' signs.

    Emoji, digits and punctuation are left in: CLD2 scores letters only and skips them, which
    costs less than removing them here. Exposed for the benchmark and tests.
    """
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    if "@" in text:
        text = _HANDLE_RE.sub(" ", text)
    if "/" in text or "www." in text:
        text = _URL_RE.sub(" ", text)
    if "#" in text:
        # Keep the hashtag's word: "#servicio" is Spanish, "#fail" English.
        text = text.replace("#", " ")
    return text


def _detect(text: str) -> tuple[bool, int, str, int]:
    try:
        is_reliable, text_bytes, details = pycld2.detect(text, isPlainText=True)
    except (pycld2.error, UnicodeError, ValueError):
        # Control characters, lone surrogates or noncharacters: drop them and ask again.
        text = _INVALID_FOR_CLD2_RE.sub(" ", text)
        try:
            is_reliable, text_bytes, details = pycld2.detect(text, isPlainText=True)
        except (pycld2.error, UnicodeError, ValueError):
            return False, 0, "un", 0
    _, code, percent, _ = details[0]
    return is_reliable, text_bytes, code, percent


def detect_language(text: str) -> str:
    """The ISO 639 code of ``text``'s language, or "" when unsure (see the module's contract)."""
    if not text:
        return ""
    text = strip_for_detection(text)
    if is_plainly_english(text):
        return "en"
    return _model_language(text)


def is_plainly_english(text: str) -> bool:
    """The English shortcut: ASCII with enough English-only words (see _ENGLISH_MARKERS)."""
    if not text.isascii():
        return False
    words = text[:FAST_PATH_CHARS].lower().translate(_PUNCTUATION_TO_SPACE).split()
    return len(_ENGLISH_MARKERS.intersection(words)) >= ENGLISH_MARKERS_NEEDED


def detect_language_by_model(text: str) -> str:
    """:func:`detect_language` without the English shortcut: CLD2's answer for every text."""
    if not text:
        return ""
    return _model_language(strip_for_detection(text))


def _model_language(text: str) -> str:
    is_reliable, text_bytes, code, percent = _detect(text)
    if (
        not is_reliable
        or text_bytes < MIN_TEXT_BYTES
        or percent < MIN_PERCENT
        or code in _NOT_A_LANGUAGE
        or code.startswith("xx-")
    ):
        return ""
    return _CODES.get(code, code)


def detect_languages(texts: Sequence[str]) -> list[str]:
    """:func:`detect_language` of each text, in order."""
    detect = detect_language
    return [detect(text) for text in texts]
