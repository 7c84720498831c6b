"""Explanation benchmark: the case page's "why?" on one long mention, against stock VADER.

Run with the venv's python from the repository root (no database needed):

    .venv/bin/python bench/explain.py

It builds one ~100 KB text from real tweets and review snippets (../shared/data, as the tests
read them; a generated text of lexicon, booster, negation and emoji words when the corpora are
missing), then, pinned to one core, times listening.sentiment_explain.explain_text on it
(median of --runs) and, in the same run, stock vaderSentiment's polarity_scores on the same
text (once by default: stock is quadratic in length, which is what issue 9 was about, and one
100 KB text takes it tens of seconds). The fast stock-identical scorer that ingest uses is
printed too, for scale.

Times are CPU time of this process (time.process_time), not wall time, so that other work on
a shared machine does not inflate either side; both sides are single-threaded.

The last line is: RESULT explain_100kb_ms=<x> vader_100kb_ms=<y>
(x: the explanation; y: stock VADER polarity_scores; both in milliseconds on the same text).
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where bench/queue.py would shadow the
# standard library's queue module for everything imported after it.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("/bench")]

import argparse
import csv
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Where the tests' shared_data fixture looks (tests/conftest.py): $EARSHOT_SHARED_DATA or
# ../shared/data.
SHARED_DATA = Path(
    os.environ.get("EARSHOT_SHARED_DATA", "").strip() or REPO.parent / "shared" / "data"
)

GENERATED_WORDS = [
    "the",
    "flight",
    "was",
    "great",
    "but",
    "the",
    "crew",
    "NOT",
    "very",
    "helpful",
    "kind",
    "of",
    "rude",
    "no",
    "good",
    "at",
    "least",
    "never",
    "so",
    "bad",
    "without",
    "doubt",
    "love",
    "hate",
    "awesome",
    "terrible",
    "delayed",
    "again",
    "refund",
    "please",
    "thanks",
    "@united",
    "#fail",
    ":)",
    "😀",
    "😡",
    "!!",
    "?",
]


def corpus_texts() -> list[str]:
    texts: list[str] = []
    truth = SHARED_DATA / "vader_ground_truth"
    for name in ("tweets_GroundTruth.txt", "movieReviewSnippets_GroundTruth.txt"):
        path = truth / name
        if path.is_file():
            # CRLF lines, read as bytes: text mode would also split inside the texts.
            lines = path.read_bytes().decode("utf-8").split("\r\n")
            texts.extend(line.split("\t", 2)[2] for line in lines if line)
    airline = SHARED_DATA / "airline_tweets" / "airline_tweets_dev.csv"
    if airline.is_file():
        with airline.open(encoding="utf-8", newline="") as f:
            texts.extend(row["text"] for row in csv.DictReader(f))
    return texts


def build_text(size: int, seed: int) -> tuple[str, str]:
    rng = random.Random(seed)
    texts = corpus_texts()
    parts: list[str] = []
    length = 0
    if texts:
        origin = f"{len(texts)} corpus texts under {SHARED_DATA}"
        while length < size:
            parts.append(rng.choice(texts))
            length += len(parts[-1]) + 1
    else:
        origin = "generated words (shared corpora not found)"
        while length < size:
            parts.append(rng.choice(GENERATED_WORDS))
            length += len(parts[-1]) + 1
    return " ".join(parts)[:size], origin


def time_ms(function: Callable[[str], object], text: str, runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.process_time()
        function(text)
        timings.append((time.process_time() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=int, default=100, help="Text size in KB (1000 chars).")
    parser.add_argument("--runs", type=int, default=9, help="Explanation runs (median).")
    parser.add_argument("--stock-runs", type=int, default=1, help="Stock VADER runs (median).")
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()

    # One core for both sides, so neither gets more CPU than the other.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from listening.sentiment import get_analyzer
    from listening.sentiment_explain import explain_text

    text, origin = build_text(args.kb * 1000, args.seed)
    stock = SentimentIntensityAnalyzer()
    fast = get_analyzer()
    explanation = explain_text(text)  # warm up (lexicon load) and check it explains the score
    if explanation.compound != fast.polarity_scores(text)["compound"]:
        raise SystemExit("the explanation's compound differs from the stored score")
    print(
        f"text: {len(text):,} characters, {len(explanation.words):,} tokens, "
        f"{sum(1 for w in explanation.words if w.contribution):,} scored, from {origin}"
    )

    explain_ms = time_ms(explain_text, text, args.runs)
    print(f"explain_text: {explain_ms:,.1f} ms (median of {args.runs})")
    fast_ms = time_ms(fast.polarity_scores, text, args.runs)
    print(f"fast polarity_scores (ingest's scorer): {fast_ms:,.1f} ms (median of {args.runs})")
    stock_ms = time_ms(stock.polarity_scores, text, args.stock_runs)
    print(f"stock VADER polarity_scores: {stock_ms:,.1f} ms (median of {args.stock_runs})")
    print(f"RESULT explain_100kb_ms={explain_ms:.0f} vader_100kb_ms={stock_ms:.0f}")


if __name__ == "__main__":
    main()
