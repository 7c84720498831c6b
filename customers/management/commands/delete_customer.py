from django.core.management.base import BaseCommand, CommandError

from customers.services import customer_delete
from listening.selectors import brand_get_by_name


class Command(BaseCommand):
    help = (
        "Delete one customer of a brand and everything derived from them: handles, orders, "
        "matches with authors and suggestions (rejected ones too), and the import records' "
        "error lines that quote the id. Writes an audit entry. "
        "The authors and their mentions stay: they are the platform's public record."
    )

    def add_arguments(self, parser):
        parser.add_argument("customer_id", help="The shop's customer id (customer_id column).")
        parser.add_argument("--brand", required=True)

    def handle(self, *args, **options):
        brand = brand_get_by_name(name=options["brand"])
        if brand is None:
            raise CommandError(f'No brand named "{options["brand"]}".')
        deleted = customer_delete(brand=brand, customer_id=options["customer_id"])
        if not deleted:
            raise CommandError(f'{brand.name} has no customer with id "{options["customer_id"]}".')
        parts = ", ".join(
            f"{count} {label.split('.')[-1].lower()}"
            for label, count in sorted(deleted.items())
            if count
        )
        self.stdout.write(f'Deleted customer "{options["customer_id"]}" of {brand.name}: {parts}.')
