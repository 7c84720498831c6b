import os
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from listening.management.errors import validation_message
from listening.push_services import import_source_get_or_create, mentions_import
from listening.selectors import brand_get_by_name
from listening.shape import SHAPE_FIELD_NAMES, CsvHeaderError, ShapeError, read_csv, read_jsonl

READERS = {"csv": read_csv, "jsonl": read_jsonl}
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
# Row errors printed in full; after that only counted, so a wholly wrong file of a million
# rows does not flood the terminal.
ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import mentions of a brand from a CSV (header row) or JSON Lines file in the common "
        f"shape ({', '.join(SHAPE_FIELD_NAMES)}). Streams the file; safe to re-run (stored "
        "items count as duplicates). Bad rows are reported with their line and skipped. "
        "Exit 1 only if the file cannot be read or every row failed. With --history the "
        "file's conversations are routed at once into cases closed as of their data (history "
        "cases: counted in care figures, never in the live queue)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to the file, or - for stdin (needs --format).")
        parser.add_argument("--brand", required=True)
        parser.add_argument(
            "--format", choices=sorted(READERS), help="Default: from the file's extension."
        )
        parser.add_argument(
            "--source-name", default="", help='Import source to use (default: "Import").'
        )
        parser.add_argument(
            "--platform", default="", help='Platform of rows that name none (default "web").'
        )
        parser.add_argument(
            "--history",
            action="store_true",
            help="Past conversations: the rows this import stores are routed now (route_cases, "
            "in process) into history cases, resolved at their last brand answer or marked "
            '"no answer, imported"; they count in care figures and follow-up and never enter '
            "the live queue. Rows stored before keep what they were.",
        )

    def handle(self, *args, **options):
        brand = brand_get_by_name(name=options["brand"])
        if brand is None:
            raise CommandError(f'No brand named "{options["brand"]}". Create it with add_brand.')
        path = options["file"]
        fmt = options["format"] or EXTENSIONS.get(Path(path).suffix.lower())
        if fmt is None:
            raise CommandError(
                f"Cannot tell the format of {path!r}: pass --format csv or --format jsonl."
            )
        try:
            source = import_source_get_or_create(brand=brand, name=options["source_name"].strip())
        except ValidationError as exc:
            raise CommandError(
                f"Cannot create the import source: {validation_message(exc)}"
            ) from exc

        if path == "-":
            stream, size = sys.stdin.buffer, None
        else:
            try:
                stream = open(path, "rb")  # noqa: SIM115 - closed in the finally below
                size = os.fstat(stream.fileno()).st_size
            except OSError as exc:
                raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from exc

        # tqdm gets the raw stream: OutputWrapper would end each redraw with a newline.
        progress = tqdm(
            total=size,
            desc="Importing",
            unit="B",
            unit_scale=True,
            disable=None,
            file=getattr(self.stderr, "_out", self.stderr),
        )
        shown = 0

        def on_error(error: ShapeError) -> None:
            nonlocal shown
            shown += 1
            if shown <= ERRORS_SHOWN:
                progress.write(str(error), file=getattr(self.stderr, "_out", self.stderr))

        try:
            rows = READERS[fmt](stream, on_bytes=progress.update)
            result = mentions_import(
                source=source,
                rows=rows,
                platform=options["platform"].strip(),
                on_error=on_error,
                is_history=options["history"],
            )
        except CsvHeaderError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
        except Exception as exc:
            # mentions_import recorded it in the fetch log; the batches before it stay stored
            # and a re-run skips them, so say so instead of printing a traceback.
            raise CommandError(
                f"The import of {path} stopped: {type(exc).__name__}: {exc}. Rows stored before "
                "it stay stored; re-running the same command continues without duplicates."
            ) from exc
        finally:
            progress.close()
            if stream is not sys.stdin.buffer:
                stream.close()

        if result.errors > ERRORS_SHOWN:
            self.stderr.write(f"... and {result.errors - ERRORS_SHOWN} more row error(s).")
        stored = result.stored
        for warning in stored.warning_lines()[:ERRORS_SHOWN]:
            self.stderr.write(f"warning: {warning}")
        not_stored = f", {stored.failed} not stored" if stored.failed else ""
        self.stdout.write(
            f"Imported {path} into {brand.name} / {source.name}: {result.rows} row(s) read, "
            f"{stored.new} new, {stored.duplicate} duplicate, {stored.unmatched} unmatched, "
            f"{result.errors} error(s){not_stored}."
        )
        if result.rows and result.errors == result.rows:
            raise CommandError(f"Every row of {path} had an error; nothing was stored.")
        if options["history"]:
            # By name, not by import: listening sits below engagement (tests/test_import_graph).
            # route_cases prints its totals, "history cases filed" among them.
            call_command(
                "route_cases",
                stdout=self.stdout,
                stderr=self.stderr,
                verbosity=options["verbosity"],
            )
