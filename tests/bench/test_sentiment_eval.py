"""bench/sentiment_eval.py and the issue 13 targets it measures, on the shared dev data.

The targets are checked on half b of the airline dev split (tweet-id hash, see the bench's
docstring), which choosing the care thresholds and the learned model's settings never used.
The output format is checked by running the bench as a script on small files written here.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from listening.sentiment.base import label_for
from listening.sentiment.care import CareScorer
from listening.sentiment.learned import classification_figures, model_train, model_validate

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench" / "sentiment_eval.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("sentiment_eval", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load_bench()


@pytest.fixture(scope="module")
def airline_dev() -> Path:
    from tests.conftest import is_ci, shared_data_dir

    path = shared_data_dir() / "airline_tweets" / "airline_tweets_dev.csv"
    if not path.is_file():
        if is_ci():
            pytest.fail(f"CI=true: {path} is missing", pytrace=False)
        pytest.skip(f"{path} not found")
    return path


def test_the_halves_split_the_dev_file_evenly_and_keep_repeated_ids_together(airline_dev):
    a = bench.read_labelled(airline_dev, "a")
    b = bench.read_labelled(airline_dev, "b")
    assert len(a) + len(b) == 7313
    assert abs(len(a) - len(b)) < 200
    assert not {r["tweet_id"] for r in a} & {r["tweet_id"] for r in b}


def test_care_scorer_meets_the_target_on_the_held_out_half(airline_dev):
    rows = bench.read_labelled(airline_dev, "b")
    labels = [r["airline_sentiment"] for r in rows]
    care = classification_figures(
        labels, [s.label for s in CareScorer().score_many([r["text"] for r in rows])]
    )
    stock = SentimentIntensityAnalyzer()
    vader = classification_figures(
        labels,
        [label_for(stock.polarity_scores(r["text"])["compound"]) for r in rows],
    )
    assert vader.macro_f1 < 0.5  # the starting point, about 0.46
    assert care.macro_f1 >= 0.62


def test_learned_model_trained_on_one_half_adds_to_the_care_scorer_on_the_other(airline_dev):
    train = bench.read_labelled(airline_dev, "a")
    test = bench.read_labelled(airline_dev, "b")
    model = model_train([r["text"] for r in train], [r["airline_sentiment"] for r in train])
    figures = model_validate(
        model, [r["text"] for r in test], [r["airline_sentiment"] for r in test]
    )
    # The target. This model reaches 0.786-0.790 over inner-fold seeds (see the
    # README; without its sentence-embedding member 0.773-0.779, one NB-LR 0.763).
    assert figures.macro_f1 >= 0.78


@pytest.mark.parametrize("name", ["tweets_GroundTruth.txt", "movieReviewSnippets_GroundTruth.txt"])
def test_general_text_is_scored_no_worse_than_plain_vader(shared_data, name):
    records = bench.read_ground_truth(shared_data / "vader_ground_truth" / name)
    assert len(records) in (4200, 10605)
    human = [mean for mean, _ in records]
    texts = [text for _, text in records]
    stock = SentimentIntensityAnalyzer()
    vader_r = statistics.correlation([stock.polarity_scores(t)["compound"] for t in texts], human)
    care_r = statistics.correlation([s.compound for s in CareScorer().score_many(texts)], human)
    assert care_r >= vader_r - 0.02


# -- the script's output -------------------------------------------------------------------

ROWS = [
    ("negative", "my order is late again and nobody answers the phone"),
    ("negative", "still waiting for my refund after two weeks"),
    ("negative", "the app keeps crashing, worst update ever"),
    ("negative", "charged twice this month and no reply to my emails"),
    ("negative", "parcel never arrived, this is a joke"),
    ("negative", "on hold for an hour, terrible service"),
    ("neutral", "what time does the store open on sunday"),
    ("neutral", "can I change the delivery address for my order"),
    ("neutral", "is there a student discount on the yearly plan"),
    ("neutral", "do you ship to the islands"),
    ("neutral", "how do I add a second card to my account"),
    ("neutral", "which plan has the most data"),
    ("positive", "thanks for the quick fix, you are the best"),
    ("positive", "love the new app, great work team"),
    ("positive", "parcel arrived early, thank you so much"),
    ("positive", "brilliant support today, problem solved in minutes"),
    ("positive", "great service in the shop this morning, thanks"),
    ("positive", "the new router is fantastic, thank you"),
]


def run_bench(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(BENCH), *args, "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


@pytest.fixture
def small_csv(tmp_path) -> Path:
    path = tmp_path / "labelled.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["tweet_id", "airline_sentiment", "text"])
        for n, (label, text) in enumerate(ROWS):
            writer.writerow([str(1000 + n), label, text])
    return path


def test_the_bench_prints_every_scorers_figures_and_ends_with_the_result_line(small_csv):
    lines = run_bench(str(small_csv), "--learn-from", str(small_csv))
    assert re.fullmatch(
        r"RESULT care_macro_f1=\d\.\d{3} vader_macro_f1=\d\.\d{3} "
        r"learned_macro_f1=\d\.\d{3} care_speed_ratio=\d+\.\d{2}",
        lines[-1],
    ), lines[-1]
    output = "\n".join(lines)
    for heading in ("Plain VADER", "Earshot care-aware", "Learned model"):
        assert heading in output
    assert output.count("macro-F1") >= 3
    assert output.count("texts/s") >= 3
    # Three confusion matrices, each row adding up to that label's 6 rows in the file.
    for label in ("negative", "neutral", "positive"):
        rows = re.findall(rf"^\s+{label}\s+(\d+)\s+(\d+)\s+(\d+)$", output, re.MULTILINE)
        assert [sum(map(int, row)) for row in rows] == [6, 6, 6]


def test_without_a_training_file_the_learned_figure_is_na(small_csv):
    last = run_bench(str(small_csv))[-1]
    assert " learned_macro_f1=n/a " in last


def test_on_a_ground_truth_file_the_bench_reports_pearson(tmp_path):
    path = tmp_path / "ratings.txt"
    ratings = [(-3.1, "worst service ever"), (2.8, "love it"), (0.1, "it is a phone")]
    ratings += [(-1.5, "still no refund"), (1.9, "thanks, great help")]
    path.write_bytes(
        "".join(f"{n}\t{mean}\t{text}\r\n" for n, (mean, text) in enumerate(ratings)).encode()
    )
    last = run_bench(str(path))[-1]
    assert re.fullmatch(r"RESULT care_pearson=-?\d\.\d{4} vader_pearson=-?\d\.\d{4}", last), last
