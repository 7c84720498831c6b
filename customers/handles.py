"""How a social handle is compared: one normalisation for customer handles and authors.

The connectors store Author.handle as the platform gives it (listening/connectors/*):
mastodon the full acct "user@instance" without "@" (a local account's domain taken from its
profile URL), bluesky the handle "ann.bsky.social" (or the DID when the handle is invalid),
reddit and Hacker News the bare user name, RSS the lower-cased author name, a webhook or an
import whatever the sender wrote (often "@ann"). Customers' files write handles as people do:
"@Ann@Example.Social", "https://bsky.app/profile/ann.example.com", "u/ann". handle_key maps
both to the same key, so an exact match is an equal (platform, key) pair.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

# Platforms whose handles carry a domain part that is part of the identity.
MASTODON = "mastodon"
BLUESKY = "bluesky"
# Common names for the same platform in customer files.
PLATFORM_ALIASES = {
    "x": "twitter",
    "x.com": "twitter",
    "twitter.com": "twitter",
    "bsky": BLUESKY,
    "bsky.app": BLUESKY,
    "fediverse": MASTODON,
    # The HN connector's platform (HackerNewsConnector.platform) is "hackernews".
    "hn": "hackernews",
    "hacker_news": "hackernews",
    "news.ycombinator.com": "hackernews",
}
BLUESKY_DEFAULT_SUFFIX = ".bsky.social"
_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w\s]")
_PLATFORM = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def platform_key(platform: str) -> str:
    """ "Mastodon" -> "mastodon", "X" -> "twitter": the platform as Author.platform has it."""
    name = _fold(platform)
    return PLATFORM_ALIASES.get(name, name)


def handle_key(platform: str, handle: str) -> str:
    """The comparable form of a handle on a platform ("" when nothing usable is left).

    Case-insensitive everywhere (every platform we hear treats handles so), without a
    leading "@" or a profile URL around it. Mastodon keeps the instance ("ann@example.social":
    two instances are two people); a Mastodon handle without an instance is kept as the
    bare name, which matches no stored author (they all carry one) but still serves the
    weaker rules. Bluesky DIDs are kept as they are (lower-cased; did:plc ids are).
    """
    platform = platform_key(platform)
    text = _fold(handle)
    if text.startswith(("http://", "https://")):
        text = _from_profile_url(platform, text)
    text = text.strip().strip("/")
    if platform == "reddit":
        text = text.removeprefix("/").removeprefix("u/").removeprefix("user/")
    text = text.lstrip("@")
    if platform == MASTODON and "@" in text:
        user, _, host = text.partition("@")
        host = host.strip(".")
        text = f"{user}@{host}" if user and host else user
    return text if not any(c.isspace() for c in text) else ""


def _from_profile_url(platform: str, url: str) -> str:
    """A profile URL as the handle it shows: https://example.social/@ann -> ann@example.social,
    https://bsky.app/profile/ann.example.com -> ann.example.com."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = [p for p in parts.path.split("/") if p]
    if platform == BLUESKY and len(path) >= 2 and path[0] == "profile":
        return path[1]
    if platform == MASTODON and path and path[0].startswith("@"):
        name = path[0][1:]
        return name if "@" in name else f"{name}@{host}"
    if platform == "reddit" and len(path) >= 2 and path[0] in ("u", "user"):
        return path[1]
    if platform == "hackernews" and "id=" in parts.query:
        return parts.query.split("id=", 1)[1].split("&", 1)[0]
    return path[-1] if path else ""


def handle_local(platform: str, key: str) -> str:
    """The person-chosen part of a handle key, for the "same name elsewhere" rule:
    "ann@example.social" -> "ann", "ann.bsky.social" -> "ann"; a custom Bluesky domain
    ("ann.example.com") and other platforms' handles are their own local part."""
    platform = platform_key(platform)
    if platform == MASTODON:
        return key.partition("@")[0]
    if platform == BLUESKY:
        return key.removesuffix(BLUESKY_DEFAULT_SUFFIX) if not key.startswith("did:") else ""
    return key


def name_key(name: str) -> str:
    """A person's name as compared by the display-name rule: accents, case, punctuation and
    spacing ignored ("  José  O'Neil " -> "jose o neil")."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", plain.casefold())).strip()


def email_local(email: str) -> str:
    """ "Ann.Smith+shop@Example.com" -> "ann.smith": the part a person chose."""
    local = email.strip().rpartition("@")[0] if "@" in email else ""
    return _fold(local.partition("+")[0])


@dataclass(frozen=True, slots=True)
class ParsedHandle:
    platform: str
    handle: str  # as written in the file
    key: str
    local: str


class HandleError(ValueError):
    """A handles cell that cannot be read; the message says which part and why."""


def handles_parse(text: str) -> list[ParsedHandle]:
    """The handles column: space-separated platform:handle pairs, e.g.
    "mastodon:@ann@example.social bluesky:ann.example.com twitter:@ann". Duplicates (same
    platform and key) are kept once. Raises HandleError naming the first bad part."""
    found: dict[tuple[str, str], ParsedHandle] = {}
    for part in text.split():
        platform, sep, handle = part.partition(":")
        if not sep or not handle:
            raise HandleError(f'handle "{part[:80]}" has no platform (write platform:handle)')
        platform = platform_key(platform)
        if not _PLATFORM.match(platform):
            raise HandleError(f'handle "{part[:80]}": unknown platform name "{platform[:40]}"')
        key = handle_key(platform, handle)
        if not key or len(key) > 300:
            raise HandleError(f'handle "{part[:80]}" has no usable handle after the platform')
        found.setdefault(
            (platform, key), ParsedHandle(platform, handle, key, handle_local(platform, key))
        )
    return list(found.values())
