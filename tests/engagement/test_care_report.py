"""care_report as scripts and checks call it: the figures of cases written here by hand, each
expected value worked out in the test. End-to-end figures over routed conversations are in
test_route_cases.py."""

from __future__ import annotations

import csv
import io
import json
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from brands.models import Membership
from engagement.models import Case
from engagement.selectors.care_report import median, percentile_cont
from tests.brands.conftest import make_user

pytestmark = pytest.mark.django_db

FIELDS = [
    "cases",
    "answered",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_median_s",
    "sla_first_response_met_pct",
    "outcomes",
]
NO_OUTCOMES = {
    "converted": 0,
    "improved": 0,
    "unchanged": 0,
    "worsened": 0,
    "no_further_word": 0,
    "pending": 0,
}
DAY = datetime(2025, 10, 6, tzinfo=UTC)


def at(hours: float, minutes: float = 0, seconds: float = 0) -> datetime:
    return DAY + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def report(*args: str) -> str:
    out = io.StringIO()
    call_command("care_report", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def report_json(*args: str) -> dict:
    return json.loads(report(*args))


def report_csv(*args: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(report(*args, "--format", "csv"))))


def case(brand, opened_at, **fields) -> Case:
    fields.setdefault("first_response_due", opened_at + timedelta(hours=1))
    fields.setdefault("status", Case.Status.OPEN)
    return Case.objects.create(brand=brand, kind=Case.Kind.CARE, opened_at=opened_at, **fields)


# --- median and p90 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([42.0], 42.0),
        ([300, 1200, 900], 900),  # odd: the middle one
        ([300, 900, 1200, 2000], (900 + 1200) / 2),  # even: the mean of the two middle ones
        ([5, 1], 3),
    ],
)
def test_median_is_the_usual_median(values, expected):
    assert median(values) == expected
    if values:
        assert median(values) == statistics.median(values)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([42.0], 42.0),
        # sorted 300, 900, 1200: position 0.9 x 2 = 1.8 -> 900 + 0.8 x (1200 - 900) = 1140
        ([1200, 300, 900], 1140.0),
        # sorted 300, 600, 900, 1200, 7200: 0.9 x 4 = 3.6 -> 1200 + 0.6 x 6000 = 4800
        ([300, 600, 900, 1200, 7200], 4800.0),
        # two: 0.9 x 1 = 0.9 -> 600 + 0.9 x 1800 = 2220
        ([600, 2400], 2220.0),
    ],
)
def test_p90_interpolates_between_the_closest_ranks(values, expected):
    assert percentile_cont(values, 0.9) == pytest.approx(expected)
    if len(values) > 1:
        # The stock library's "inclusive" quantiles are the same rule.
        assert percentile_cont(values, 0.9) == pytest.approx(
            statistics.quantiles(values, n=10, method="inclusive")[8]
        )


def test_p90_equals_postgresql_percentile_cont():
    if connection.vendor != "postgresql":
        pytest.skip("percentile_cont is PostgreSQL's")
    samples = [[1.0], [3.0, 1.0], [300, 900, 1200], [7, 1, 5, 3, 9, 11, 2.5, 8, 100, 4, 6]]
    for values in samples:
        for fraction in (0.5, 0.9):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT percentile_cont(%s) WITHIN GROUP (ORDER BY x) "
                    "FROM unnest(%s::float8[]) AS x",
                    [fraction, [float(v) for v in values]],
                )
                expected = cursor.fetchone()[0]
            assert percentile_cont(values, fraction) == pytest.approx(expected)
        assert median(values) == pytest.approx(percentile_cont(values, 0.5))


# --- the figures of hand-made cases -------------------------------------------------------


@pytest.fixture
def cases(acme, agent, teammate, other_brand):
    """Cases whose figures the test below works out by hand. agent is "ana", teammate "tom"."""
    ana, tom = agent, teammate
    # 1. ana: answered 300 s after it needed one; resolved after 2 h; converted.
    case(
        acme,
        at(9),
        assignee=ana,
        needs_answer_at=at(9),
        first_response_at=at(9, 5),
        resolved_at=at(11),
        status=Case.Status.RESOLVED,
        outcome=Case.Outcome.CONVERTED,
    )
    # 2. ana: opened at 10:00 but needed an answer only at 10:10; answered 10:25 = 900 s
    #    (not 1,500 from the opening); due 11:10; improved; still waiting on the customer.
    case(
        acme,
        at(10),
        assignee=ana,
        needs_answer_at=at(10, 10),
        first_response_at=at(10, 25),
        first_response_due=at(11, 10),
        status=Case.Status.WAITING,
        outcome=Case.Outcome.IMPROVED,
    )
    # 3. tom: an older case without needs_answer_at: from the opening, 12:00 -> 12:20 = 1,200 s;
    #    resolved a day later (86,400 s); outcome still pending.
    case(
        acme,
        at(12),
        assignee=tom,
        first_response_at=at(12, 20),
        resolved_at=at(36),
        status=Case.Status.RESOLVED,
    )
    # 4. tom: answered after 2 h (7,200 s), past its 1 h due; resolved after 3 h; worsened.
    case(
        acme,
        at(13),
        assignee=tom,
        needs_answer_at=at(13),
        first_response_at=at(15),
        resolved_at=at(16),
        status=Case.Status.RESOLVED,
        outcome=Case.Outcome.WORSENED,
    )
    # 5. nobody's: unanswered, due long passed: counts against the SLA.
    case(acme, at(14), needs_answer_at=at(14))
    # 6. nobody's: unanswered, due in 50 minutes: not counted in the SLA yet.
    now = timezone.now()
    case(acme, now - timedelta(minutes=10), first_response_due=now + timedelta(minutes=50))
    # 7. a history import, answered after 600 s and resolved then; no further word.
    case(
        acme,
        at(20),
        is_history=True,
        needs_answer_at=at(20),
        first_response_at=at(20, 10),
        resolved_at=at(20, 10),
        status=Case.Status.RESOLVED,
        outcome=Case.Outcome.NO_FURTHER_WORD,
    )
    # 8. a history import nobody answered ("no answer, imported"): closed by the import, not
    #    resolved by anyone, so not in the resolution median; it missed its SLA.
    case(
        acme,
        at(30),
        is_history=True,
        needs_answer_at=at(30),
        resolved_at=at(30),
        status=Case.Status.RESOLVED,
    )
    # Not counted: an advocate case, and another brand's case.
    Case.objects.create(
        brand=acme, kind=Case.Kind.ADVOCATE, opened_at=at(9), first_response_at=at(9, 1)
    )
    case(other_brand, at(9), first_response_at=at(9, 1))


def test_it_prints_the_figures_worked_out_by_hand(cases):
    data = report_json("--brand", "acme")

    assert list(data) == ["brand", "since", "until", *FIELDS, "agents"]
    assert (data["brand"], data["since"], data["until"]) == ("Acme", None, None)
    # Cases 1-8 (not the advocate case, not Initech's); answered: 1, 2, 3, 4, 7.
    assert (data["cases"], data["answered"]) == (8, 5)
    # First responses 300, 900, 1200, 7200, 600 -> sorted 300, 600, 900, 1200, 7200.
    assert data["first_response_median_s"] == 900.0
    # p90: position 0.9 x 4 = 3.6 -> 1200 + 0.6 x (7200 - 1200) = 4800.
    assert data["first_response_p90_s"] == 4800.0
    # Resolved: 1 (7,200), 3 (86,400), 4 (10,800), 7 (600); 8 was never answered.
    # Sorted 600, 7200, 10800, 86400 -> (7200 + 10800) / 2 = 9000.
    assert data["resolution_median_s"] == 9000.0
    # Counted: 1, 2, 3, 7 met; 4, 5, 8 missed; 6 not due yet -> 4 of 7 = 57.14... %.
    assert data["sla_first_response_met_pct"] == 57.1
    assert data["outcomes"] == {
        **NO_OUTCOMES,
        "converted": 1,
        "improved": 1,
        "pending": 1,
        "worsened": 1,
        "no_further_word": 1,
    }

    ana, tom, nobody = data["agents"]
    assert [a["agent"] for a in data["agents"]] == ["ana", "tom", None]
    assert list(ana) == ["agent", *FIELDS]
    # ana: 300 and 900 -> median 600; p90 300 + 0.9 x 600 = 840; resolved 7,200; 2 of 2 met.
    assert {k: ana[k] for k in FIELDS} == {
        "cases": 2,
        "answered": 2,
        "first_response_median_s": 600.0,
        "first_response_p90_s": 840.0,
        "resolution_median_s": 7200.0,
        "sla_first_response_met_pct": 100.0,
        "outcomes": {**NO_OUTCOMES, "converted": 1, "improved": 1},
    }
    # tom: 1,200 and 7,200 -> median 4,200; p90 1200 + 0.9 x 6000 = 6600; resolved 86,400 and
    # 10,800 -> 48,600; 1 of 2 met.
    assert {k: tom[k] for k in FIELDS} == {
        "cases": 2,
        "answered": 2,
        "first_response_median_s": 4200.0,
        "first_response_p90_s": 6600.0,
        "resolution_median_s": 48600.0,
        "sla_first_response_met_pct": 50.0,
        "outcomes": {**NO_OUTCOMES, "pending": 1, "worsened": 1},
    }
    # Nobody's: 5, 6, 7, 8; only 7 answered (600 s, resolved at 600 s); 7 met, 5 and 8 missed.
    assert {k: nobody[k] for k in FIELDS} == {
        "cases": 4,
        "answered": 1,
        "first_response_median_s": 600.0,
        "first_response_p90_s": 600.0,
        "resolution_median_s": 600.0,
        "sla_first_response_met_pct": 33.3,
        "outcomes": {**NO_OUTCOMES, "no_further_word": 1},
    }


def test_csv_says_what_json_says(cases):
    data = report_json("--brand", "Acme")
    rows = report_csv("--brand", "Acme")

    assert list(rows[0]) == [
        "brand",
        "since",
        "until",
        "agent",
        *FIELDS[:-1],
        "outcome_converted",
        "outcome_improved",
        "outcome_unchanged",
        "outcome_worsened",
        "outcome_no_further_word",
        "outcome_pending",
    ]
    assert [r["agent"] for r in rows] == ["(all)", "ana", "tom", "(unassigned)"]

    def as_json(row: dict[str, str]) -> dict:
        def number(text: str) -> float | None:
            return None if text == "" else float(text)

        return {
            "cases": int(row["cases"]),
            "answered": int(row["answered"]),
            **{key: number(row[key]) for key in FIELDS[2:-1]},
            "outcomes": {key: int(row[f"outcome_{key}"]) for key in NO_OUTCOMES},
        }

    assert as_json(rows[0]) == {k: data[k] for k in FIELDS}
    for row, agent_data in zip(rows[1:], data["agents"], strict=True):
        assert as_json(row) == {k: agent_data[k] for k in FIELDS}
    assert {(r["brand"], r["since"], r["until"]) for r in rows} == {("Acme", "", "")}


def test_a_brand_without_cases_has_zero_counts_and_null_times(acme):
    data = report_json("--brand", "Acme")

    assert {k: data[k] for k in FIELDS} == {
        "cases": 0,
        "answered": 0,
        "first_response_median_s": None,
        "first_response_p90_s": None,
        "resolution_median_s": None,
        "sla_first_response_met_pct": None,
        "outcomes": NO_OUTCOMES,
    }
    assert data["agents"] == []
    rows = report_csv("--brand", "Acme")
    assert len(rows) == 1
    assert rows[0]["first_response_median_s"] == "" and rows[0]["cases"] == "0"


def test_a_response_time_keeps_its_fraction_to_one_decimal(acme):
    case(acme, at(9), first_response_at=at(9, 0, 1.26))
    case(acme, at(10), first_response_at=at(10, 0, 2))

    data = report_json("--brand", "Acme")

    # (1.26 + 2) / 2 = 1.63 -> 1.6; p90: 1.26 + 0.9 x 0.74 = 1.926 -> 1.9.
    assert (data["first_response_median_s"], data["first_response_p90_s"]) == (1.6, 1.9)


# --- the period ---------------------------------------------------------------------------


def test_dates_are_whole_days_in_the_configured_time_zone(acme, settings):
    settings.TIME_ZONE = "America/New_York"  # UTC-4 in October
    # 2025-10-06 23:30 in New York: the 6th there, the 7th in UTC.
    case(acme, datetime(2025, 10, 7, 3, 30, tzinfo=UTC), first_response_at=None)
    # 2025-10-07 00:00 and 23:59:59 in New York: the first and last second of the 7th.
    case(acme, datetime(2025, 10, 7, 4, 0, tzinfo=UTC))
    case(acme, datetime(2025, 10, 8, 3, 59, 59, tzinfo=UTC))
    # 2025-10-08 00:00 in New York: the 8th.
    case(acme, datetime(2025, 10, 8, 4, 0, tzinfo=UTC))

    def cases_between(*bounds: str) -> int:
        return report_json("--brand", "Acme", *bounds)["cases"]

    assert cases_between("--since", "2025-10-07", "--until", "2025-10-07") == 2
    assert cases_between("--since", "2025-10-07") == 3
    assert cases_between("--until", "2025-10-06") == 1
    assert cases_between("--since", "2025-10-06", "--until", "2025-10-08") == 4
    # A datetime is taken as given: since inclusive, until exclusive.
    assert (
        cases_between("--since", "2025-10-07T00:00:00-04:00", "--until", "2025-10-08T03:59:59Z")
        == 1
    )
    # Naive datetimes are New York time.
    assert cases_between("--since", "2025-10-06T23:30", "--until", "2025-10-07T00:00:01") == 2
    data = report_json("--brand", "Acme", "--since", "2025-10-07", "--until", "2025-10-07")
    assert (data["since"], data["until"]) == ("2025-10-07", "2025-10-07")
    data = report_json("--brand", "Acme", "--since", "2025-10-07T12:00Z")
    assert data["since"] == "2025-10-07T08:00:00-04:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], '--since "yesterday" is not a date (YYYY-MM-DD)'),
        (["--until", "2025-02-30"], '--until "2025-02-30" is not a date (YYYY-MM-DD)'),
        (["--since", "2025-13-01T00:00"], "is not a date"),
        (
            ["--since", "2025-10-08", "--until", "2025-10-07"],
            "--until (2025-10-07) must be after --since (2025-10-08)",
        ),
    ],
)
def test_a_bad_period_is_a_clear_error(acme, args, message):
    with pytest.raises(CommandError) as caught:
        report("--brand", "Acme", *args)
    assert message in str(caught.value)


def test_an_unknown_brand_is_a_clear_error(acme):
    with pytest.raises(CommandError, match='No brand named "Acne"'):
        report("--brand", "Acne")


def test_the_brand_name_is_matched_in_any_case(acme):
    assert report_json("--brand", "  ACME ")["brand"] == "Acme"


def test_a_report_reads_in_a_constant_number_of_queries(acme, agent, teammate):
    make_user("zoe", acme, Membership.Role.AGENT)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            report("--brand", "Acme")
        return len(captured)

    case(acme, at(9), assignee=agent, first_response_at=at(9, 5))
    few = queries()
    for hour in range(20):
        case(
            acme, at(hour), assignee=teammate if hour % 2 else agent, first_response_at=at(hour, 7)
        )
    assert queries() == few
