"""Every feed of the shared real-world corpora through the real HTTP path into the database."""

from __future__ import annotations

import mimetypes
import string
from collections import Counter
from pathlib import Path

import pytest

from listening.connectors.base import ConnectorError
from listening.connectors.rss import parse_feed
from listening.models import FetchLog, Mention, MentionMatch, Source
from listening.query import MatchDocument, compile_query
from listening.services import brand_create, source_poll
from listening.text import item_text

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# A query that matches any text with a word starting with a Latin letter or a digit: nearly
# every item of the corpora, so storage (not matching) is what this test exercises.
MATCH_ALMOST_ALL = " OR ".join(f"{c}*" for c in string.ascii_lowercase + string.digits)
KNOWN_ERRORS = {"malformed_feed", "not_a_feed", "too_large", "http_4xx"}


def corpus_files(shared_data: Path) -> list[tuple[str, Path]]:
    files = []
    for folder in ("feedparser_corpus", "feeds_realworld_rss_parser"):
        root = shared_data / folder
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.name not in ("README.md", "SHA256SUMS"):
                files.append((f"/{folder}/{path.relative_to(root).as_posix()}", path))
    return files


def expected_external_ids(path: Path, url: str, query) -> set[str] | None:
    """What the pipeline should store for this file, from the public parse and match API."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    try:
        parsed = parse_feed(path.read_bytes(), content_type=content_type, url=url)
    except ConnectorError:
        return None
    expected = set()
    for item in parsed.items:
        text = item_text(item.title, item.body)
        author = f"{item.author_handle} {item.author_name}".strip()
        doc = MatchDocument(text, author=author, url=item.url, lang=item.language)
        if text and query.match(doc):
            expected.add(item.external_id)
    return expected


def test_every_corpus_feed_is_stored_exactly_once_or_its_failure_recorded(feed_server, shared_data):
    brand = brand_create(name="Everything", query=MATCH_ALMOST_ALL)
    query = compile_query(MATCH_ALMOST_ALL)
    for folder in ("feedparser_corpus", "feeds_realworld_rss_parser"):
        feed_server.add_directory(f"/{folder}/", shared_data / folder)
    files = corpus_files(shared_data)
    assert len(files) > 2000
    sources = Source.objects.bulk_create(
        [Source(brand=brand, kind="rss", url=feed_server.url(route)) for route, _ in files]
    )

    for source in sources:
        result = source_poll(source_id=source.pk)  # must not raise
        assert result is not None

    logs = {log.source_id: log for log in FetchLog.objects.all()}
    assert len(logs) == len(sources), "every fetch is logged"
    stored = Counter(Mention.objects.values_list("source_id", flat=True))
    outcomes: Counter[str] = Counter()
    mismatches = []
    for source, (_route, path) in zip(sources, files, strict=True):
        log = logs[source.pk]
        assert log.finished_at is not None
        if log.error_class:
            outcomes[log.error_class] += 1
            assert log.error_class in KNOWN_ERRORS, (path, log.error_class, log.error_message)
            assert log.error_message, path
            assert stored[source.pk] == 0
            continue
        outcomes["ok"] += 1
        assert log.items_new + log.items_duplicate + log.items_unmatched == log.items_seen
        assert stored[source.pk] == log.items_new
        expected = expected_external_ids(path, source.url, query)
        actual = set(Mention.objects.filter(source=source).values_list("external_id", flat=True))
        if expected != actual:
            mismatches.append(path.name)
    assert not mismatches, f"stored items differ from the parsed feed for {mismatches[:20]}"
    assert outcomes["ok"] > 1500, outcomes
    assert sum(stored.values()) > 1500
    assert MentionMatch.objects.count() == sum(stored.values())

    # A second round over every feed stores nothing new.
    before = Mention.objects.count()
    for source in sources:
        source_poll(source_id=source.pk)
    assert Mention.objects.count() == before
    second_round = FetchLog.objects.filter(error_class="").exclude(
        pk__in=[log.pk for log in logs.values()]
    )
    assert sum(second_round.values_list("items_new", flat=True)) == 0
