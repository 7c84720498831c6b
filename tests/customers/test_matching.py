"""Matching authors to customers (customers.matching): exact handles at once, weaker rules
as suggestions an admin decides, on authors stored through the real ingest path."""

from __future__ import annotations

import pytest

from customers.matching import new_authors_match
from customers.models import AuthorKey, AuthorMatch
from customers.selectors import loyalists
from customers.services import match_decide
from customers.tasks import new_authors_match_task
from listening.models import Author, Source
from tests.customers.conftest import CUSTOMER_HEADER, csv_bytes, run_import, store_mention

pytestmark = pytest.mark.django_db


def author(source, handle: str, name: str = "", text: str = "love my acme blender") -> Author:
    return store_mention(source, text, author_handle=handle, author_name=name).author


def customers(acme, *rows):
    return run_import(acme, csv_bytes(CUSTOMER_HEADER, [list(r) for r in rows]))


def test_an_exact_handle_is_a_confirmed_match_at_once(acme, social_source):
    carol = author(social_source, "Carol@social.example", "Carol")

    record = customers(acme, ("c1", "Carol", "", "mastodon:@carol@Social.Example", "", ""))

    match = AuthorMatch.objects.get()
    assert (match.customer.customer_id, match.author, match.kind, match.status) == (
        "c1", carol, "exact", "confirmed"
    )  # fmt: skip
    assert (match.rule, match.confidence, match.decided_by) == ("handle", 1.0, None)
    assert record.exact_matches == 1
    assert list(loyalists(acme)) == [carol]
    # Re-running changes nothing.
    again = customers(acme, ("c1", "Carol", "", "mastodon:@carol@Social.Example", "", ""))
    assert again.exact_matches == 0
    assert AuthorMatch.objects.count() == 1


def test_new_authors_are_matched_by_the_periodic_task(acme, social_source):
    customers(acme, ("c1", "Dan", "", "mastodon:dan@social.example twitter:dan", "", ""))
    assert not AuthorMatch.objects.exists()

    dan = author(social_source, "dan@social.example", "Dan")
    assert new_authors_match_task() >= 1
    assert new_authors_match_task() == 0  # nothing left to key: a rerun does nothing

    assert list(loyalists(acme)) == [dan]
    assert AuthorMatch.objects.get().kind == "exact"


def test_the_same_handle_on_another_instance_is_not_a_match(acme, social_source):
    author(social_source, "erin@other.example", "Erin")
    customers(acme, ("c1", "Erin", "", "mastodon:@erin@social.example", "", ""))
    assert not loyalists(acme).exists()


def test_weaker_rules_suggest_with_a_confidence_and_never_confirm(acme, social_source):
    ann = author(social_source, "ann_smith@social.example", "Ann Smith")
    bob = author(social_source, "bj@social.example", "Bob Jones")
    author(social_source, "carol@social.example", "Carol")

    record = customers(
        acme,
        ("c1", "Ann Smith", "Ann_Smith+shop@mail.example", "twitter:@Ann_Smith", "", ""),
        ("c2", "Bob Jones", "", "", "", ""),
        ("c3", "Bob  Jónes", "", "", "", ""),
        ("c4", "Carol", "", "", "", ""),  # one word: never suggested by name
    )

    found = {
        (m.customer.customer_id, m.author_id): (m.rule, m.confidence, m.status, m.kind)
        for m in AuthorMatch.objects.select_related("customer")
    }
    assert found == {
        # 1 - (1 - 0.6)(1 - 0.5)(1 - 0.4)
        ("c1", ann.pk): ("display_name+email_local+other_platform", 0.88, "suggested", "suggested"),
        # Two customers of that name: 0.4 / 2 each.
        ("c2", bob.pk): ("display_name", 0.2, "suggested", "suggested"),
        ("c3", bob.pk): ("display_name", 0.2, "suggested", "suggested"),
    }
    assert record.suggestions == 3
    assert not loyalists(acme).exists()


def test_suggestions_only_pair_authors_heard_in_the_brands_mentions(acme, other_brand):
    initech = Source.objects.create(brand=other_brand, kind="mastodon", url="https://i.example")
    author(initech, "fay_doe@social.example", "Fay Doe", text="initech is fine")
    customers(acme, ("c1", "Fay Doe", "fay_doe@mail.example", "", "", ""))
    assert not AuthorMatch.objects.exists()


def test_a_rejected_suggestion_is_never_suggested_again(acme, social_source, admin_user):
    author(social_source, "gil_roy@social.example", "Gil Roy")
    row = ("c1", "Gil Roy", "", "", "", "")
    customers(acme, row)
    suggestion = AuthorMatch.objects.get()

    match_decide(match=suggestion, user=admin_user, confirm=False)
    again = customers(acme, row)
    new_authors_match()

    suggestion.refresh_from_db()
    assert suggestion.status == "rejected" and suggestion.decided_by == admin_user
    assert again.suggestions == 0
    assert AuthorMatch.objects.count() == 1
    assert not loyalists(acme).exists()


def test_a_confirmed_suggestion_makes_a_loyalist_and_is_audited(acme, social_source, admin_user):
    from brands.models import AuditLog

    hal = author(social_source, "hal_kim@social.example", "Hal Kim")
    customers(acme, ("c1", "Hal Kim", "", "", "", ""))
    match_decide(match=AuthorMatch.objects.get(), user=admin_user, confirm=True)

    assert list(loyalists(acme)) == [hal]
    entry = AuditLog.objects.get(action="customers.match_confirm")
    assert (entry.actor, entry.brand, entry.after["status"]) == (admin_user, acme, "confirmed")


def test_an_exact_match_goes_when_the_handle_leaves_the_customers_data(acme, social_source):
    author(social_source, "ivy@social.example", "Ivy")
    customers(acme, ("c1", "Ivy", "", "mastodon:ivy@social.example", "", ""))
    assert loyalists(acme).exists()
    customers(acme, ("c1", "Ivy", "", "bluesky:ivy.example.com", "", ""))
    assert not loyalists(acme).exists()


def test_an_exact_handle_upgrades_a_pending_suggestion(acme, social_source):
    jo = author(social_source, "jo_park@social.example", "Jo Park")
    customers(acme, ("c1", "Jo Park", "", "", "", ""))
    assert AuthorMatch.objects.get().status == "suggested"
    customers(acme, ("c1", "Jo Park", "", "mastodon:jo_park@social.example", "", ""))
    match = AuthorMatch.objects.get()
    assert (match.author, match.kind, match.status, match.confidence) == (
        jo, "exact", "confirmed", 1.0
    )  # fmt: skip


def test_new_authors_are_matched_in_a_few_queries(acme, social_source, django_assert_num_queries):
    customers(acme, *[(f"c{i}", f"Person Number{i}", "", f"mastodon:p{i}@social.example", "", "")
                      for i in range(30)])  # fmt: skip
    for i in range(30):
        author(social_source, f"p{i}@social.example", f"Person Number{i}")
    # Savepoint, watermark, new authors, their keys, the exact insert, three suggestion
    # rules, the suggestions' insert between two counts, release: the same for 30 authors
    # as for 3 (the display names also suggest each exact pair, which is already matched).
    with django_assert_num_queries(12):
        keyed, counts = new_authors_match()
    assert keyed == 30
    assert counts.exact == 30 and counts.suggestions == 0
    assert AuthorKey.objects.count() == Author.objects.count()


def test_a_hacker_news_handle_matches_the_author_the_hn_connector_stored(acme):
    from listening.connectors.base import RawItem
    from listening.connectors.hn import HackerNewsConnector
    from listening.services import BrandMatcher, items_store, source_brands

    hn = Source.objects.create(brand=acme, kind="hn", url="https://hn.algolia.com")
    items_store(
        source=hn,
        items=[RawItem(external_id="hn1", body="Acme blender review", author_handle="pg")],
        matcher=BrandMatcher.for_brands(source_brands(hn)),
        platform=HackerNewsConnector.platform,
    )
    (pg,) = Author.objects.filter(platform="hackernews")

    customers(
        acme, ("c1", "Paul", "", "hn:pg", "", ""), ("c2", "Paula", "", "hackernews:PG2", "", "")
    )

    match = AuthorMatch.objects.get()
    assert (match.customer.customer_id, match.author, match.status) == ("c1", pg, "confirmed")
