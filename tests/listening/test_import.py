"""Bulk import as an admin runs it: manage.py import_mentions on CSV and JSON Lines files."""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from brands.models import Brand
from listening.models import FetchLog, Mention, MentionMatch, Source

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
HEADER = "external_id,text,published_at,author_handle,like_count\n"


class Terminal(io.StringIO):
    """Captured stderr that says it is a terminal, so the progress bar draws as for a user."""

    def isatty(self) -> bool:
        return True


def run(*args: str, stderr: io.StringIO | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    call_command("import_mentions", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def acme() -> Brand:
    brand = Brand.objects.create(name="Acme", query="acme")
    brand.competitors.add(Brand.objects.create(name="Globex", query="globex"))
    return brand


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_a_csv_file_is_imported_once_matched_and_scored(acme, tmp_path):
    path = tmp_path / "mentions.csv"
    path.write_text(
        HEADER
        + "c1,I love Acme,2026-11-02T10:00:00Z,jdoe,4\n"
        + "c2,Globex is awful,2026-11-02T11:00:00Z,,\n"
        + "c3,nobody we know,2026-11-02T12:00:00Z,,\n",
        encoding="utf-8",
    )

    out, _ = run("--brand", "acme", str(path))

    assert "3 row(s) read, 2 new, 0 duplicate, 1 unmatched, 0 error(s)" in out
    source = Source.objects.get(brand=acme, kind="import")
    assert source.name == "Import"
    c1 = Mention.objects.get(source=source, external_id="c1")
    assert (c1.label, c1.like_count, c1.author.handle, c1.platform) == (
        "positive",
        4,
        "jdoe",
        "web",
    )
    assert dict(MentionMatch.objects.values_list("mention__external_id", "brand__name")) == {
        "c1": "Acme",
        "c2": "Globex",
    }


def test_a_jsonl_file_is_imported_and_a_rerun_stores_nothing_new(acme, tmp_path):
    path = tmp_path / "mentions.jsonl"
    path.write_text(
        jsonl(
            {"external_id": "j1", "text": "acme one", "published_at": 1793613600},
            {"external_id": "j2", "title": "acme two", "published_at": "2026-11-02"},
        )
    )

    first, _ = run("--brand", "Acme", str(path), "--platform", "forum")
    again, _ = run("--brand", "Acme", str(path), "--platform", "forum")

    assert "2 row(s) read, 2 new, 0 duplicate" in first
    assert "2 row(s) read, 0 new, 2 duplicate, 0 unmatched, 0 error(s)" in again
    assert Mention.objects.count() == 2
    assert set(Mention.objects.values_list("platform", flat=True)) == {"forum"}
    logs = FetchLog.objects.filter(source__kind="import").order_by("pk")
    assert [(log.items_seen, log.items_new, log.items_duplicate) for log in logs] == [
        (2, 2, 0),
        (2, 0, 2),
    ]
    assert all(log.is_success for log in logs)


def test_row_errors_are_reported_by_line_and_the_good_rows_are_kept(acme, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        HEADER.encode()
        + b"a1,acme fine,2026-11-02T10:00:00Z,,\n"
        + b",acme without id,2026-11-02T10:00:00Z,,\n"
        + b"a3,acme caf\xe9 in latin-1,2026-11-02T10:00:00Z,,\n"
        + b"a4,acme,whenever,,\n"
        + b"a5,acme again,2026-11-02T10:00:00Z,,lots\n"
        + b"a6,acme last,2026-11-02T10:00:00Z,,1\n"
    )

    out, err = run("--brand", "Acme", str(path))

    assert err.splitlines() == [
        'line 3: missing required field "external_id"',
        "line 4: not UTF-8 (invalid bytes in the row)",
        "line 5: field \"published_at\" is not an ISO 8601 date-time: 'whenever'",
        "line 6: field \"like_count\" must be an integer >= 0, got 'lots'",
    ]
    assert "6 row(s) read, 2 new, 0 duplicate, 0 unmatched, 4 error(s)" in out
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["a1", "a6"]
    log = FetchLog.objects.get(source__kind="import")
    assert log.is_success and "4 of 6 row(s) had errors" in log.warning
    assert 'line 3: missing required field "external_id"' in log.warning


def test_bad_json_lines_are_errors_and_blank_lines_are_skipped(acme, tmp_path):
    path = tmp_path / "mentions.jsonl"
    path.write_bytes(
        b'{"external_id": "j1", "text": "acme", "published_at": 0}\n'
        b"\n"
        b'{"external_id": "j2", "text": "acme"\n'
        b'{"external_id": "j3", "text": "acme \xff", "published_at": 0}\n'
        b'{"external_id": "j4", "text": "acme", "published_at": 0}\n'
    )

    out, err = run("--brand", "Acme", str(path))

    lines = err.splitlines()
    assert lines[0].startswith("line 3: not valid JSON")
    assert lines[1].startswith("line 4: not UTF-8")
    assert "4 row(s) read, 2 new, 0 duplicate, 0 unmatched, 2 error(s)" in out


def test_only_the_first_fifty_errors_are_printed_then_a_count(acme, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "".join(f'{{"external_id": "b{i}"}}\n' for i in range(60))
        + jsonl({"external_id": "ok", "text": "acme", "published_at": 1793613600})
    )

    out, err = run("--brand", "Acme", str(path))

    lines = err.splitlines()
    assert len(lines) == 51
    assert lines[49].startswith("line 50: missing required field")
    assert lines[50] == "... and 10 more row error(s)."
    assert "61 row(s) read, 1 new, 0 duplicate, 0 unmatched, 60 error(s)" in out


def test_a_file_where_every_row_fails_exits_with_an_error(acme, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "acme"}\n{"text": "acme"}\n')

    with pytest.raises(CommandError, match="Every row of .* had an error"):
        run("--brand", "Acme", str(path))
    log = FetchLog.objects.get(source__kind="import")
    assert log.error_class == "invalid_items"


def test_a_missing_file_is_a_clear_error(acme, tmp_path):
    with pytest.raises(CommandError, match=r"Cannot read .*nope\.csv: No such file"):
        run("--brand", "Acme", str(tmp_path / "nope.csv"))


def test_an_unknown_brand_or_format_is_a_clear_error(acme, tmp_path):
    path = tmp_path / "mentions.txt"
    path.write_text("x")
    with pytest.raises(CommandError, match='No brand named "Nobody"'):
        run("--brand", "Nobody", str(path))
    with pytest.raises(CommandError, match="pass --format csv or --format jsonl"):
        run("--brand", "Acme", str(path))


def test_a_csv_without_required_columns_is_refused(acme, tmp_path):
    path = tmp_path / "mentions.csv"
    path.write_text("id,body\n1,acme\n")

    with pytest.raises(CommandError, match="lacks required column.*external_id, published_at"):
        run("--brand", "Acme", str(path))
    assert not Mention.objects.exists()


def test_the_format_option_wins_over_the_extension_and_a_bom_is_fine(acme, tmp_path):
    path = tmp_path / "export.txt"
    path.write_bytes("\ufeffexternal_id,text,published_at\nx1,acme ünïcode,0\n".encode())

    out, _ = run("--brand", "Acme", str(path), "--format", "csv", "--source-name", "Old CRM")

    assert "into Acme / Old CRM: 1 row(s) read, 1 new" in out
    assert Mention.objects.get().text == "acme ünïcode"


def test_a_progress_bar_is_drawn_on_a_terminal(acme, tmp_path):
    path = tmp_path / "mentions.jsonl"
    path.write_text(jsonl({"external_id": "p1", "text": "acme", "published_at": 0}))
    terminal = Terminal()

    run("--brand", "Acme", str(path), stderr=terminal)

    assert "Importing: 100%" in terminal.getvalue()


@pytest.mark.django_db(transaction=True)
def test_stdin_is_read_when_the_file_is_a_dash(acme):
    # Through a real process: stdin is the one thing call_command cannot hand over.
    from django.db import connection

    env_db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{env_db['NAME']}"
    else:
        url = (
            f"postgres://{env_db['USER']}:{env_db['PASSWORD'] or ''}@{env_db['HOST']}:"
            f"{env_db['PORT']}/{env_db['NAME']}"
        )
    data = jsonl({"external_id": "s1", "text": "acme from a pipe", "published_at": 0})

    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "import_mentions",
            "--brand",
            "Acme",
            "-",
            "--format",
            "jsonl",
        ],
        input=data.encode(),
        capture_output=True,
        cwd=REPO,
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "DEBUG": "true"},
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr.decode()
    assert "1 row(s) read, 1 new" in done.stdout.decode()
    assert Mention.objects.get().external_id == "s1"


def _rss_bytes() -> int:
    # Resident memory now (not the high-water mark, which earlier tests may have set).
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_a_large_file_streams_in_bounded_memory(acme, tmp_path):
    # 200k rows, about 60 MB. One in 20 rows names Acme and is scored and stored; the rest go
    # through parsing, cleaning and matching like any row. A thread samples the process's
    # resident memory while the import runs: holding the file (60 MB of bytes, more as str)
    # or all its rows (hundreds of MB of dicts and RawItems) would grow it past the file's
    # size, while streaming holds one batch of about 1000 rows. Sampling current RSS instead
    # of ru_maxrss keeps the check meaningful whatever earlier tests allocated, and unlike
    # tracemalloc it costs no time and also sees memory held by C code (the driver).
    path = tmp_path / "large.jsonl"
    padding = "lorem ipsum dolor sit amet " * 9
    with path.open("w") as fh:
        for i in range(200_000):
            text = f"acme post {i} {padding}" if i % 20 == 0 else f"post {i} {padding}"
            fh.write(json.dumps({"external_id": f"L{i}", "text": text, "published_at": i}))
            fh.write("\n")
    size = path.stat().st_size
    assert size > 55 * 1024 * 1024

    gc.collect()
    baseline = _rss_bytes()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.monotonic()
    sampler.start()
    try:
        out, _ = run("--brand", "Acme", str(path))
    finally:
        done.set()
        sampler.join()
    elapsed = time.monotonic() - started
    growth = peak - baseline

    assert "200000 row(s) read, 10000 new, 0 duplicate, 190000 unmatched, 0 error(s)" in out
    assert Mention.objects.count() == 10_000
    assert growth < size / 2, f"RSS grew {growth / 2**20:.1f} MiB for a {size / 2**20:.1f} MiB file"
    assert elapsed < 60
    print(f"import of {size / 2**20:.0f} MiB: {elapsed:.1f} s, RSS +{growth / 2**20:.1f} MiB")
