"""Where a tracked link may send people, and the URL it sends them to.

A tracked link is an open redirect waiting to happen: /r/<code> on Earshot's own domain sends
the browser wherever the link says. So a target is checked once, when the link is made, and
only a URL on one of the brand's own domains (Brand.domains) is accepted. The check does not
compare strings: it parses the URL the way a browser would, refuses anything a browser could
read differently (backslashes, userinfo, percent-escapes or spaces in the host, odd schemes,
ports not listed), normalises the host (IDNA/UTS 46, lower case, no trailing dot) and then
*rebuilds* the URL from the checked parts. The stored target is that rebuilt URL, so the
browser is sent to exactly the host that was checked. Pure functions, no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus, urlencode, urlsplit

import idna
from django.utils.encoding import iri_to_uri

MAX_TARGET_LENGTH = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}
# The parameter that carries the click to the brand's site, for conversions to refer to.
CLICK_PARAMETER = "earshot_click"
# Placeholders a UTM template may use (see utm_parameters).
UTM_PLACEHOLDERS = frozenset({"campaign", "case", "code"})
_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
# A DNS label as it is after IDNA: letters, digits and inner hyphens, 1-63 characters.
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Anything a browser strips or reads as a separator before parsing (C0 controls, space, DEL)
# and the backslash, which browsers read as "/" in http(s) URLs while Python does not:
# "https://acme.example\@evil.example" is evil.example to a browser.
_REFUSED_CHARS_RE = re.compile(r"[\x00-\x20\x7f\\]")


class TargetRefused(ValueError):
    """The URL may not be a tracked link's target; the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class Domain:
    """One of the brand's own domains: the host in ASCII, and the one port allowed beside
    the scheme's default (None: default ports only)."""

    host: str
    port: int | None = None

    def allows(self, host: str, port: int | None) -> bool:
        on_domain = host == self.host or host.endswith("." + self.host)
        return on_domain and (port is None or port == self.port)


def host_normalise(host: str) -> str:
    """ "Bücher.Example." -> "xn--bcher-kva.example"; raises TargetRefused when the host is
    not a domain name a browser would go to as written."""
    host = host.rstrip(".")
    if not host or "%" in host or host.startswith("["):
        # Percent-escapes in a host are decoded by browsers (acme%2eexample) and an IP
        # literal is no brand domain: neither is worth the risk of reading it differently.
        raise TargetRefused("the address has no domain name a link may point to")
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise TargetRefused(f"the host name {host!r} is not a valid domain name") from exc
    ascii_host = ascii_host.lower()
    if not all(_LABEL_RE.match(label) for label in ascii_host.split(".")):
        raise TargetRefused(f"the host name {host!r} is not a valid domain name")
    return ascii_host


def domains_parse(text: str) -> list[Domain]:
    """The brand's domains (Brand.domain_list's entries: "acme.example", "shop.acme.example",
    "acme.example:8443", even "https://acme.example/") as Domains. Entries that are not domain
    names are skipped: they can only ever refuse, never allow."""
    domains = []
    for entry in text.replace(",", " ").split():
        entry = entry.strip().lower()
        if "://" in entry:
            entry = entry.split("://", 1)[1]
        entry = entry.split("/", 1)[0]
        host, _, port_text = entry.partition(":")
        try:
            port = int(port_text) if port_text else None
            domains.append(Domain(host_normalise(host), port))
        except (TargetRefused, ValueError):
            continue
    return domains


def target_clean(url: str, domains: list[Domain]) -> str:
    """The URL a link made for ``url`` will redirect to, or TargetRefused saying why not.

    Accepted: http(s), no user name or password, a host that is one of ``domains`` or a
    subdomain of one, the scheme's default port or a port the domain lists. The result is
    rebuilt from the parsed parts (host in ASCII, path, query and fragment percent-encoded
    as a browser would send them), never the text as typed.
    """
    url = url.strip()
    if not url:
        raise TargetRefused("give the address of a page on the brand's site")
    if len(url) > MAX_TARGET_LENGTH:
        raise TargetRefused(f"the address is longer than {MAX_TARGET_LENGTH} characters")
    if _REFUSED_CHARS_RE.search(url):
        raise TargetRefused("the address may not contain spaces, control characters or '\\'")
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port  # ValueError for a port that is not a number 0-65535
    except ValueError as exc:
        raise TargetRefused(f"the address cannot be read: {exc}") from exc
    if scheme not in DEFAULT_PORTS:
        raise TargetRefused("only http:// and https:// addresses can be tracked")
    if not parts.netloc:
        raise TargetRefused("the address has no host: write it in full, with https://")
    if "@" in parts.netloc:
        raise TargetRefused("the address may not hold a user name or password ('@' in the host)")
    host_text = parts.netloc.rsplit(":", 1)[0] if parts.port is not None else parts.netloc
    if host_text.endswith(":"):  # "acme.example:" (an empty port)
        host_text = host_text[:-1]
    host = host_normalise(host_text)
    if port == DEFAULT_PORTS[scheme]:
        port = None
    if not domains:
        raise TargetRefused(
            "the brand has no domains of its own yet: an admin adds them to the brand first"
        )
    if not any(domain.allows(host, port) for domain in domains):
        where = f"{host}:{port}" if port is not None else host
        listed = ", ".join(f"{d.host}:{d.port}" if d.port else d.host for d in domains)
        raise TargetRefused(f"{where} is not one of the brand's domains ({listed})")
    netloc = f"{host}:{port}" if port is not None else host
    rest = iri_to_uri(parts.path or "/")
    if parts.query:
        rest += "?" + iri_to_uri(parts.query)
    if parts.fragment:
        rest += "#" + iri_to_uri(parts.fragment)
    return f"{scheme}://{netloc}{rest}"


def _query_names(query: str) -> set[str]:
    """The parameter names of a query string, decoded and lower-cased."""
    return {
        unquote_plus(pair.split("=", 1)[0]).lower() for pair in query.split("&") if pair.strip()
    }


def utm_template_check(template: str) -> None:
    """Raises ValueError, saying what is wrong, for a UTM template redirect_url cannot use."""
    for pair in filter(None, template.split("&")):
        name, sep, value = pair.partition("=")
        if not name.strip() or not sep:
            raise ValueError(f"{pair!r} is not name=value")
        unknown = set(_PLACEHOLDER_RE.findall(value)) - UTM_PLACEHOLDERS
        if unknown:
            known = ", ".join(f"{{{p}}}" for p in sorted(UTM_PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} (known: {known})")


def utm_parameters(template: str, values: dict[str, str]) -> list[tuple[str, str]]:
    """The (name, value) pairs of a UTM template such as
    "utm_source=earshot&utm_campaign={campaign}&utm_content=case-{case}", filled in.
    A pair whose placeholder has no value (a link without a case, a blank campaign) is left
    out rather than sent half empty."""
    pairs = []
    for pair in filter(None, template.split("&")):
        name, _, value = pair.partition("=")
        missing = False

        def fill(match: re.Match[str]) -> str:
            nonlocal missing
            filled = values.get(match.group(1), "")
            missing = missing or not filled
            return filled

        value = _PLACEHOLDER_RE.sub(fill, value)
        if name.strip() and not missing:
            pairs.append((name.strip(), value))
    return pairs


def redirect_url(target: str, parameters: list[tuple[str, str]], click_token: str) -> str:
    """The target with the UTM parameters and the click token added to its query.

    The target's own query is kept byte for byte (re-encoding it could break the brand's
    own parameters); a UTM parameter the target already has is not added again (the
    target's wins); a stale earshot_click in the target (a redirected URL pasted back) is
    dropped so the site reads one click. The fragment stays last.
    """
    base, hash_, fragment = target.partition("#")
    path, _, query = base.partition("?")
    kept = [
        pair
        for pair in query.split("&")
        if pair and unquote_plus(pair.split("=", 1)[0]).lower() != CLICK_PARAMETER
    ]
    present = _query_names("&".join(kept))
    added = [(name, value) for name, value in parameters if name.lower() not in present]
    if click_token:
        added.append((CLICK_PARAMETER, click_token))
    query = "&".join([*kept, urlencode(added, quote_via=quote)] if added else kept)
    return f"{path}{'?' if query else ''}{query}{hash_}{fragment}"
