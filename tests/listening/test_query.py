"""The keyword query language: what each query matches, what it reports, and what it rejects."""

# The engagement fixtures are imported by name, which ruff reads as redefinitions.
# ruff: noqa: F401, F811

import io
import re
import sys
import unicodedata

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from brands.models import Brand
from listening.models import Mention, MentionMatch
from listening.query import (
    MAX_QUERY_LENGTH,
    MAX_QUERY_TERMS,
    CompiledQuery,
    MatchDocument,
    QueryError,
    compile_query,
    query_terms,
)
from tests.engagement.conftest import acme, social_source, store_mention


def match(query: str, text: str, **fields: str) -> list[str] | None:
    return compile_query(query).match(MatchDocument(text, **fields))


def matches(query: str, text: str, **fields: str) -> bool:
    return match(query, text, **fields) is not None


# --- Words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Acme is great", True),
        ("I love Acme's new app", True),
        ("ACME!", True),
        ("(acme)", True),
        ("#acme", True),
        ("@acme", True),
        ("acme.example/refunds", True),
        ("acmecorp", False),
        ("megaacme", False),
        ("acme_corp", False),  # \w includes "_": one word, documented in listening/query.py
        ("ac me", False),
        ("", False),
    ],
)
def test_it_matches_whole_words_only(text: str, expected: bool) -> None:
    assert matches("acme", text) is expected


def test_it_ignores_case_in_the_query_and_the_text() -> None:
    assert match("AcMe", "aCmE rocks") == ["acme"]


def test_lowercase_and_or_not_are_ordinary_terms() -> None:
    assert match("rock and roll", "rock and roll") == ["rock", "and", "roll"]
    assert not matches("rock and roll", "rock roll")
    assert match("acme or", "acme or not") == ["acme", "or"]
    assert match("not acme", "not acme") == ["not", "acme"]


# --- Phrases ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ('"acme corp"', "I work at Acme Corp", True),
        ('"acme corp"', "Acme, Corp.", True),
        ('"acme corp"', "acme -- corp", True),
        ('"acme corp"', "corp acme", False),
        ('"acme corp"', "acme big corp", False),
        ('"acme corp"', "acme corporation", False),
        ('"acme  corp"', "acme corp", True),
        ("“acme corp”", "acme corp", True),  # typographic quotes pasted from a document
        ('"acme"', "Acme!", True),
        ('"#acme fail"', "acme fail", True),  # inside quotes "#" is punctuation
        ('"a b a c"', "a b a b a c", True),  # a later start position must be tried too
    ],
)
def test_phrases_match_consecutive_words_across_punctuation(
    query: str, text: str, expected: bool
) -> None:
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("re:invent", "See you at AWS re:Invent!", True),
        ("re:invent", "re invent", True),
        ("re:invent", "invent re", False),
        ("wi-fi", "The Wi-Fi is down", True),
        ("wi-fi", "wifi is down", False),
        ("acme.com", "go to ACME.COM now", True),
        ("foo:bar", "foo bar", True),  # an unknown field is a phrase, not an error
        ("foo:bar", "bar foo", False),
    ],
)
def test_a_term_with_inner_punctuation_is_the_phrase_of_its_words(
    query: str, text: str, expected: bool
) -> None:
    assert matches(query, text) is expected


# --- Operators --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("acme AND globex", "acme and globex", True),
        ("acme AND globex", "acme alone", False),
        ("acme globex", "globex then acme", True),  # implicit AND
        ("acme globex", "acme alone", False),
        ("acme OR globex", "just globex", True),
        ("acme OR globex", "just initech", False),
        ("acme NOT globex", "acme alone", True),
        ("acme NOT globex", "acme and globex", False),
        ("acme AND NOT globex", "acme and globex", False),
        ("acme -globex", "acme alone", True),
        ("acme -globex", "acme and globex", False),
        ('acme -"acme corp"', "Acme Corp rocks", False),
        ('acme -"acme corp"', "acme rocks", True),
        ("acme -(globex OR initech)", "acme and initech", False),
        ("acme -(globex OR initech)", "acme alone", True),
        ("wi-fi -acme", "wi fi", True),  # a "-" inside a word is not NOT
        ("acme NOT NOT globex", "acme and globex", True),
        ("acme NOT NOT globex", "acme alone", False),
    ],
)
def test_each_operator_does_what_it_says(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        # AND binds tighter than OR: acme OR (globex AND initech)
        ("acme OR globex AND initech", "acme", True),
        ("acme OR globex AND initech", "globex", False),
        ("acme OR globex AND initech", "globex initech", True),
        ("acme OR globex initech", "globex", False),
        # NOT binds tighter than AND and OR: acme OR (globex AND (NOT initech))
        ("acme OR globex NOT initech", "acme initech", True),
        ("acme OR globex NOT initech", "globex initech", False),
        ("acme OR globex NOT initech", "globex", True),
        ("NOT acme globex", "globex", True),
        ("NOT acme globex", "acme globex", False),
        # parentheses override precedence
        ("(acme OR globex) initech", "acme", False),
        ("(acme OR globex) initech", "globex initech", True),
        ("((acme OR globex) AND (initech OR umbrella))", "acme umbrella", True),
        ("((acme OR globex) AND (initech OR umbrella))", "acme", False),
        ("NOT (acme OR globex) initech", "initech globex", False),
        ("NOT (acme OR globex) initech", "initech", True),
    ],
)
def test_precedence_is_not_then_and_then_or(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


def test_the_example_query_from_the_brand_form_works() -> None:
    query = 'acme OR "acme corp" NOT site:acme.example'
    own = {"url": "https://www.acme.example/blog/1"}
    other = {"url": "https://news.example/acme"}
    assert match(query, "Acme Corp news", **other) == ["acme", "acme corp"]
    assert match(query, "Acme Corp news", **own) == ["acme"]  # acme OR ("acme corp" NOT site:)


# --- Wildcards --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("refund*", "I want a refund", True),
        ("refund*", "refunds please", True),
        ("refund*", "Refunded at last", True),
        ("refund*", "non-refundable ticket", True),
        ("refund*", "prefund the account", False),
        ("refund*", "re fund", False),
        ('"acme refund*"', "Acme refunds are slow", True),
        ('"acme refund*"', "refunds from acme", False),
        ("#acme*", "#AcmeFail again", True),
        ("#acme*", "acmefail without the hash", False),
        ("@acme*", "ping @acme_help", True),
        ("@acme*", "acme_help", False),
    ],
)
def test_a_trailing_wildcard_matches_words_that_start_with_it(
    query: str, text: str, expected: bool
) -> None:
    assert matches(query, text) is expected


# --- Hashtags and handles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("#acmefail", "so annoyed #AcmeFail", True),
        ("#acmefail", "what an acmefail", False),
        ("#acmefail", "@acmefail hello", False),
        ("#acmefail", "#acmefailed", False),
        ("#acmefail", "C#acmefail", False),  # a "#" inside a word starts no hashtag
        ("acmefail", "so annoyed #AcmeFail", True),
        ("#東京", "#東京 に来た", True),
    ],
)
def test_a_hashtag_term_matches_only_the_hashtag(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("@acme", "thanks @Acme!", True),
        ("@acme", "cc @acme@mastodon.social", True),  # the handle is the part before a 2nd @
        ("@acme", "(@acme)", True),
        ("@acme", "acme", False),
        ("@acme", "#acme", False),
        ("@acme", "@acme_help", False),
        ("@acme", "mail jdoe@acme.com", False),  # an e-mail address is not a mention
        ("@acme@mastodon.social", "cc @Acme@Mastodon.Social", True),
        ("@acme@mastodon.social", "cc @acme", False),
        ("@acme@mastodon.social", "cc @acme@other.social", False),
        ("acme", "thanks @acme", True),
        ("acme", "cc @jdoe@acme.social", True),
    ],
)
def test_a_handle_term_matches_only_the_mention(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


# --- Field filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "author", "expected"),
    [
        ("author:jdoe", "jdoe Jane Doe", True),
        ("author:JDoe", "jdoe", True),
        ("author:jane", "jdoe Jane Doe", True),
        ('author:"Jane Doe"', "jdoe Jane Doe", True),
        ('author:"Doe Jane"', "jdoe Jane Doe", False),
        ("author:jdo", "jdoe Jane Doe", False),
        ("author:jdo*", "jdoe Jane Doe", True),
        ("author:@jdoe", "@jdoe", True),
        ("author:jdoe", "@jdoe@mastodon.social", True),
        ("author:jdoe", "jdoe2", False),
        ("author:jdoe", "", False),
    ],
)
def test_author_matches_whole_words_of_the_handle_or_name(
    query: str, author: str, expected: bool
) -> None:
    assert matches(f"acme {query}", "acme", author=author) is expected


def test_author_does_not_look_in_the_text() -> None:
    assert not matches("author:jdoe", "jdoe wrote this", author="someone else")


@pytest.mark.parametrize(
    ("query", "url", "expected"),
    [
        ("site:acme.example", "https://acme.example/x", True),
        ("site:acme.example", "https://www.acme.example/x", True),
        ("site:acme.example", "https://blog.acme.example/x", True),
        ("site:acme.example", "https://ACME.example:8443/x", True),
        ("site:acme.example", "acme.example/no-scheme", True),
        ("site:acme.example", "https://notacme.example/x", False),
        ("site:acme.example", "https://acme.example.evil.test/x", False),
        ("site:acme.example", "https://news.example/acme.example", False),
        ("site:acme.example", "", False),  # an item without URL never matches a site
        ("site:www.acme.example", "https://acme.example/", True),
        ("site:blog.acme.example", "https://acme.example/", False),
        ("site:café.example", "https://xn--caf-dma.example/", True),
        ("site:xn--caf-dma.example", "https://café.example/", True),
    ],
)
def test_site_matches_the_domain_and_its_subdomains(query: str, url: str, expected: bool) -> None:
    assert matches(query, "anything", url=url) is expected


@pytest.mark.parametrize(
    ("query", "lang", "expected"),
    [
        ("lang:en", "en", True),
        ("lang:en", "en-US", True),
        ("lang:EN", "en_gb", True),
        ("lang:en", "eng", False),
        ("lang:en", "de", False),
        ("lang:en", "", False),
        ("lang:en-us", "en-US", True),
        ("lang:en-us", "en", False),
    ],
)
def test_lang_matches_the_tag_or_its_subtags(query: str, lang: str, expected: bool) -> None:
    assert matches(query, "anything", lang=lang) is expected


def test_a_field_filter_alone_is_a_positive_term() -> None:
    assert match("lang:en", "anything", lang="en") == ["lang:en"]


# Written for these tests: one post per language, each naming the brand.
POSTS = {
    "en": "Acme, my phone has not worked since yesterday and nobody answers my messages.",
    "es": "Acme, mi teléfono no funciona desde ayer y nadie contesta a mis mensajes.",
    "de": "Acme, mein Telefon funktioniert seit gestern nicht und niemand antwortet mir.",
    "fr": "Acme, mon téléphone ne marche plus depuis hier et personne ne me répond.",
    "pt": "Acme, meu telefone não funciona desde ontem e ninguém responde às mensagens.",
    "ja": "Acmeのスマホが昨日から動かないのに、サポートから全然返事が来ません。",
}


@pytest.mark.parametrize("language", sorted(POSTS))
def test_lang_detects_the_language_of_an_item_whose_source_gives_none(language: str) -> None:
    for code, text in POSTS.items():
        assert matches(f"acme lang:{language}", text) is (code == language), (language, code)


def test_the_sources_language_wins_and_nothing_is_detected() -> None:
    doc = MatchDocument(POSTS["es"], lang="en")
    assert compile_query("acme lang:en").match(doc) == ["acme", "lang:en"]
    assert compile_query("acme lang:es").match(doc) is None
    assert doc.detected_language is None


def test_an_item_whose_language_cannot_be_told_matches_no_lang_term() -> None:
    assert not matches("acme lang:en", "acme ok 👍")
    assert matches("acme NOT lang:es", "acme ok 👍")
    assert MatchDocument("acme ok 👍").language == ""


def detections(run) -> int:
    """How many times listening.language.detect_language runs during run()."""
    calls = 0

    def profiler(frame, event, arg) -> None:
        nonlocal calls
        if event == "call" and frame.f_code.co_name == "detect_language":
            calls += 1

    sys.setprofile(profiler)
    try:
        run()
    finally:
        sys.setprofile(None)
    return calls


def test_detection_runs_once_per_item_and_only_for_a_lang_term() -> None:
    plain = [compile_query("acme"), compile_query('"acme mobile" OR #acme')]
    with_lang = [compile_query("acme lang:es"), compile_query("lang:pt OR lang:es-MX acme")]
    doc = MatchDocument(POSTS["es"])

    assert detections(lambda: [q.match(doc) for q in plain]) == 0
    assert doc.detected_language is None
    assert detections(lambda: [q.match(doc) for q in with_lang + with_lang]) == 1
    assert doc.detected_language == "es"


@pytest.mark.django_db
def test_ingest_hears_by_detected_language_and_detects_each_item_once(acme, social_source):
    acme.query = "acme lang:es"
    acme.save(update_fields=["query"])
    items = [(code, text) for code, text in POSTS.items() if code in ("en", "es", "de")]

    def ingest() -> None:
        for code, text in items:
            store_mention_or_none(social_source, text, external_id=f"post-{code}")

    # Three items heard by a lang: query: each detected once while matching, and the one
    # stored is not detected again when it is scored.
    assert detections(ingest) == 3
    stored = Mention.objects.get(source=social_source)
    assert (stored.text, stored.language) == (POSTS["es"], "es")
    assert stored.earshot_label == "unscored"  # Earshot's scorer reads English only
    match = MentionMatch.objects.get(mention=stored)
    assert match.matched_terms == ["acme", "lang:es"]


@pytest.mark.django_db
def test_ingest_without_lang_terms_detects_only_what_it_stores(acme, social_source):
    # Acme's query has no lang: term: matching detects nothing; scoring detects the stored.
    assert "lang:" not in acme.query

    def ingest() -> None:
        store_mention_or_none(social_source, POSTS["es"], external_id="post-es")
        store_mention_or_none(
            social_source, "a post that names no brand we listen for", external_id="x"
        )

    assert detections(ingest) == 1
    assert Mention.objects.get(source=social_source).language == "es"


def store_mention_or_none(source, text: str, *, external_id: str) -> Mention | None:
    """store_mention with no source language (detection's case), None when nothing matched."""
    try:
        return store_mention(source, text, external_id=external_id, language="")
    except Mention.DoesNotExist:
        return None


# --- Unicode ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("café", "Meet me at the Café!", True),
        ("café", "cafe\u0301 au lait", True),  # decomposed é: NFKC makes both sides equal
        ("cafe", "café", False),  # accents are significant
        ("zürich", "ZÜRICH airport", True),
        ("straße", "STRASSE", True),  # casefold, not lower
        ("istanbul", "İSTANBUL'da", True),  # "İ" folds to "i", not "i" + combining dot
        ("İstanbul", "istanbul", True),
        ("acme", "ＡＣＭＥ rocks", True),  # fullwidth letters
        ("東京", "東京タワーに行った", True),  # no spaces in Japanese: per-character words
        ("東京", "京東", False),
        ('"東京 タワー"', "東京タワー", True),
        ("हिन्दी", "मुझे हिन्दी पसंद है", True),
        ("हि", "मुझे हिन्दी पसंद है", False),  # combining vowel signs stay in their word
        ("Ελλάδα", "ΕΛΛΆΔΑ", True),
    ],
)
def test_it_is_unicode_aware(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


# --- Matched terms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "fields", "terms"),
    [
        ("ACME", "acme", {}, ["acme"]),
        ('"Acme  Corp"', "acme corp", {}, ["acme corp"]),
        ('"Acme, Corp."', "acme corp", {}, ["acme, corp."]),
        ('"Acme"', "acme", {}, ["acme"]),
        ("Refund*", "refunds", {}, ["refund*"]),
        ('"acme refund*"', "acme refunds", {}, ["acme refund*"]),
        ("#AcmeFail", "#acmefail", {}, ["#acmefail"]),
        ("@Acme", "@acme", {}, ["@acme"]),
        ("@Acme@Mastodon.Social", "@acme@mastodon.social", {}, ["@acme@mastodon.social"]),
        ("Re:Invent", "re:invent", {}, ["re:invent"]),
        ("site:WWW.Acme.Example", "x", {"url": "https://acme.example"}, ["site:acme.example"]),
        ("author:JDoe", "x", {"author": "jdoe"}, ["author:jdoe"]),
        ('author:"Jane Doe"', "x", {"author": "Jane Doe"}, ['author:"jane doe"']),
        ("lang:EN", "x", {"lang": "en"}, ["lang:en"]),
    ],
)
def test_matched_terms_are_rendered_casefolded(
    query: str, text: str, fields: dict[str, str], terms: list[str]
) -> None:
    assert match(query, text, **fields) == terms


def test_matched_terms_follow_query_order_not_text_order() -> None:
    assert match("globex OR acme OR initech", "acme beats globex") == ["globex", "acme"]


def test_matched_terms_are_deduplicated() -> None:
    assert match('acme OR (ACME globex) OR "acme"', "acme globex") == ["acme", "globex"]


def test_terms_under_not_never_appear_in_matched_terms() -> None:
    assert match("acme NOT globex", "acme") == ["acme"]
    assert match("acme -(globex OR initech)", "acme") == ["acme"]
    assert match("acme NOT NOT globex", "acme globex") == ["acme"]


def test_matched_terms_come_only_from_branches_that_matched() -> None:
    query = "acme OR (globex NOT initech)"
    assert match(query, "acme globex initech") == ["acme"]
    assert match(query, "acme globex") == ["acme", "globex"]


def test_a_non_matching_query_returns_none_not_an_empty_list() -> None:
    assert match("acme", "globex") is None


def test_one_document_is_matched_against_several_brands_queries() -> None:
    doc = MatchDocument("Acme beats Globex")
    assert compile_query("acme").match(doc) == ["acme"]
    assert compile_query("globex").match(doc) == ["globex"]
    assert compile_query("initech").match(doc) is None


def test_compiled_query_keeps_its_source_and_lists_its_positive_terms() -> None:
    compiled = compile_query('acme OR "Acme Corp" NOT site:acme.example OR acme')
    assert isinstance(compiled, CompiledQuery)
    assert compiled.source == 'acme OR "Acme Corp" NOT site:acme.example OR acme'
    assert query_terms(compiled) == ["acme", "acme corp"]


# --- Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("", None, "The query is empty: write at least one term, such as acme"),
        ("  \n\t ", None, "The query is empty: write at least one term, such as acme"),
        (
            "acme (globex",
            6,
            'Unbalanced parenthesis: "(" at position 6 is never closed',
        ),
        ("((acme)", 1, 'Unbalanced parenthesis: "(" at position 1 is never closed'),
        ("acme) globex", 5, 'Unbalanced parenthesis: ")" at position 5 has no matching "("'),
        (") acme", 1, 'Unbalanced parenthesis: ")" at position 1 has no matching "("'),
        ('acme "corp', 6, "Unbalanced quote: the quote at position 6 is never closed"),
        ('author:"Jane', 8, "Unbalanced quote: the quote at position 8 is never closed"),
        ('acme ""', 6, "Empty phrase: the quotes at position 6 contain nothing to match"),
        ('"  "', 1, "Empty phrase: the quotes at position 1 contain nothing to match"),
        ("acme AND", 6, 'Dangling operator: "AND" at position 6 needs a term after it'),
        ("acme OR", 6, 'Dangling operator: "OR" at position 6 needs a term after it'),
        ("OR acme", 1, 'Dangling operator: "OR" at position 1 needs a term before it'),
        ("AND acme", 1, 'Dangling operator: "AND" at position 1 needs a term before it'),
        ("(OR acme)", 2, 'Dangling operator: "OR" at position 2 needs a term before it'),
        (
            "acme AND OR globex",
            6,
            'Dangling operator: "AND" at position 6 needs a term after it,'
            ' found "OR" at position 10',
        ),
        (
            "(acme AND) globex",
            7,
            'Dangling operator: "AND" at position 7 needs a term after it,'
            ' found ")" at position 10',
        ),
        ("NOT", 1, 'Dangling operator: "NOT" at position 1 needs a term after it'),
        ("acme NOT", 6, 'Dangling operator: "NOT" at position 6 needs a term after it'),
        ("acme ()", 6, 'Empty parentheses: "(" at position 6 encloses nothing'),
        (
            "NOT acme",
            1,
            "A query needs at least one positive term: NOT at position 1"
            " would match almost every item on its own",
        ),
        (
            "-acme -globex",
            1,
            'A query needs at least one positive term: "-" at position 1'
            " would match almost every item on its own",
        ),
        (
            "acme OR NOT globex",
            9,
            "A query needs at least one positive term: NOT at position 9"
            " would match almost every item on its own",
        ),
        (
            "*",
            1,
            'Misplaced wildcard: "*" at position 1 must follow a word, as in refund*',
        ),
        (
            "acme *",
            6,
            'Misplaced wildcard: "*" at position 6 must follow a word, as in refund*',
        ),
        (
            "re*fund",
            3,
            'Misplaced wildcard: "*" at position 3 must be at the end of a word, as in refund*',
        ),
        (
            "*acme",
            1,
            'Misplaced wildcard: "*" at position 1 must be at the end of a word, as in refund*',
        ),
        (
            '"acme* corp"',
            6,
            'Misplaced wildcard: "*" at position 6 must be at the end of a word, as in refund*',
        ),
        (
            "@acme@mastodon.social*",
            22,
            'Misplaced wildcard: "*" at position 22 cannot end a full @name@instance address',
        ),
        (
            "site:",
            1,
            'Field filter "site:" at position 1 needs a value, as in site:acme.example',
        ),
        (
            "acme lang:",
            6,
            'Field filter "lang:" at position 6 needs a value, as in lang:en',
        ),
        (
            'acme author:""',
            6,
            'Field filter "author:" at position 6 needs a value, as in author:jdoe',
        ),
        (
            "site:https://acme.example/blog",
            1,
            'Field filter "site:https://acme.example/blog" at position 1 must be a domain such'
            " as acme.example, without scheme, path or wildcard (subdomains are included)",
        ),
        (
            "acme lang:en_US!",
            6,
            'Field filter "lang:en_US!" at position 6 must be a language code such as en or en-US',
        ),
        (
            "acme !!!",
            6,
            'Term "!!!" at position 6 contains no letters or digits to match',
        ),
        (
            '"?!"',
            1,
            'Phrase "?!" at position 1 contains no letters or digits to match',
        ),
        (
            "#acme-fail",
            1,
            'Hashtag "#acme-fail" at position 1 may contain only letters, digits and'
            " underscores after the #",
        ),
        (
            "@acme.bsky.social",
            1,
            'Handle "@acme.bsky.social" at position 1 must look like @name or'
            " @name@instance.example",
        ),
    ],
)
def test_it_rejects_a_bad_query_saying_what_and_where(
    query: str, position: int | None, message: str
) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    assert str(caught.value) == message
    assert caught.value.message == message
    assert caught.value.position == position


def test_deeply_nested_parentheses_are_rejected_not_a_crash() -> None:
    with pytest.raises(QueryError, match="nested too deeply"):
        compile_query("(" * 200 + "acme" + ")" * 200)


def test_query_error_is_a_value_error() -> None:
    assert issubclass(QueryError, ValueError)


# --- Invisible format characters (issue 9) -----------------------------------------------------

# Unicode category Cf: what a stranger can put inside a brand name to hide it from the query.
FORMAT_CHARS = sorted(
    chr(cp)
    for plane in (range(0x20000), range(0xE0000, 0xE1000))
    for cp in plane
    if unicodedata.category(chr(cp)) == "Cf"
)
NAMED_FORMAT_CHARS = {
    "zero-width space": "\u200b",
    "zero-width non-joiner": "\u200c",
    "zero-width joiner": "\u200d",
    "word joiner": "\u2060",
    "soft hyphen": "\u00ad",
    "byte order mark": "\ufeff",
    "right-to-left override": "\u202e",
    "left-to-right mark": "\u200e",
    "tag letter a": "\U000e0061",
}


@pytest.mark.parametrize("char", NAMED_FORMAT_CHARS.values(), ids=NAMED_FORMAT_CHARS.keys())
def test_invisible_format_characters_do_not_hide_a_brand(char: str) -> None:
    assert match("acme", f"ac{char}me is down again") == ["acme"]
    assert match("acme", f"{char}ACME{char}!") == ["acme"]
    assert match('"acme mobile"', f"a{char}cme mob{char}ile rocks") == ["acme mobile"]
    assert match("#acmefail", f"#acme{char}fail") == ["#acmefail"]
    assert match("@acme", f"@ac{char}me hello") == ["@acme"]
    assert match("refund*", f"re{char}funds please") == ["refund*"]
    assert match("author:jdoe", "hello", author=f"jd{char}oe") == ["author:jdoe"]
    # The same characters in the query are ignored too, and the label is clean.
    assert match(f"ac{char}me", "Acme is down") == ["acme"]
    # Excluding still works on hidden words: NOT cannot be dodged either.
    assert not matches("acme NOT refund", f"acme re{char}fund")


def test_every_format_character_is_ignored() -> None:
    assert len(FORMAT_CHARS) > 150
    query = compile_query("acme")
    hidden = [c for c in FORMAT_CHARS if query.match(MatchDocument(f"ac{c}me")) is None]
    assert hidden == []


def test_a_query_of_only_format_characters_is_rejected() -> None:
    with pytest.raises(QueryError, match="contains no letters or digits"):
        compile_query("\u200b\u00ad")


def test_the_document_keeps_the_text_as_given() -> None:
    text = "ac\u200bme\u00ad"
    assert MatchDocument(text).text == text


def insert_at(text: str, inserts: list[tuple[int, str]]) -> str:
    chars = list(text)
    for position, char in sorted(inserts, reverse=True):
        chars.insert(position % (len(chars) + 1), char)
    return "".join(chars)


HOSTILE_QUERY = 'acme OR "acme mobile" OR #acmefail OR @acme OR refund* OR author:"jane doe"'
TEXT_WORDS = ["acme", "Acme", "mobile", "#AcmeFail", "@acme", "refunds", "the", "é", "東京", "!"]


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(TEXT_WORDS), max_size=12),
    text_inserts=st.lists(st.tuples(st.integers(0, 200), st.sampled_from(FORMAT_CHARS))),
    author_inserts=st.lists(st.tuples(st.integers(0, 20), st.sampled_from(FORMAT_CHARS))),
)
def test_inserted_format_characters_never_change_what_matches(
    words: list[str],
    text_inserts: list[tuple[int, str]],
    author_inserts: list[tuple[int, str]],
) -> None:
    text = " ".join(words)
    author = "jane doe"
    expected = match(HOSTILE_QUERY, text, author=author)
    hidden = match(
        HOSTILE_QUERY,
        insert_at(text, text_inserts),
        author=insert_at(author, author_inserts),
    )
    assert hidden == expected


@pytest.mark.django_db
def test_a_hidden_brand_name_is_matched_and_stored_unchanged(acme, social_source) -> None:
    text = "ac\u200bme lost my bag, a\u00adcme please help \ufeff"
    mention = store_mention(social_source, text)
    assert mention.text == text
    assert list(mention.matches.values_list("brand__name", flat=True)) == ["Acme"]


# --- Size caps (issue 9) -----------------------------------------------------------------------


def test_a_query_at_the_length_limit_compiles() -> None:
    query = "acme OR " + "a" * (MAX_QUERY_LENGTH - 8)
    assert len(query) == MAX_QUERY_LENGTH
    assert compile_query(query).terms == ["acme", "a" * (MAX_QUERY_LENGTH - 8)]


def test_a_query_over_the_length_limit_is_rejected_saying_the_limit() -> None:
    query = "acme " + "x" * MAX_QUERY_LENGTH
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    assert str(caught.value) == (
        f"The query is too long: {len(query):,} characters, the limit is 4,096;"
        " shorten it or split it across brands"
    )
    assert caught.value.position == MAX_QUERY_LENGTH + 1


def test_a_megabyte_phrase_is_rejected() -> None:
    with pytest.raises(QueryError, match="too long: 1,000,002 characters, the limit is 4,096"):
        compile_query('"' + "acme " * 200_000 + '"')


def test_a_query_at_the_term_limit_compiles() -> None:
    query = " OR ".join(f"t{n}" for n in range(MAX_QUERY_TERMS))
    assert len(compile_query(query).terms) == MAX_QUERY_TERMS == 256


def test_a_query_over_the_term_limit_is_rejected_saying_where() -> None:
    terms = [f"t{n}" for n in range(MAX_QUERY_TERMS)] + ['"acme corp"', "-globex"]
    query = " OR ".join(terms[:-1]) + " " + terms[-1]
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    position = query.index('"acme corp"') + 1
    assert str(caught.value) == (
        "The query has too many terms: 258, the limit is 256 (terms, phrases and field"
        ' filters, excluded ones too); the first one over it is "acme corp" at'
        f" position {position}"
    )
    assert caught.value.position == position


def test_a_hundred_thousand_ored_terms_are_rejected_by_the_length_cap() -> None:
    with pytest.raises(QueryError, match="too long"):
        compile_query(" OR ".join(f"t{n}" for n in range(100_000)))


@pytest.mark.django_db
def test_add_brand_refuses_an_oversized_query_with_the_limit() -> None:
    query = " ".join(f"t{n}" for n in range(300))
    with pytest.raises(CommandError, match="too many terms: 300, the limit is 256"):
        call_command("add_brand", "Acme", "--query", query, stdout=io.StringIO())
    assert not Brand.objects.exists()


@pytest.mark.django_db
def test_the_admin_refuses_an_oversized_query_with_the_limit(admin_client) -> None:
    query = "acme OR " + "x" * MAX_QUERY_LENGTH
    response = admin_client.post(
        reverse("admin:brands_brand_add"),
        {"name": "Acme", "query": query, "handles": "", "domains": ""},
    )
    assert response.status_code == 200
    assert "The query is too long: 4,104 characters, the limit is 4,096" in response.text
    assert not Brand.objects.exists()


@pytest.mark.django_db
def test_the_test_a_query_page_refuses_an_oversized_query_with_the_limit(admin_client) -> None:
    query = " ".join(f"t{n}" for n in range(257))
    response = admin_client.get(reverse("admin:listening_brand_test_query"), {"query": query})
    assert response.status_code == 200
    assert "The query has too many terms: 257, the limit is 256" in response.text


# The ASCII fast path of the tokeniser (a byte table instead of a regex) must find exactly the
# words of re.ASCII's \w+, which is what the matcher meant by a word before it.
ASCII_WORD_RE = re.compile(r"\w+", re.ASCII)


def test_every_ascii_character_splits_or_joins_words_as_ascii_word_runs() -> None:
    for code in range(128):
        text = f"acme{chr(code)}mobile {chr(code)}x{chr(code)}"
        assert MatchDocument(text).tokens.words == ASCII_WORD_RE.findall(text.casefold()), code


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_ascii_texts_split_into_the_same_words_as_an_ascii_word_regex(text: str) -> None:
    assert MatchDocument(text).tokens.words == ASCII_WORD_RE.findall(text.casefold())


def test_an_underscore_joins_words_and_a_hyphen_splits_them() -> None:
    assert match("acme", "acme_corp is not acme-corp") == ["acme"]
    assert match("acme", "acme_corp only") is None
