"""Every shared corpus file parses without surprises, and the fast path matches feedparser."""

from pathlib import Path

import pytest

from listening.connectors.rss import (
    FeedParseError,
    parse_feed,
    parse_feed_fast,
    parse_feed_feedparser,
)
from listening.text import clean_text

pytestmark = pytest.mark.slow


def _files(shared_data: Path) -> list[Path]:
    corpus = [
        p
        for p in sorted((shared_data / "feedparser_corpus").rglob("*"))
        if p.suffix in (".xml", ".json")
    ]
    realworld = [
        p
        for p in sorted((shared_data / "feeds_realworld_rss_parser").iterdir())
        if p.is_file() and p.name not in ("README.md", "SHA256SUMS")
    ]
    return corpus + realworld


def _comparable(item):  # noqa: ANN001, ANN202 - a RawItem in, a tuple out
    return (
        item.external_id,
        item.url,
        clean_text(item.title),
        clean_text(item.body),
        item.author_handle,
        item.author_name,
        item.author_url,
        item.published_at,
        item.language,
    )


def test_every_file_parses_and_fast_path_matches_feedparser(shared_data: Path) -> None:
    files = _files(shared_data)
    assert len(files) > 2000
    unexpected, mismatches, fast = [], [], []
    for path in files:
        body = path.read_bytes()
        try:
            parse_feed(body)
        except FeedParseError:
            pass
        except Exception as exc:  # noqa: BLE001 - the point is to list any other exception
            unexpected.append(f"{path}: {exc!r}")
        parsed = parse_feed_fast(body)
        if parsed is None:
            continue
        fast.append(path)
        reference = parse_feed_feedparser(body)
        if [_comparable(i) for i in parsed.items] != [_comparable(i) for i in reference.items]:
            mismatches.append(str(path))
    realworld_fast = [p.name for p in fast if p.parent.name == "feeds_realworld_rss_parser"]
    print(f"fast path: {len(fast)} of {len(files)} files; real-world: {realworld_fast}")
    assert not unexpected, "\n".join(unexpected)
    assert not mismatches, "fast path differs from feedparser:\n" + "\n".join(mismatches)
    # Well-formed RSS 2.0 / Atom 1.0 / RSS 1.0 real-world feeds must take the fast path.
    for name in (
        "guardian.rss",
        "content-encoded.rss",
        "heise.atom",
        "feedburner.atom",
        "rss-1.rss",
        "craigslist.rss",
    ):
        assert name in realworld_fast
    assert len(fast) > 800
