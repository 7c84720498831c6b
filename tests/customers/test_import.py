"""The customers and orders import (customers.services.customers_import and the
import_customers command): good and bad lines, re-runs, and hostile input."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Customer, CustomerHandle, CustomerImport, Order
from customers.services import ImportFileError
from tests.customers.conftest import CUSTOMER_HEADER, ORDER_HEADER, csv_bytes, run_import

pytestmark = pytest.mark.django_db

CUSTOMERS = [
    ["c1", "Ann Smith", "ann@example.com", "mastodon:@Ann@Example.Social twitter:@ann", "Paris",
     "FR"],
    ["c2", "Bob", "not-an-email", "", "Rome", "IT"],
    ["c3", "Zoë", "", "nope", "", ""],
    ["c1", "Ann again", "", "", "", ""],
    ["c4", "Cy", "", "", "Oslo", "NO"],
]  # fmt: skip
ORDERS = [
    ["o1", "c1", "2025-01-02", "10.50", "eur"],
    ["o2", "c1", "2025-02-02T10:00:00+02:00", "5", "EUR"],
    ["o3", "cX", "2025-01-02", "1", "EUR"],
    ["o4", "c1", "0001-01-01", "1", "EUR"],
    ["o5", "c1", "2025-01-02", "12,50", "EUR"],
    ["o6", "c1", "2025-01-02", "1", "EURO"],
    ["o1", "c4", "2025-01-03", "1", "EUR"],
    ["o7", "c4", "2025-01-03", "1e400", "EUR"],
    ["o8", "c4", "9999-12-31", "1", "EUR"],
    ["o9", "c4", "2025-03-01", "99999999999999999999", "EUR"],
    ["o10", "c4", "2025-03-01", "NaN", "EUR"],
]  # fmt: skip


def test_it_stores_every_good_line_and_reports_every_bad_one(acme):
    customers, orders = csv_bytes(CUSTOMER_HEADER, CUSTOMERS), csv_bytes(ORDER_HEADER, ORDERS)
    record = run_import(acme, customers, orders)

    assert record.status == CustomerImport.Status.DONE
    assert (record.customers_read, record.customers_stored) == (5, 2)
    assert (record.orders_read, record.orders_stored) == (11, 2)
    assert record.errors == [
        "customers line 3: bad email 'not-an-email'",
        'customers line 4: handle "nope" has no platform (write platform:handle)',
        "customers line 5: duplicate customer_id 'c1'",
        "orders line 5: bad date '0001-01-01': before 1970 or in the future",
        "orders line 6: amount '12,50' is not a number (e.g. 1234.50)",
        "orders line 7: unknown currency format 'EURO' (ISO 4217, e.g. EUR)",
        "orders line 8: duplicate order_id 'o1'",
        "orders line 9: amount '1e400' is too large",
        "orders line 10: bad date '9999-12-31': before 1970 or in the future",
        "orders line 11: amount '99999999999999999999' is too large",
        "orders line 12: amount 'NaN' is not a number (e.g. 1234.50)",
        "orders line 4: order for unknown customer 'cX'",
    ]
    assert record.error_count == 12
    ann = Customer.objects.get(brand=acme, customer_id="c1")
    assert (ann.name, ann.email, ann.city, ann.country) == (
        "Ann Smith", "ann@example.com", "Paris", "FR"
    )  # fmt: skip
    assert sorted(CustomerHandle.objects.filter(customer=ann).values_list("platform", "key")) == [
        ("mastodon", "ann@example.social"),
        ("twitter", "ann"),
    ]
    orders = {o.order_id: o for o in Order.objects.filter(brand=acme)}
    assert set(orders) == {"o1", "o2"}
    assert orders["o1"].amount == Decimal("10.50") and orders["o1"].currency == "EUR"
    assert orders["o2"].ordered_at == datetime(2025, 2, 2, 8, 0, tzinfo=UTC)
    assert orders["o1"].ordered_at == datetime(2025, 1, 2, tzinfo=UTC)


def test_a_rerun_updates_rather_than_duplicates(acme):
    customers = csv_bytes(CUSTOMER_HEADER, CUSTOMERS)
    orders = csv_bytes(ORDER_HEADER, ORDERS)
    run_import(acme, customers, orders)
    run_import(acme, customers, orders)
    assert Customer.objects.filter(brand=acme).count() == 2
    assert Order.objects.filter(brand=acme).count() == 2
    assert CustomerHandle.objects.filter(brand=acme).count() == 2

    changed = csv_bytes(CUSTOMER_HEADER, [["c1", "Ann S.", "", "bluesky:ann.example.com", "", ""]])
    moved = csv_bytes(ORDER_HEADER, [["o1", "c4", "2025-01-05", "20", "usd"]])
    run_import(acme, changed, moved)

    ann = Customer.objects.get(brand=acme, customer_id="c1")
    assert ann.name == "Ann S." and ann.email == ""
    assert list(CustomerHandle.objects.filter(customer=ann).values_list("platform", "key")) == [
        ("bluesky", "ann.example.com")
    ]
    o1 = Order.objects.get(brand=acme, order_id="o1")
    assert (o1.customer.customer_id, o1.amount, o1.currency) == ("c4", Decimal("20"), "USD")
    assert Customer.objects.filter(brand=acme).count() == 2


def test_brands_keep_their_own_ids(acme, other_brand):
    rows = csv_bytes(CUSTOMER_HEADER, [["c1", "Ann", "", "", "", ""]])
    run_import(acme, rows)
    run_import(other_brand, rows)
    assert Customer.objects.filter(customer_id="c1").count() == 2


def test_invalid_utf8_and_nul_bytes_are_that_lines_error(acme):
    data = (
        b"customer_id,name,email,handles,city,country\n"
        b"c1,Ann,,,,\n"
        b"c2,Bad \xff\xfe name,,,,\n"
        b"c3,Nul \x00 name,,,,\n"
        b'c4,"Multi\nline",,,,\n'
        b"c5,\xc3\xa9lodie,,,,\n"
    )
    record = run_import(acme, data)
    assert record.errors == [
        "customers line 3: not UTF-8 (invalid bytes in the row)",
        "customers line 4: contains a NUL byte",
    ]
    assert sorted(Customer.objects.values_list("customer_id", "name")) == [
        ("c1", "Ann"),
        ("c4", "Multi\nline"),
        ("c5", "élodie"),
    ]


def test_a_file_without_the_required_columns_fails_as_a_whole(acme):
    with pytest.raises(ImportFileError, match="lacks column"):
        run_import(acme, b"id,name\n1,Ann\n")
    record = CustomerImport.objects.get()
    assert record.status == CustomerImport.Status.FAILED
    assert "customer_id" in record.failure
    with pytest.raises(ImportFileError, match="order_id"):
        run_import(acme, b"customer_id\nc1\n", b"customer_id,amount\nc1,3\n")


def test_batches_are_stored_a_few_queries_each(acme, django_assert_max_num_queries):
    rows = [[f"c{i}", f"N {i}", "", f"twitter:@n{i}", "", ""] for i in range(3000)]
    orders = [[f"o{i}", f"c{i % 3000}", "2025-01-01", "1", "EUR"] for i in range(4500)]
    with django_assert_max_num_queries(60):
        record = run_import(acme, csv_bytes(CUSTOMER_HEADER, rows), csv_bytes(ORDER_HEADER, orders))
    assert (record.customers_stored, record.orders_stored) == (3000, 4500)


def test_the_command_prints_errors_and_a_summary(acme, tmp_path):
    customers = tmp_path / "customers.csv"
    customers.write_bytes(csv_bytes(CUSTOMER_HEADER, CUSTOMERS))
    orders = tmp_path / "orders.csv"
    orders.write_bytes(csv_bytes(ORDER_HEADER, ORDERS))
    out, err = io.StringIO(), io.StringIO()

    call_command("import_customers", str(customers), "--brand", "acme", "--orders", str(orders),
                 stdout=out, stderr=err)  # fmt: skip

    assert "customers line 3: bad email 'not-an-email'" in err.getvalue()
    assert "orders line 4: order for unknown customer 'cX'" in err.getvalue()
    assert out.getvalue().strip() == (
        "Imported into Acme: 2 of 5 customer line(s), 2 of 11 order line(s), 12 error(s); "
        "0 new exact match(es), 0 new suggestion(s)."
    )
    record = CustomerImport.objects.get()
    assert (record.via, record.file_name, record.orders_file_name) == (
        "command", "customers.csv", "orders.csv"
    )  # fmt: skip
    size = customers.stat().st_size + orders.stat().st_size
    assert record.bytes_done == record.bytes_total == size


def test_the_command_refuses_unknown_brands_missing_files_and_all_bad_files(acme, tmp_path):
    with pytest.raises(CommandError, match='No brand named "Nope"'):
        call_command("import_customers", "x.csv", "--brand", "Nope")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_customers", str(tmp_path / "missing.csv"), "--brand", "Acme")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(CUSTOMER_HEADER, [["", "x", "", "", "", ""]]))
    with pytest.raises(CommandError, match="Every line had an error"):
        call_command("import_customers", str(bad), "--brand", "Acme", stderr=io.StringIO())


_cell = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=30
)  # lone surrogates and NUL included


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(_cell, _cell, _cell, _cell), min_size=1, max_size=8),
    dates=st.lists(
        st.one_of(
            st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
                datetime.isoformat
            ),
            st.sampled_from(["0001-01-01", "9999-12-31", "1970-01-01", "2025-13-01", ""]),
        ),
        min_size=1,
        max_size=8,
    ),
    amounts=st.lists(
        st.one_of(
            st.decimals(allow_nan=True, allow_infinity=True).map(str),
            st.integers(min_value=-(10**30), max_value=10**30).map(str),
            _cell,
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_hostile_files_never_stop_the_import(acme, rows, dates, amounts):
    """Whatever the cells hold, each line is stored or reported, and the import finishes."""

    def line(values) -> bytes:
        quoted = ('"' + v.replace('"', '""') + '"' for v in values)
        # surrogatepass: a lone surrogate becomes bytes that are not UTF-8, as in a bad file.
        return ",".join(quoted).encode("utf-8", errors="surrogatepass")

    customers = b"\n".join(
        [b"customer_id,name,email,handles,city,country"]
        + [line((f"h{i}", *values, "")) for i, values in enumerate(rows)]
    )
    orders = b"\n".join(
        [b"order_id,customer_id,ordered_at,amount,currency"]
        + [
            line((f"x{i}", "h0", d, a, "EUR"))
            for i, (d, a) in enumerate(zip(dates, amounts, strict=False))
        ]
    )
    record = run_import(acme, customers, orders)

    assert record.status == CustomerImport.Status.DONE
    customer_errors = [e for e in record.errors if e.startswith("customers line")]
    order_errors = [e for e in record.errors if e.startswith("orders line")]
    assert record.customers_stored + len(customer_errors) == record.customers_read
    assert record.orders_stored + len(order_errors) == record.orders_read
    assert Customer.objects.filter(brand=acme).count() == record.customers_stored
    stored_orders = Order.objects.filter(brand=acme, order_id__startswith="x")
    for order in stored_orders:
        assert Decimal(0) <= order.amount < Decimal(10) ** 14
        assert order.ordered_at.year >= 1970
    Order.objects.filter(brand=acme).delete()
    Customer.objects.filter(brand=acme).delete()
