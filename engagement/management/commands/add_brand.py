"""add_brand: create a brand with its keyword query, optionally as another brand's competitor.

It lives in engagement, not listening, because a brand also gets its care settings here: a
competitor is watched, not served (care off), a brand created on its own is served (care on).
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from engagement.brand_services import CARE_OFF_NOTE, brand_add
from listening.management.errors import validation_message


class Command(BaseCommand):
    help = (
        "Create a brand with its keyword query. With --competitor-of it is watched as that "
        "brand's competitor: its mentions are listened to and counted (share of voice), but "
        "care is off, so it opens no cases (turn care on in admin, Care settings)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--query", required=True, help='e.g. acme OR "acme corp"')
        parser.add_argument(
            "--competitor-of",
            default="",
            metavar="BRAND",
            help="Watch the new brand as BRAND's competitor, with care off.",
        )
        parser.add_argument("--handles", default="", help="The brand's own handles.")
        parser.add_argument("--domains", default="", help="The brand's own domains.")

    def handle(self, *args, **options):
        competitor_of = options["competitor_of"]
        try:
            brand = brand_add(
                name=options["name"],
                query=options["query"],
                handles=options["handles"],
                domains=options["domains"],
                competitor_of=competitor_of,
            )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from exc
        if competitor_of:
            self.stdout.write(
                f"Created brand {brand.name} (id {brand.pk}), competitor of {competitor_of}; "
                f"{CARE_OFF_NOTE}."
            )
        else:
            self.stdout.write(
                f"Created brand {brand.name} (id {brand.pk}); care on: its mentions that "
                "need an answer open cases in the queue."
            )
