"""delete_customer removes a customer and everything derived; mention exports never carry
customer data."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from brands.models import AuditLog
from customers.models import AuthorMatch, Customer, CustomerHandle, CustomerImport, Order
from customers.services import match_decide
from tests.customers.conftest import (
    CUSTOMER_HEADER,
    ORDER_HEADER,
    csv_bytes,
    run_import,
    store_mention,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(acme, social_source, admin_user):
    store_mention(social_source, "acme is great", author_handle="mo@social.example",
                  author_name="Mo Reed")  # fmt: skip
    store_mention(social_source, "acme again", author_handle="mo_reed@social.example",
                  author_name="Mo Reed")  # fmt: skip
    run_import(
        acme,
        csv_bytes(CUSTOMER_HEADER, [
            ["c1", "Mo Reed", "mo.private@mail.example", "mastodon:mo@social.example", "", ""],
            ["c2", "Other Person", "", "twitter:other", "", ""],
            ["c1", "Mo again", "", "", "", ""],  # refused: quotes 'c1'
        ]),
        csv_bytes(ORDER_HEADER, [
            ["o1", "c1", "2025-01-01", "5", "EUR"],
            ["o2", "c2", "2025-01-01", "7", "EUR"],
            ["o3", "c1", "2025-01-01", "5", "EURO"],  # refused: quotes no id
            ["o1", "c1", "2025-01-01", "5", "EUR"],  # refused: quotes 'o1' only
            ["o4", "c1", "", "5", "EUR"],
            ["o5", "c9", "2025-01-01", "5", "EUR"],  # refused: quotes 'c9'
        ]),
    )  # fmt: skip
    rejected = AuthorMatch.objects.get(status="suggested", customer__customer_id="c1")
    match_decide(match=rejected, user=admin_user, confirm=False)


def test_delete_customer_removes_everything_derived(acme, imported):
    c1 = Customer.objects.get(customer_id="c1")
    assert AuthorMatch.objects.filter(customer=c1).count() == 2  # exact + rejected suggestion
    out = io.StringIO()
    errors_before = CustomerImport.objects.get().errors

    call_command("delete_customer", "c1", "--brand", "Acme", stdout=out)

    assert out.getvalue().startswith('Deleted customer "c1" of Acme:')
    assert "1 order" in out.getvalue() and "2 authormatch" in out.getvalue()
    assert not Customer.objects.filter(customer_id="c1").exists()
    assert not CustomerHandle.objects.filter(customer_id=c1.pk).exists()
    assert not Order.objects.filter(order_id="o1").exists()
    assert not AuthorMatch.objects.filter(customer_id=c1.pk).exists()
    # Everything else stays.
    assert Customer.objects.filter(customer_id="c2").exists()
    assert Order.objects.filter(order_id="o2").exists()
    # Error lines are kept unless they quote the customer's id.
    assert "duplicate customer_id 'c1'" in str(errors_before)
    assert CustomerImport.objects.get().errors == [
        "orders line 4: unknown currency format 'EURO' (ISO 4217, e.g. EUR)",
        "orders line 5: duplicate order_id 'o1'",
        "orders line 6: ordered_at is empty",
        "orders line 7: order for unknown customer 'c9'",
    ]
    entry = AuditLog.objects.get(action="customers.delete")
    assert (entry.brand, entry.object_id, entry.before) == (acme, str(c1.pk), {"customer_id": "c1"})
    assert "mo.private" not in str(entry.after)

    with pytest.raises(CommandError, match='no customer with id "c1"'):
        call_command("delete_customer", "c1", "--brand", "Acme")
    with pytest.raises(CommandError, match="No brand named"):
        call_command("delete_customer", "c2", "--brand", "Nope")


def test_mention_exports_carry_no_customer_data(acme, imported):
    for fmt in ("csv", "jsonl"):
        out = io.StringIO()
        call_command("export_mentions", "--brand", "Acme", "--format", fmt, stdout=out,
                     stderr=io.StringIO())  # fmt: skip
        text = out.getvalue()
        assert "acme is great" in text  # the export does list the mentions
        for private in ("mo.private@mail.example", "c1", "o1", "Other Person"):
            assert private not in text, (fmt, private)
