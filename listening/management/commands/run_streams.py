import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection

from listening.connectors.registry import CONNECTORS, connector_for
from listening.models import Source
from listening.services import stream_consume

RESCAN_SECONDS = 30


def live_kinds() -> list[str]:
    return [kind for kind in CONNECTORS if connector_for(kind).is_live]


class Command(BaseCommand):
    help = (
        "Run every enabled live source (Mastodon streaming, Bluesky Jetstream) until stopped: "
        "one supervised thread each, reconnecting with backoff and resuming from the stored "
        "cursor. Picks up sources added, disabled or removed while it runs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source",
            type=int,
            action="append",
            metavar="ID",
            help="Only this live source (repeatable).",
        )
        parser.add_argument(
            "--rescan",
            type=float,
            default=RESCAN_SECONDS,
            help="Seconds between looks for added or removed sources.",
        )

    def handle(self, *args, **options):
        stop_all = threading.Event()

        def request_stop(signum, frame):
            self.stdout.write("Stopping streams ...")
            stop_all.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        kinds = live_kinds()
        wanted_ids = options["source"]
        if wanted_ids:
            found = set(
                Source.objects.filter(pk__in=wanted_ids, kind__in=kinds).values_list(
                    "pk", flat=True
                )
            )
            missing = sorted(set(wanted_ids) - found)
            if missing:
                raise CommandError(f"No live source with id {', '.join(map(str, missing))}.")

        running: dict[int, tuple[threading.Thread, threading.Event]] = {}
        self.stdout.write(f"Supervising live sources ({', '.join(kinds)}); Ctrl-C stops.")
        while not stop_all.is_set():
            qs = Source.objects.filter(kind__in=kinds, is_enabled=True)
            if wanted_ids:
                qs = qs.filter(pk__in=wanted_ids)
            enabled = set(qs.values_list("pk", flat=True))
            for source_id in enabled - running.keys():
                stop = threading.Event()
                thread = threading.Thread(
                    target=self._run_one,
                    args=(source_id, stop),
                    name=f"stream-{source_id}",
                    daemon=True,
                )
                running[source_id] = (thread, stop)
                thread.start()
                self.stdout.write(f"source {source_id}: streaming")
            for source_id in list(running):
                thread, stop = running[source_id]
                if source_id not in enabled:
                    stop.set()
                if not thread.is_alive():
                    del running[source_id]
                    self.stdout.write(f"source {source_id}: stopped")
            close_old_connections()
            stop_all.wait(options["rescan"])
        for _thread, stop in running.values():
            stop.set()
        deadline = time.monotonic() + 10
        for thread, _stop in running.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        self.stdout.write("Streams stopped.")

    def _run_one(self, source_id: int, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    stream_consume(source_id=source_id, stop=stop)
                    return  # disabled or deleted
                except Exception as exc:  # noqa: BLE001 - recorded in the fetch log; keep going
                    self.stderr.write(f"source {source_id}: crashed ({exc!r}); restarting in 30 s")
                    stop.wait(30)
        finally:
            connection.close()
