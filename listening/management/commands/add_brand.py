from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from listening.services import brand_create


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(
            f"{field}: {' '.join(msgs)}" if field != "__all__" else " ".join(msgs)
            for field, msgs in exc.message_dict.items()
        )
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Create a brand with its keyword query (optionally as a competitor of another brand)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--query", required=True, help='e.g. acme OR "acme corp"')
        parser.add_argument("--competitor-of", default="", metavar="BRAND")
        parser.add_argument("--handles", default="", help="The brand's own handles.")
        parser.add_argument("--domains", default="", help="The brand's own domains.")

    def handle(self, *args, **options):
        try:
            brand = brand_create(
                name=options["name"],
                query=options["query"],
                handles=options["handles"],
                domains=options["domains"],
                competitor_of=options["competitor_of"],
            )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from exc
        suffix = f" (competitor of {options['competitor_of']})" if options["competitor_of"] else ""
        self.stdout.write(f"Created brand {brand.name} (id {brand.pk}){suffix}.")
