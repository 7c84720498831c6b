"""The demo's content (demo/content.py): a 90-day window, stable ids, and texts that score
and match as they were written."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from demo import content
from listening.query import MatchDocument, compile_query
from listening.sentiment import score_text
from listening.text import item_text

# Fixed clocks, so the content assertions do not depend on the day the tests run; one of them
# is "now" to catch anything that only breaks with the real clock.
NOWS = [
    datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 7, 14, 3, 30, 17, tzinfo=UTC),
    datetime.now(UTC).replace(microsecond=0),
]
FIXED_NOW = NOWS[0]


def all_items(now: datetime) -> list[content.DemoItem]:
    return [item for spec in content.FEEDS.values() for item in content.feed_items(spec, now)]


# --- Content --------------------------------------------------------------------------------


@pytest.mark.parametrize("now", NOWS)
def test_feeds_list_the_last_90_days_only(now: datetime) -> None:
    total = 0
    for spec in content.FEEDS.values():
        items = content.feed_items(spec, now)
        assert 100 <= len(items) <= content.MAX_FEED_ITEMS
        assert all(now - content.DEMO_WINDOW < item.published <= now for item in items)
        # Nothing missing at either edge: the neighbours just outside are outside.
        first, last = items[-1].index, items[0].index
        assert content.item_time(spec, first - 1) <= now - content.DEMO_WINDOW
        assert content.item_time(spec, last + 1) > now
        assert [item.index for item in items] == list(range(last, first - 1, -1))
        total += len(items)
    assert 450 <= total <= 600


def test_items_are_stable_and_new_ones_appear_over_time() -> None:
    later = FIXED_NOW + timedelta(days=2)
    for spec in content.FEEDS.values():
        before = {item.id: item for item in content.feed_items(spec, FIXED_NOW)}
        after = {item.id: item for item in content.feed_items(spec, later)}
        shared = before.keys() & after.keys()
        assert len(shared) > 100
        assert all(before[key] == after[key] for key in shared)
        # About two days' worth of items arrived, and as many aged out.
        assert 2 <= len(after.keys() - before.keys()) <= 6
        assert before == {item.id: item for item in content.feed_items(spec, FIXED_NOW)}
        assert all(key.startswith(f"urn:earshot-demo:{spec.name}:") for key in before)


def test_content_mix_scores_as_written_under_vader() -> None:
    items = all_items(FIXED_NOW)
    on_topic = [item for item in items if item.intent != "noise"]
    labels = Counter()
    agree = 0
    for item in on_topic:
        label = score_text(item_text(item.title, item.body_html)).label
        labels[label] += 1
        agree += label == item.intent
    scored = [item for item in on_topic if item.intent in ("negative", "positive", "neutral")]
    assert agree / len(scored) > 0.9
    shares = {label: count / len(on_topic) for label, count in labels.items()}
    assert 0.28 <= shares["negative"] <= 0.42
    assert 0.28 <= shares["positive"] <= 0.42
    assert 0.20 <= shares["neutral"] <= 0.38
    assert 0.05 <= (len(items) - len(on_topic)) / len(items) <= 0.15


def test_content_matches_the_brand_queries_it_is_about() -> None:
    queries = {brand.name: compile_query(brand.query) for brand in content.BRANDS}
    per_brand: Counter[str] = Counter()
    for item in all_items(FIXED_NOW):
        doc = MatchDocument(item_text(item.title, item.body_html))
        matched = {name for name, query in queries.items() if query.match(doc)}
        assert matched == set(item.brands), item
        per_brand.update(matched)
    acme, globex, initech = (per_brand[b.name] for b in content.BRANDS)
    assert acme > globex + initech
    assert globex > 60 and initech > 60


def test_content_has_markup_emoji_regulars_and_anonymous_posts() -> None:
    items = all_items(FIXED_NOW)
    bodies = [item.body_html for item in items]
    assert any("&amp;" in body for body in bodies)
    assert any("<b>" in body for body in bodies)
    assert any(not body.isascii() for body in bodies)
    authors = Counter(item.author.handle for item in items if item.author)
    assert authors.most_common(1)[0][1] >= 8
    assert sum(item.author is None for item in items) >= 10
    # Links stay on fictional domains.
    assert all(urlsplit(item.url).hostname.endswith(".example") for item in items)


# --- The Hacker News and Mastodon content --------------------------------------------------


def test_hn_threads_hold_together() -> None:
    items = {item.object_id: item for item in content.hn_items(FIXED_NOW)}
    comments = [item for item in items.values() if item.kind == "comment"]
    nested = [c for c in comments if c.parent_id != c.story_id]
    assert len(comments) > 100 and len(nested) > 20
    for comment in comments:
        parent = content.hn_item_at(comment.parent_id - content.HN_ID_BASE)
        assert parent.published < comment.published
        assert parent.story_id == comment.story_id


@pytest.mark.parametrize("source", ["hn", "mastodon"])
def test_api_content_scores_as_written(source: str) -> None:
    if source == "hn":
        texts = [
            (item.intent, item_text(item.title, item.story_text or item.comment_text or item.url))
            for item in content.hn_items(FIXED_NOW)
        ]
    else:
        texts = [
            (toot.intent, item_text(toot.spoiler_text, content.toot_html(toot)))
            for toot in content.toots(FIXED_NOW)
        ]
    scored = [(intent, score_text(text).label) for intent, text in texts]
    written = [(i, label) for i, label in scored if i in ("negative", "positive", "neutral")]
    assert sum(i == label for i, label in written) / len(written) > 0.9
    labels = Counter(label for _, label in scored)
    assert all(labels[label] / len(scored) > 0.2 for label in ("negative", "positive", "neutral"))
