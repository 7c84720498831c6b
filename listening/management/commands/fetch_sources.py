from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from listening.models import Source
from listening.services import source_poll


class Command(BaseCommand):
    help = "Run one fetch round in this process (no broker needed) and print per-source counts."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source",
            type=int,
            action="append",
            metavar="ID",
            help="Only this source (repeatable). Default: every enabled source.",
        )

    def handle(self, *args, **options):
        if options["source"]:
            ids = list(Source.objects.filter(pk__in=options["source"]).values_list("pk", flat=True))
            missing = sorted(set(options["source"]) - set(ids))
            if missing:
                raise CommandError(f"No source with id {', '.join(map(str, missing))}.")
        else:
            ids = list(Source.objects.filter(is_enabled=True).values_list("pk", flat=True))
        if not ids:
            self.stdout.write("No enabled sources. Add one with add_source.")
            return
        failed = 0
        totals = {"seen": 0, "new": 0, "duplicate": 0, "unmatched": 0}
        progress = tqdm(ids, desc="Fetching", unit="source", disable=None, file=self.stderr)
        for source_id in progress:
            result = source_poll(source_id=source_id)
            if result is None:
                continue
            log = result.fetch_log
            status = log.http_status or "-"
            if log.error_class:
                failed += 1
                line = f"source {source_id}: FAILED [{log.error_class}] {log.error_message}"
            else:
                line = (
                    f"source {source_id}: HTTP {status}, {log.items_seen} seen,"
                    f" {log.items_new} new, {log.items_duplicate} duplicate,"
                    f" {log.items_unmatched} unmatched"
                )
                if log.warning:
                    line += f" (warning: {log.warning.splitlines()[0]})"
            for key in totals:
                totals[key] += getattr(log, f"items_{key}")
            progress.write(line, file=self.stdout)
        self.stdout.write(
            f"Done: {len(ids)} source(s), {failed} failed, {totals['seen']} seen, "
            f"{totals['new']} new, {totals['duplicate']} duplicate, "
            f"{totals['unmatched']} unmatched."
        )
