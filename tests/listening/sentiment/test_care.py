"""The care-aware scorer (issue 13, part 1): each rule on sentences written for these tests.

Every test compares with plain VADER on the same text where that shows the rule doing its
work, so a rule that stopped firing fails here rather than only in the benchmark.
"""

from __future__ import annotations

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from listening.sentiment import SCORERS, get_scorer
from listening.sentiment.care import (
    CARE_NAME,
    DATA,
    NEGATIVE_THRESHOLD,
    POSITIVE_THRESHOLD,
    CareScorer,
    care_label,
    care_lexicon,
    care_patterns,
    normalise,
    pattern_hits,
    split_hashtag,
)
from listening.sentiment.vader import VaderScorer

STOCK = SentimentIntensityAnalyzer()
SCORER = CareScorer()


def care(text: str):
    return SCORER.score_many([text])[0]


def plain(text: str) -> float:
    return STOCK.polarity_scores(text)["compound"]


def rules(text: str) -> list[str]:
    return [p.rule for p in pattern_hits(normalise(text))]


# -- the examples ------------------------------------------------------------------


def test_a_long_delay_with_no_update_is_negative_and_clearly_more_than_plain_vader_says():
    text = "Order delayed 3 hours, still no update"
    scores = care(text)
    assert scores.label == "negative"
    assert scores.compound < plain(text) - 0.3
    assert {"waiting_time", "still_problem", "no_response"} <= set(rules(text))


def test_thanks_for_nothing_is_negative_where_plain_vader_reads_thanks():
    assert plain("Thanks for nothing") > 0.05
    assert care("Thanks for nothing").label == "negative"
    assert "sarcasm" in rules("Thanks for nothing")


# -- one sentence per complaint pattern ----------------------------------------------------

PATTERN_EXAMPLES = {
    "waiting_time": "I waited 45 mins on the phone today",
    "still_problem": "Still waiting for the engineer",
    "again": "Router down again?",
    "repeated_contact": "I have called your support line five times about this",
    "no_response": "Sent an email last week and never heard back",
    "on_hold": "Been put on hold by the billing team",
    "not_working": "The app keeps crashing when I open it",
    "money_problem": "You charged me twice for the same order",
    "wrong_item": "Got the wrong size in the parcel",
    "problem_question": "Where is my parcel?",
    "sarcasm": "Oh great. Another outage.",
    "wont_return": "Never ordering from this shop again",
    "indifference": "You clearly don't care about your customers",
    "exasperation": "Are you kidding me",
    "no_solution": "They told me there is nothing they can do",
    "demand_fix": "Please fix this, your website needs to improve",
    "good_service": "Issue resolved in five minutes, you rock",
    "polite_complaint": "My card was declined at checkout and no reply yet, thanks",
}


def test_every_pattern_in_the_data_file_has_an_example_here():
    assert sorted(PATTERN_EXAMPLES) == sorted(p.rule for p in care_patterns())


@pytest.mark.parametrize("rule", sorted(PATTERN_EXAMPLES))
def test_each_pattern_fires_on_its_example_and_moves_the_score_its_way(rule):
    text = PATTERN_EXAMPLES[rule]
    assert rule in rules(text)
    valence = next(p.valence for p in care_patterns() if p.rule == rule)
    named = dict(SCORER.explain(text))
    (delta,) = [d for what, d in named.items() if what.endswith(f"({rule})")]
    assert delta < 0 if valence < 0 else delta > 0


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        ("waiting_time", "2 hours of waiting and counting"),
        ("again", "For the third time my order is missing"),
        ("repeated_contact", "Emailed support twice about it"),
        ("no_response", "Got a canned response from the chat"),
        ("on_hold", "Long queues at the store"),
        ("not_working", "The courier was not on time"),
        ("not_working", "The website won't let me pay"),
        ("money_problem", "They charged my card 3 times"),
        ("wrong_item", "My order never arrived"),
        ("problem_question", "What gives?"),
        ("sarcasm", "So much for next day delivery"),
        ("wont_return", "I will not be buying here again"),
        ("wont_return", "#neverbuyingagain"),
        ("no_solution", "Apparently it's not their problem"),
        ("demand_fix", "Train your staff"),
        ("no_response", "The line is down and nobody has called back"),
        ("sarcasm", "Great, another update that breaks the app"),
        ("indifference", "Is this how you treat your customers?"),
        ("good_service", "She sorted my refund in minutes"),
        ("good_service", "Thank you so much for your help"),
        ("good_service", "Delivered on time"),
    ],
)
def test_other_branches_of_the_patterns_fire_too(rule, text):
    # Each regex only runs when a trigger word is present; a branch whose first word is not
    # among the triggers would never fire.
    assert rule in rules(text)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Thank you so much for your help", "positive"),
        ("Thanks a lot!", "positive"),
        ("Really great service!", "positive"),
        ("Delivered on time, thanks", "positive"),
        ("Come on in, we are open", "neutral"),
        ("I would buy again!", "neutral"),
        ("Great! More free data this month", "positive"),
        ("Could you tell me your opening hours?", "neutral"),
    ],
)
def test_praise_and_plain_questions_are_not_read_as_complaints(text, label):
    assert care(text).label == label


@pytest.mark.parametrize(
    "text",
    [
        "I waited 45 mins on the phone today",
        "Still waiting for the engineer",
        "Router down again?",
        "I have called your support line five times about this",
        "Sent an email last week and never heard back",
        "The app keeps crashing when I open it",
        "Never ordering from this shop again",
        "Are you kidding me",
        "Where is my parcel?",
    ],
)
def test_complaints_plain_vader_misses_are_negative(text):
    assert plain(text) > NEGATIVE_THRESHOLD
    assert care(text).label == "negative"


def test_thanks_or_please_count_against_only_beside_a_complaint():
    assert "polite_complaint" not in rules("Thanks, that was quick")
    assert care("Thanks, that was quick").label == "positive"
    assert "polite_complaint" in rules("Still no refund, thanks")


def test_a_pattern_that_needs_a_trigger_word_does_not_fire_without_one():
    # "3 hours" alone is not waiting: the regex needs "waited", "on hold", "for"...
    assert "waiting_time" not in rules("The 3 hours of the show flew by")


# -- care lexicon --------------------------------------------------------------------------


def test_requests_are_not_praise():
    assert plain("Please help") > 0.5
    assert care("Please help").compound == 0.0


def test_care_words_follow_vaders_negation_rule():
    assert care("My parcel was delayed").label == "negative"
    assert care("My parcel was not delayed").compound > 0


def test_the_lexicon_is_general_care_language_with_a_reason_on_every_line():
    lexicon = care_lexicon()
    assert "refund" in lexicon and "outage" in lexicon
    lines = [
        line
        for line in (DATA / "care_lexicon.tsv").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all(len(line.split("\t")) == 3 and line.split("\t")[2].strip() for line in lines)


# -- handles, URLs, hashtags, emoji --------------------------------------------------------


def test_handles_and_urls_do_not_move_the_score():
    base = care("I love the new update")
    assert care("@acme_help I love the new update") == base
    # A URL's "?" and "!" would count as emphasis in plain VADER.
    with_url = "I love the new update https://example.com/a?b=1!!"
    assert care(with_url).compound == base.compound
    assert plain(with_url) != plain("I love the new update")
    # A handle that happens to be a lexicon word scores nothing either.
    assert care("@love my order is here").compound == care("my order is here").compound


def test_an_email_address_is_not_a_handle():
    assert "support@example.com" in normalise("write to support@example.com")


def test_hashtags_split_into_words():
    assert split_hashtag("neverbuyingagain") == "never buying again"
    assert split_hashtag("NotHappyAtAll") == "not happy at all"
    assert split_hashtag("worstservice") == "worst service"
    assert split_hashtag("fail") == "fail"
    # Nothing sure to split into: the tag stays whole.
    assert split_hashtag("xqzvw") == "xqzvw"


def test_a_split_hashtag_is_scored_by_its_words():
    assert plain("#NotHappy") == 0.0
    assert care("#NotHappy").label == "negative"
    assert "wont_return" in rules("#neverbuyingagain")
    assert care("#neverbuyingagain").label == "negative"


def test_a_negation_inside_a_hashtag_does_not_reach_the_next_hashtag():
    # Without the fence, "never" would negate "fail" three words later.
    assert care("#neverbuyingagain #fail").label == "negative"


def test_emoji_get_care_valences():
    assert plain("Order arrived 👎") == 0.0
    assert care("Order arrived 👎").label == "negative"
    assert care("Order arrived 👍").compound > 0
    # The variation selector does not stand as a word of its own.
    assert care("Order arrived 👎\ufe0f") == care("Order arrived 👎")


def test_html_entities_and_curly_apostrophes_are_read_as_ascii_text():
    assert care("I can\u2019t log in").label == "negative"
    assert care("love it &lt;3").compound == care("love it <3").compound


def test_customer_text_cannot_spell_a_marked_word():
    # The mark is stripped first, so a text cannot carry a rule's valence by itself.
    assert care("\x1awaiting_time").compound == 0.0
    assert care("\x1asarcasm") == care("sarcasm")


def test_an_all_caps_text_gets_no_caps_emphasis_from_the_marks():
    shouted = care("MY ORDER IS LATE AGAIN")
    assert shouted.label == "negative"
    assert shouted.compound == care("my order is late again").compound


# -- labels, explanations, batches ---------------------------------------------------------


def test_labels_use_the_care_thresholds():
    assert care_label(POSITIVE_THRESHOLD) == "positive"
    assert care_label(NEGATIVE_THRESHOLD) == "negative"
    assert care_label((POSITIVE_THRESHOLD + NEGATIVE_THRESHOLD) / 2) == "neutral"


@pytest.mark.parametrize(
    "text",
    [
        "Order delayed 3 hours, still no update &amp; can\u2019t reach anyone",
        "@acme thanks for nothing #neverbuyingagain #fail https://example.com/x?y",
        "Please help, charged twice 👎\ufe0f and no response!!",
        "I love my new phone 👍",
        "no words at all",
    ],
)
def test_explain_adds_up_from_plain_vader_to_earshot(text):
    steps = SCORER.explain(text)
    total = plain(text) + sum(delta for _, delta in steps)
    assert total == pytest.approx(care(text).compound, abs=1e-9)


def test_explain_names_what_moved_the_score():
    whats = [what for what, _ in SCORER.explain("@acme Please help, still no refund #fail")]
    assert whats[0] == "left out 1 @handle"
    assert "'please': not sentiment in customer care" in whats
    assert any(what.startswith("'refund': care word") for what in whats)
    assert "still not sorted (still_problem)" in whats


def test_a_text_without_care_rules_explains_nothing_and_scores_as_vader():
    assert SCORER.explain("The weather is lovely today") == []
    assert care("The weather is lovely today").compound == plain("The weather is lovely today")


def test_both_scores_come_from_one_batch_call():
    texts = ["Thanks for nothing", "Where is my parcel?", "I love it"]
    pairs = SCORER.score_with_plain_many(texts)
    assert [p for p, _ in pairs] == VaderScorer().score_many(texts)
    assert [e for _, e in pairs] == SCORER.score_many(texts)
    assert [p.label for p, _ in pairs] == ["positive", "neutral", "positive"]
    assert [e.label for _, e in pairs] == ["negative", "negative", "positive"]


def test_the_scorer_is_registered_and_is_the_default(settings):
    assert SCORERS[CARE_NAME] is CareScorer
    assert get_scorer().name == CARE_NAME
    text = "Waiting 40 minutes on hold"
    assert get_scorer().score_many([text])[0].label == "negative"
    settings.EARSHOT_SENTIMENT_SCORER = "vader"
    assert get_scorer().score_many([text])[0].label == "neutral"


def test_plain_scores_from_the_batch_call_are_vaders_even_where_it_skips_a_second_pass():
    texts = [
        "I love it",  # nothing care-specific: one VADER pass serves both
        "I love it :((",  # an emoticon only the care lexicon knows
        "please call me",  # a VADER word the care lexicon drops
        "GREAT PHONE",
        "Kudos to the team",
        "Order arrived 👎",
        "",
    ]
    pairs = SCORER.score_with_plain_many(texts)
    assert [p for p, _ in pairs] == VaderScorer().score_many(texts)
    assert [e for _, e in pairs] == SCORER.score_many(texts)


def test_plain_scores_from_the_batch_call_are_vaders_on_real_text(shared_data):
    path = shared_data / "vader_ground_truth" / "movieReviewSnippets_GroundTruth.txt"
    lines = [line for line in path.read_bytes().decode("utf-8").split("\r\n") if line]
    texts = [line.split("\t", 2)[2] for line in lines[:3000]]
    pairs = SCORER.score_with_plain_many(texts)
    assert [p for p, _ in pairs] == VaderScorer().score_many(texts)
    assert [e for _, e in pairs] == SCORER.score_many(texts)


@pytest.mark.parametrize(
    "text",
    [
        # Written for this test: product faults in other domains than travel.
        "The app is so slow and buggy since the update",
        "My new kettle is leaking and the lid arrived cracked",
        "The laptop overheats and freezes every hour, unusable",
        "Flimsy and overpriced, the box came dented",
    ],
)
def test_product_faults_read_as_negative_where_plain_vader_hears_little(text):
    assert care(text).label == "negative"
    assert care(text).compound < plain(text) - 0.3
