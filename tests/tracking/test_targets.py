"""Which URLs a tracked link may point to (tracking/targets.py): the brand's own domains and
nothing else, however the URL is dressed up. No database."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.targets import (
    TargetRefused,
    domains_parse,
    redirect_url,
    target_clean,
    utm_parameters,
    utm_template_check,
)

DOMAINS = domains_parse("acme.example, shop.acme.example:8443 bücher.example")

ACCEPTED = [
    ("https://acme.example/", "https://acme.example/"),
    ("https://acme.example", "https://acme.example/"),
    ("http://acme.example/p?a=1&b=2#top", "http://acme.example/p?a=1&b=2#top"),
    ("HTTPS://WWW.ACME.EXAMPLE./Sale", "https://www.acme.example/Sale"),
    ("https://acme.example:443/x", "https://acme.example/x"),
    ("http://acme.example:80/x", "http://acme.example/x"),
    ("https://shop.acme.example:8443/cart", "https://shop.acme.example:8443/cart"),
    ("https://deep.shop.acme.example:8443/", "https://deep.shop.acme.example:8443/"),
    ("https://bücher.example/ä?q=ü", "https://xn--bcher-kva.example/%C3%A4?q=%C3%BC"),
    ("https://XN--BCHER-KVA.example/", "https://xn--bcher-kva.example/"),
    ("https://acme\u3002example/", "https://acme.example/"),  # ideographic full stop
    ("https://ａｃｍｅ.example/", "https://acme.example/"),  # fullwidth letters
    ("  https://acme.example/x  ", "https://acme.example/x"),
    ("https://acme.example//evil.example/", "https://acme.example//evil.example/"),
]

# Every way we know to make a URL look like the brand's while a browser goes elsewhere.
HOSTILE = [
    "javascript:alert(document.domain)//acme.example",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "ftp://acme.example/",
    "file:///etc/passwd",
    "//acme.example/",
    "//evil.example/",
    "/r/abc",
    "acme.example/",
    "https:acme.example",
    "https:/acme.example/",
    "https:///evil.example/",
    "https://brand.com@evil.com",
    "https://acme.example@evil.example/",
    "https://user:pass@acme.example/",
    "https://acme.example:pass@evil.example/",
    "https://evil.example\\@acme.example/",
    "https://acme.example\\@evil.example/",
    "https:\\\\evil.example",
    "https://evil.example\\.acme.example/",
    "https://evil.example/acme.example",
    "https://evil.example/?u=https://acme.example/",
    "https://evil.example#acme.example",
    "https://acme.example.evil.example/",
    "https://evilacme.example/",
    "https://acme.examplex/",
    "https://acme.example%2eevil.example/",
    "https://acme%2eexample/",
    "https://evil.example%00.acme.example/",
    "https://evil.example\x00.acme.example/",
    "https://acme.example\t.evil.example/",
    "https://acme.example\n/",
    "https://evil.example /acme.example",
    "https://acme.example:8443/",
    "https://acme.example:0/",
    "https://acme.example:99999/",
    "https://acme.example:-1/",
    "https://acme.example:80@evil.example/",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://127.0.0.1/",
    "https://0x7f.1/",
    "https://acme.example;evil.example/",
    "https://acme.example,evil.example/",
    "https://evil.example?.acme.example",
    "https://ac me.example/",
    "https://-acme.example/",
    "https://xn--.example/",
    "https://acme.example.\u202eelpmaxe.live/",
    "https://a" + "a" * 70 + ".acme.example/",
    "https://acme.example/" + "a" * 2001,
    "",
    "   ",
]


@pytest.mark.parametrize(("url", "stored"), ACCEPTED)
def test_a_page_on_the_brands_domains_is_accepted_and_rebuilt(url, stored):
    assert target_clean(url, DOMAINS) == stored


@pytest.mark.parametrize("url", HOSTILE)
def test_anything_else_is_refused_with_a_reason(url):
    with pytest.raises(TargetRefused) as refused:
        target_clean(url, DOMAINS)
    assert str(refused.value)


def test_a_brand_without_domains_can_make_no_link_and_is_told_why():
    with pytest.raises(TargetRefused, match="no domains of its own"):
        target_clean("https://acme.example/", [])


def test_domain_entries_are_read_as_the_brand_model_keeps_them():
    domains = domains_parse("Acme.Example, https://shop.acme.example/  x:notaport ..")
    assert [(d.host, d.port) for d in domains] == [
        ("acme.example", None),
        ("shop.acme.example", None),
    ]


# --- properties: whatever is accepted goes to one of the brand's hosts ----------------------

_PIECES = st.sampled_from(
    [
        "acme.example",
        "shop.acme.example",
        "evil.example",
        "@",
        ":",
        "/",
        "\\",
        "?",
        "#",
        ".",
        "%2e",
        "%40",
        "xn--bcher-kva",
        "bücher",
        ":8443",
        ":443",
        "user:pw@",
        "\u3002",
        "\uff0e",
        "\uff20",
        "\u2100",
        " ",
        "\t",
        "[::1]",
    ]
)
_SCHEMES = st.sampled_from(["https://", "http://", "HTTPS://", "//", "https:", "https:/", ""])


def _browser_host(url: str) -> str:
    """The host a browser goes to for an accepted (already rebuilt, ASCII) URL."""
    return (urlsplit(url).hostname or "").lower()


def _on_brand_domain(host: str) -> bool:
    return any(host == d.host or host.endswith("." + d.host) for d in DOMAINS)


@settings(max_examples=400, deadline=None)
@given(scheme=_SCHEMES, pieces=st.lists(_PIECES, max_size=8), tail=st.text(max_size=20))
def test_an_accepted_target_is_always_on_a_brand_domain(scheme, pieces, tail):
    url = scheme + "".join(pieces) + tail
    try:
        cleaned = target_clean(url, DOMAINS)
    except TargetRefused:
        return
    assert cleaned.isascii()
    assert not any(c in cleaned for c in "\\ \t\r\n")
    parts = urlsplit(cleaned)
    assert parts.scheme in ("http", "https")
    assert "@" not in parts.netloc
    assert _on_brand_domain(_browser_host(cleaned)), (url, cleaned)
    # Cleaning is stable: the stored URL is accepted as it is.
    assert target_clean(cleaned, DOMAINS) == cleaned


@settings(max_examples=200, deadline=None)
@given(host=st.text(min_size=1, max_size=30))
def test_an_arbitrary_host_is_accepted_only_on_a_brand_domain(host):
    try:
        cleaned = target_clean(f"https://{host}/", DOMAINS)
    except TargetRefused:
        return
    assert _on_brand_domain(_browser_host(cleaned)), (host, cleaned)


@settings(max_examples=200, deadline=None)
@given(
    query=st.lists(
        st.tuples(
            st.sampled_from(["a", "utm_source", "UTM_Campaign", "earshot_click", "q"]),
            st.text(max_size=8),
        ),
        max_size=5,
    ),
    campaign=st.text(max_size=10),
)
def test_the_redirect_keeps_the_targets_query_and_never_doubles_a_parameter(query, campaign):
    from urllib.parse import urlencode

    target = "https://acme.example/p" + ("?" + urlencode(query) if query else "") + "#f"
    parameters = utm_parameters(
        "utm_source=earshot&utm_campaign={campaign}", {"campaign": campaign, "case": "7"}
    )
    url = redirect_url(target, parameters, "TOKEN")
    names = [name.lower() for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)]
    theirs = [name.lower() for name, _ in query]
    assert names.count("earshot_click") == 1
    # Ours is added only where the target has none; the target's own are kept as they are.
    assert names.count("utm_source") == (theirs.count("utm_source") or 1)
    assert names.count("utm_campaign") == (theirs.count("utm_campaign") or int(bool(campaign)))
    assert url.endswith("#f")
    kept = [pair for pair in query if pair[0] != "earshot_click"]
    assert parse_qsl(urlsplit(url).query, keep_blank_values=True)[: len(kept)] == kept


def test_utm_parameters_are_filled_in_and_a_pair_without_its_value_is_left_out():
    template = (
        "utm_source=earshot&utm_medium=social&utm_campaign={campaign}&utm_content=case-{case}"
    )
    assert utm_parameters(template, {"campaign": "spring", "case": "42"}) == [
        ("utm_source", "earshot"),
        ("utm_medium", "social"),
        ("utm_campaign", "spring"),
        ("utm_content", "case-42"),
    ]
    assert utm_parameters(template, {"campaign": "", "case": ""}) == [
        ("utm_source", "earshot"),
        ("utm_medium", "social"),
    ]


def test_the_targets_own_utm_values_win_and_a_stale_click_token_is_replaced():
    url = redirect_url(
        "https://acme.example/p?UTM_SOURCE=newsletter&a=b+c&earshot_click=old",
        [("utm_source", "earshot"), ("utm_medium", "social")],
        "new",
    )
    assert url == (
        "https://acme.example/p?UTM_SOURCE=newsletter&a=b+c&utm_medium=social&earshot_click=new"
    )


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("utm_source", "not name=value"),
        ("=x", "not name=value"),
        ("utm_content={author}", "unknown placeholder {author}"),
    ],
)
def test_a_bad_utm_template_is_refused_with_what_is_wrong(template, error):
    with pytest.raises(ValueError, match=error):
        utm_template_check(template)
