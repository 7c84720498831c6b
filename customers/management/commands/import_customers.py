import os
from contextlib import ExitStack

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from customers.services import (
    CUSTOMER_COLUMNS,
    ORDER_COLUMNS,
    ImportFileError,
    customer_import_start,
    customers_import,
)
from listening.selectors import brand_get_by_name

# Line errors printed in full; after that only counted (all are kept on the import record,
# up to CustomerImport.ERRORS_KEPT), so a wholly wrong file does not flood the terminal.
ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import a brand's customers from a CSV file with a header row "
        f"({', '.join(CUSTOMER_COLUMNS)}; only customer_id is required), and optionally "
        f"their orders ({', '.join(ORDER_COLUMNS)}). Streams the files; safe to re-run "
        "(upserts by customer_id and order_id). Bad lines are reported with their line number "
        "and skipped; every good line is stored. Matching with social authors runs at the end. "
        "Exit 1 if a file cannot be read or every line failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("customers", help="Customers CSV file.")
        parser.add_argument("--brand", required=True)
        parser.add_argument("--orders", help="Orders CSV file.")

    def handle(self, *args, **options):
        brand = brand_get_by_name(name=options["brand"])
        if brand is None:
            raise CommandError(f'No brand named "{options["brand"]}".')
        paths = [options["customers"], *([options["orders"]] if options["orders"] else [])]
        err = getattr(self.stderr, "_out", self.stderr)
        with ExitStack() as stack:
            streams = []
            for path in paths:
                try:
                    streams.append(stack.enter_context(open(path, "rb")))  # noqa: SIM115
                except OSError as exc:
                    raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
            total = sum(os.fstat(s.fileno()).st_size for s in streams)
            record = customer_import_start(
                brand=brand,
                user=None,
                via="command",
                file_name=os.path.basename(paths[0]),
                orders_file_name=os.path.basename(paths[1]) if len(paths) > 1 else "",
                bytes_total=total,
            )
            # tqdm gets the raw stream: OutputWrapper would end each redraw with a newline.
            progress = tqdm(
                total=total, desc="Importing", unit="B", unit_scale=True, disable=None, file=err
            )
            shown = 0

            def on_error(message: str) -> None:
                nonlocal shown
                shown += 1
                if shown <= ERRORS_SHOWN:
                    progress.write(message, file=err)

            try:
                customers_import(
                    record=record,
                    customers=streams[0],
                    orders=streams[1] if len(streams) > 1 else None,
                    on_bytes=progress.update,
                    on_error=on_error,
                )
            except ImportFileError as exc:
                raise CommandError(str(exc)) from exc
            except OSError as exc:
                raise CommandError(f"Cannot read the file: {exc.strerror or exc}.") from exc
            except Exception as exc:
                raise CommandError(
                    f"The import stopped: {type(exc).__name__}: {exc}. Batches stored before it "
                    "stay stored; re-running the same command continues without duplicates."
                ) from exc
            finally:
                progress.close()

        if record.error_count > ERRORS_SHOWN:
            self.stderr.write(f"... and {record.error_count - ERRORS_SHOWN} more line error(s).")
        self.stdout.write(
            f"Imported into {brand.name}: {record.customers_stored} of {record.customers_read} "
            f"customer line(s), {record.orders_stored} of {record.orders_read} order line(s), "
            f"{record.error_count} error(s); {record.exact_matches} new exact match(es), "
            f"{record.suggestions} new suggestion(s)."
        )
        read = record.customers_read + record.orders_read
        if read and record.error_count == read:
            raise CommandError("Every line had an error; nothing was stored.")
