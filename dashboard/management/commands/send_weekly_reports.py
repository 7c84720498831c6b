"""E-mail the weekly report to every subscriber who has not had last week's yet.

  send_weekly_reports [--dry-run]

The same as the hourly Celery task (dashboard.tasks.weekly_reports_send_task): each
subscription gets the report of the last whole local week (Monday to Sunday in its time
zone) once; running it again in the same week sends nothing. Subscribers who may no longer
see the brand's dashboard get nothing and their subscription is deleted. --dry-run lists who
would get what and changes nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from dashboard.services import weekly_reports_send


class Command(BaseCommand):
    help = "E-mail the weekly report to subscribers who have not had last week's yet."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List who would get what; send nothing."
        )

    def handle(self, *args, dry_run: bool, **options) -> None:
        run = weekly_reports_send(dry_run=dry_run)
        verb = "would send" if dry_run else "sent"
        for address, brand, monday in run.sent:
            self.stdout.write(f"{verb}: {brand}, week of {monday:%Y-%m-%d}, to {address}")
        for username, brand in run.dropped:
            action = "would drop" if dry_run else "dropped"
            self.stdout.write(f"{action}: {username} may no longer see {brand}")
        self.stdout.write(
            f"{len(run.sent)} {verb}, {run.already_sent} already sent this week, "
            f"{len(run.dropped)} without access, {run.no_address} without an e-mail address."
        )
