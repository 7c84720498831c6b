"""Turn the HTML-ish text sources give us into the plain text Earshot stores, matches and scores.

Everything here is regex-based on purpose: an HTML parser costs tens of microseconds per
snippet and the ingest pipeline has a budget of a few microseconds for cleaning. The rules are
deliberately simple and safe on malformed input: anything that does not look like a tag is kept
as text ("a < b", "5 > 3", a stray "&").
"""

from __future__ import annotations

import html
import re
import unicodedata

# Elements whose *content* is never readable text (code, styling, embedded documents, fallback
# markup for plugins). feedparser's sanitiser drops script/style/applet content the same way.
# An unclosed opening tag drops everything after it: safer than leaking script into the text.
_DROP_CONTENT_RE = re.compile(
    r"<(script|style|noscript|template|iframe|object|applet)\b[^>]*>.*?(?:</\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
# Comments, including an unclosed one (browsers hide the rest of the document too).
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# Tags that separate words visually: replaced by a space so "a<br>b" does not become "ab".
# Spelled out per case instead of re.IGNORECASE and factored by first letter: an IGNORECASE
# alternation of ~45 names tried at every "<" costs about twice as much (measured).
_BLOCK_TAGS = (
    r"(?:[pP]|[bB][rR]|[dD](?:[iI][vV]|[dtlDTL])|[lL][iI]|[uoUO][lL]|[hH][1-6rR]"
    r"|[tT](?:[rdhRDH]|(?i:able|body|head|foot|itle))|[iI][mM][gG]"
    r"|(?i:header|head|html|blockquote|pre|section|article|footer|figure|figcaption|aside|nav"
    r"|main|address|details|summary|caption|form|fieldset|legend|option|video|audio))"
)
# A tag: "<" + letter (or "/" + letter) up to the closing ">", honouring quoted attribute values
# that contain ">"; the second alternative catches tags with an unbalanced quote. "<" followed by
# anything else ("a < b", "<3") is text, as in HTML. Declarations/PIs (<!DOCTYPE>, <![CDATA[,
# <?xml ?>) are markup too.
_TAG_BODY = r"""(?:[^>"']|"[^"]*"|'[^']*')*>|[^>]*>"""
_BLOCK_TAG_RE = re.compile(rf"</?{_BLOCK_TAGS}(?![\w:-])(?:{_TAG_BODY})")
_TAG_RE = re.compile(rf"</?[A-Za-z][\w:.-]*(?:{_TAG_BODY})|<[!?][^>]*>")
# C0/C1 control characters other than the whitespace ones (which the whitespace pass handles),
# plus DEL. Feeds carry them from copy-pasted Word text; they are invisible noise to matching.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Title endings after which a ". " separator would read as doubled punctuation.
_TERMINAL_PUNCTUATION = (".", "!", "?", ":", "…")


def clean_text(raw: str) -> str:
    """Plain, NFC-normalised, single-spaced text from a source's HTML or text field."""
    if not raw:
        return ""
    text = raw
    if "<" in text:
        text = _DROP_CONTENT_RE.sub(" ", text)
        if "<!--" in text:
            text = _COMMENT_RE.sub("", text)
        text = _BLOCK_TAG_RE.sub(" ", text)
        text = _TAG_RE.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    # str.split() splits on every Unicode space (NBSP, U+2028, ideographic space, and the
    # \x1c-\x1f separators) and strips; what is left unprintable after that is control noise.
    text = " ".join(text.split())
    if not text.isprintable():
        text = _CONTROL_RE.sub("", text)
        text = " ".join(text.split())
    return text


def item_text(title: str, body: str) -> str:
    """The text Earshot stores for an item, from its raw (HTML-ish) title and body.

    Feeds often repeat the headline as the first sentence of the description, and tweets-like
    sources have no title at all, so the title is only prepended when it adds something.
    """
    return join_title_body(clean_text(title), clean_text(body))


def join_title_body(clean_title: str, clean_body: str) -> str:
    """item_text() for a title and body that are already clean (never clean text twice:
    unescaping "&amp;lt;" twice would turn it into "<")."""
    if not clean_body:
        return clean_title
    if not clean_title or clean_body.casefold().startswith(clean_title.casefold()):
        return clean_body
    separator = " " if clean_title.endswith(_TERMINAL_PUNCTUATION) else ". "
    return f"{clean_title}{separator}{clean_body}"
