"""Real conversations through the commands a script would run (issue 11): add_brand,
import_mentions (with and without --history), route_cases, then the figures care_report prints,
each worked out by hand here from the times in tests/engagement/data/conversations/.

Every brand's SLA is the default: first response within 60 minutes. The conversations are
dated 2025, long before the tests run, so every follow-up window (14 days) has closed and every
unanswered case's first response is overdue.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from brands.models import Brand
from engagement.models import CareSettings, Case, CaseMention
from listening.models import Mention, MentionMatch
from tests.fresh_process import production_env, run_fresh

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parent / "data" / "conversations"
FIELDS = [
    "cases",
    "answered",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_median_s",
    "sla_first_response_met_pct",
    "outcomes",
]
NO_OUTCOMES = dict.fromkeys(
    ["converted", "improved", "unchanged", "worsened", "no_further_word", "pending"], 0
)
MINUTE = 60


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def import_file(brand: str, name: str, *extra: str) -> str:
    return run(
        "import_mentions", str(DATA / name), "--brand", brand, "--platform", "twitter", *extra
    )


def route() -> str:
    return run("route_cases")


def figures(brand: str, *args: str) -> dict:
    return json.loads(run("care_report", "--brand", brand, *args))


def brand_figures(brand: str, *args: str) -> dict:
    data = figures(brand, *args)
    return {key: data[key] for key in FIELDS}


def summary(output: str) -> dict[str, int]:
    """route_cases' "kind: count" lines as a dict."""
    counts = {}
    for line in output.splitlines():
        name, sep, value = line.partition(": ")
        if sep and value.split(" ")[0].isdigit():
            counts[name] = int(value.split(" ")[0])
    return counts


@pytest.fixture
def acme() -> Brand:
    run("add_brand", "Acme", "--query", "@acme_help OR acme_help", "--handles", "@acme_help")
    return Brand.objects.get(name="Acme")


@pytest.fixture
def bolt() -> Brand:
    run("add_brand", "Bolt Mobile", "--query", "@boltcare OR boltcare", "--handles", "@boltcare")
    return Brand.objects.get(name="Bolt Mobile")


# Acme's four conversations (acme_threads.csv), worked out by hand:
#   carol a1 09:00, answered a2 09:05 -> 300 s; she comes back glad (a3): converted
#   dave  b1 10:00, answered b2 10:15 -> 900 s; no further word
#   erin  c1 11:00, answered c2 11:20 -> 1,200 s; no further word
#   frank d1 12:00, never answered: his first response was due at 13:00 and is overdue
# Responses 300, 900, 1200: median 900; p90 at position 0.9 x 2 = 1.8: 900 + 0.8 x 300 = 1140.
# SLA: carol, dave, erin within 60 minutes, frank not: 3 of 4 = 75.0 %. Nothing resolved yet.
ACME_LIVE = {
    "cases": 4,
    "answered": 3,
    "first_response_median_s": 900.0,
    "first_response_p90_s": 1140.0,
    "resolution_median_s": None,
    "sla_first_response_met_pct": 75.0,
    "outcomes": {**NO_OUTCOMES, "converted": 1, "no_further_word": 2},
}


def assert_acme_live(acme: Brand) -> None:
    data = figures("Acme")
    assert {key: data[key] for key in FIELDS} == ACME_LIVE
    # Nobody has claimed a case: one group, agent null, with the brand's own figures.
    assert data["agents"] == [{"agent": None, **ACME_LIVE}]
    carol = Case.objects.get(brand=acme, author__handle="carol")
    assert list(
        CaseMention.objects.filter(case=carol)
        .order_by("mention__published_at")
        .values_list("mention__external_id", "is_brand_reply")
    ) == [("a1", False), ("a2", True), ("a3", False), ("a4", True)]


def test_b_an_export_with_thread_ids(acme):
    import_file("Acme", "acme_threads.csv")
    out = route()

    assert summary(out)["opened"] == 4
    assert_acme_live(acme)


def test_c_the_same_export_with_only_in_reply_to(acme):
    import_file("Acme", "acme_reply_to.jsonl")
    route()

    assert_acme_live(acme)


def test_d_the_same_export_with_the_brand_posts_first_in_the_file(acme):
    import_file("Acme", "acme_brand_first.csv")
    route()

    assert_acme_live(acme)


def test_d_the_brand_posts_imported_and_routed_before_the_customers_posts(acme):
    import_file("Acme", "acme_brand_posts.csv")
    first = summary(route())
    # Nothing to answer yet: the four answers wait for the posts they answer.
    assert (first["opened"], first["brand replies"], first["waiting"]) == (0, 0, 4)
    assert not Case.objects.exists()

    import_file("Acme", "acme_customer_posts.csv")
    second = summary(route())

    assert second["opened"] == 4
    assert second["linked late"] == 4
    assert_acme_live(acme)


def test_b_c_d_print_the_same_report(acme):
    outputs = []
    for name in ("acme_threads.csv", "acme_reply_to.jsonl", "acme_brand_first.csv"):
        # One brand, one export at a time: start from no mentions and no cases.
        Case.objects.all().delete()
        Mention.objects.all().delete()
        import_file("Acme", name)
        route()
        outputs.append(run("care_report", "--brand", "Acme"))
    assert outputs[0] == outputs[1] == outputs[2]


def test_a_a_customer_with_two_conversations_open_at_once(bolt):
    import_file("Bolt Mobile", "bolt_two_conversations.csv")
    route()

    # gina g1 09:00 (thread g1), g2 09:10 (a second thread, joins her open case); the brand
    # answers the second conversation first, g3 09:40: first response 2,400 s after g1 (the
    # post that made the case need an answer). g4 10:10 answers g1 later.
    # hank k1 11:00, answered k2 11:10 -> 600 s.
    # Median (600 + 2400) / 2 = 1500; p90 at 0.9 x 1 = 0.9: 600 + 0.9 x 1800 = 2220.
    # Both within 60 minutes: 100.0 %. Neither spoke again: no further word, twice.
    assert brand_figures("Bolt Mobile") == {
        "cases": 2,
        "answered": 2,
        "first_response_median_s": 1500.0,
        "first_response_p90_s": 2220.0,
        "resolution_median_s": None,
        "sla_first_response_met_pct": 100.0,
        "outcomes": {**NO_OUTCOMES, "no_further_word": 2},
    }
    gina = Case.objects.get(brand=bolt, author__handle="gina")
    assert sorted(
        CaseMention.objects.filter(case=gina).values_list("mention__external_id", flat=True)
    ) == ["g1", "g2", "g3", "g4"]


def test_e_several_customers_in_one_thread(bolt):
    import_file("Bolt Mobile", "bolt_outage.jsonl")
    route()

    # ivan s1 14:00 opens the thread's case; judy (s2) and kate (s4) write in the same
    # thread and join it. The brand's first answer in it, s3 14:20 (to judy): 1,200 s after
    # s1. lena t1 16:00 asks in her own thread and is never answered (due 17:00, missed).
    # Answered: 1 -> median and p90 1200; SLA 1 of 2 = 50.0 %. ivan never spoke again.
    assert brand_figures("Bolt Mobile") == {
        "cases": 2,
        "answered": 1,
        "first_response_median_s": 1200.0,
        "first_response_p90_s": 1200.0,
        "resolution_median_s": None,
        "sla_first_response_met_pct": 50.0,
        "outcomes": {**NO_OUTCOMES, "no_further_word": 1},
    }
    thread = Case.objects.get(brand=bolt, author__handle="ivan")
    assert sorted(
        CaseMention.objects.filter(case=thread).values_list("mention__external_id", flat=True)
    ) == ["s1", "s2", "s3", "s4", "s5"]


def test_f_a_competitor_is_watched_not_served(acme):
    run(
        "add_brand",
        "Globex",
        "--query",
        "@globex_care OR globex",
        "--handles",
        "@globex_care",
        "--competitor-of",
        "Acme",
    )
    globex = Brand.objects.get(name="Globex")
    assert CareSettings.objects.get(brand=globex).care_enabled is False

    # Acme's import hears its competitor too.
    import_file("Acme", "globex_complaints.csv")
    out = route()

    assert MentionMatch.objects.filter(brand=globex).count() == 3
    assert not Case.objects.exists()
    assert summary(out)["opened"] == 0
    assert brand_figures("Globex") == {
        "cases": 0,
        "answered": 0,
        "first_response_median_s": None,
        "first_response_p90_s": None,
        "resolution_median_s": None,
        "sla_first_response_met_pct": None,
        "outcomes": NO_OUTCOMES,
    }


# Acme's history (acme_history.csv, only in_reply_to), worked out by hand:
#   mona h1 2025-09-01 08:00, answered h2 08:30 -> 1,800 s; glad at h3 08:40 (converted);
#        the last brand answer h4 08:45 resolves it: 2,700 s after the opening
#   nick h5 2025-09-02 10:00, never answered: "no answer, imported" (not in the resolution
#        median; his first response was due at 11:00: missed)
#   oscar h6 2025-09-03 12:00, answered h7 14:00 -> 7,200 s (missed the 60 minutes), resolved
#        then: 7,200 s; no further word
# Responses 1800, 7200: median 4500; p90 at 0.9 x 1 = 0.9: 1800 + 0.9 x 5400 = 6660.
# Resolution 2700, 7200: median 4950. SLA: mona only, 1 of 3 = 33.3 %.
ACME_HISTORY = {
    "cases": 3,
    "answered": 2,
    "first_response_median_s": 4500.0,
    "first_response_p90_s": 6660.0,
    "resolution_median_s": 4950.0,
    "sla_first_response_met_pct": 33.3,
    "outcomes": {**NO_OUTCOMES, "converted": 1, "no_further_word": 1},
}


def test_g_a_history_import_files_closed_cases_that_count_in_the_figures(acme):
    out = import_file("Acme", "acme_history.csv", "--history")

    assert "7 row(s) read, 7 new" in out
    assert "history cases filed: 3 (2 answered, 1 no answer, imported)" in out
    assert brand_figures("Acme") == ACME_HISTORY
    cases = {c.author.handle: c for c in Case.objects.select_related("author")}
    assert {h: (c.is_history, c.status) for h, c in cases.items()} == {
        "mona": (True, "resolved"),
        "nick": (True, "resolved"),
        "oscar": (True, "resolved"),
    }
    assert cases["nick"].first_response_at is None
    # Nothing of it is in the live queue.
    assert not Case.objects.filter(status__in=Case.OPEN_STATUSES).exists()

    # Importing it again stores and files nothing new.
    again = import_file("Acme", "acme_history.csv", "--history")
    assert "0 new, 7 duplicate" in again
    assert "history cases filed: 0 (0 answered, 0 no answer, imported)" in again
    assert brand_figures("Acme") == ACME_HISTORY


def test_g_history_and_live_together_and_the_period_picks_them_apart(acme):
    import_file("Acme", "acme_history.csv", "--history")
    import_file("Acme", "acme_threads.csv")
    route()

    # Live cases never joined the history ones, and the other way round.
    assert Case.objects.filter(is_history=True).count() == 3
    assert Case.objects.filter(is_history=False).count() == 4
    assert brand_figures("Acme", "--until", "2025-09-30") == ACME_HISTORY
    assert brand_figures("Acme", "--since", "2025-10-01") == ACME_LIVE
    # Only mona and nick opened on 1-2 September: responses [1800] -> 1800; resolved [2700];
    # SLA: mona met, nick missed: 50.0 %.
    assert brand_figures("Acme", "--since", "2025-09-01", "--until", "2025-09-02") == {
        "cases": 2,
        "answered": 1,
        "first_response_median_s": 1800.0,
        "first_response_p90_s": 1800.0,
        "resolution_median_s": 2700.0,
        "sla_first_response_met_pct": 50.0,
        "outcomes": {**NO_OUTCOMES, "converted": 1},
    }
    # All seven: responses 300, 900, 1200, 1800, 7200 -> median 1200; p90 at 0.9 x 4 = 3.6:
    # 1800 + 0.6 x 5400 = 5040. Resolved: 2700, 7200 -> 4950. SLA: 3 + 1 of 4 + 3 = 57.1 %.
    assert brand_figures("Acme") == {
        "cases": 7,
        "answered": 5,
        "first_response_median_s": 1200.0,
        "first_response_p90_s": 5040.0,
        "resolution_median_s": 4950.0,
        "sla_first_response_met_pct": 57.1,
        "outcomes": {**NO_OUTCOMES, "converted": 2, "no_further_word": 3},
    }


def test_route_cases_settles_and_a_second_run_changes_nothing(acme):
    import_file("Acme", "acme_threads.csv")
    first = route()
    assert "settled." in first.splitlines()[0]
    before = list(
        Case.objects.order_by("pk").values_list(
            "pk", "status", "first_response_at", "outcome", "priority"
        )
    )

    second = route()

    # The clock moved since the first run, so priorities may change once: two rounds at most.
    assert second.splitlines()[0] in {
        "Routed 0 mention(s) in 1 round(s); settled.",
        "Routed 0 mention(s) in 2 round(s); settled.",
    }
    counts = summary(second)
    assert counts["opened"] == counts["joined"] == counts["brand replies"] == 0
    assert counts["follow-ups changed"] == 0
    # Priorities move with the clock (waiting time), nothing else does.
    after = list(
        Case.objects.order_by("pk").values_list(
            "pk", "status", "first_response_at", "outcome", "priority"
        )
    )
    assert [row[:4] for row in after] == [row[:4] for row in before]


def test_route_cases_refuses_a_round_limit_below_one(db):
    with pytest.raises(CommandError, match="--max-rounds must be at least 1"):
        run("route_cases", "--max-rounds", "0")


def test_route_cases_that_does_not_settle_says_so_and_exits_non_zero(acme):
    import_file("Acme", "acme_threads.csv")
    out = io.StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("route_cases", "--max-rounds", "1", stdout=out, stderr=io.StringIO())

    assert "Still changing after 1 round(s)" in str(caught.value)
    # What it did is printed all the same, and stays done.
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "Routed 9 mention(s) in 1 round(s); NOT settled: the last round still changed something."
    )
    counts = summary(out.getvalue())
    # a1, b1, c1, d1 open; a3 joins; a2, a4, b2, c2 are the brand's answers.
    assert (counts["opened"], counts["joined"], counts["brand replies"]) == (4, 1, 4)
    assert "settled." in route().splitlines()[0]


def test_route_cases_that_cannot_reach_the_database_exits_1_saying_why(tmp_path):
    # A real process against a PostgreSQL port where nothing listens.
    env = production_env(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:1/earshot")

    # --skip-checks: this instance never ran collectstatic, which is not the point here.
    done = run_fresh(env, "manage.py", "route_cases", "--skip-checks")

    assert done.returncode == 1
    assert done.stdout == ""
    assert "Routing stopped: OperationalError:" in done.stderr
    assert "re-running route_cases continues from there." in done.stderr
    assert "Traceback" not in done.stderr
