"""Fixtures for the customers tests: the brands and roles of tests/brands/conftest.py, a
mastodon source, and helpers that write CSV files and run the real import."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import csv
import io

import pytest

from customers.models import CustomerImport
from customers.services import customer_import_start, customers_import
from tests.brands.conftest import (
    PASSWORD,
    acme,
    admin_user,
    agent,
    make_user,
    marketer,
    other_brand,
    outsider,
)
from tests.engagement.conftest import social_source, store_mention

CUSTOMER_HEADER = ["customer_id", "name", "email", "handles", "city", "country"]
ORDER_HEADER = ["order_id", "customer_id", "ordered_at", "amount", "currency"]


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def run_import(brand, customers: bytes, orders: bytes | None = None) -> CustomerImport:
    record = customer_import_start(brand=brand, user=None, via="command", file_name="c.csv")
    errors: list[str] = []
    customers_import(
        record=record,
        customers=io.BytesIO(customers),
        orders=io.BytesIO(orders) if orders is not None else None,
        on_error=errors.append,
    )
    record.refresh_from_db()
    assert record.errors == errors[: CustomerImport.ERRORS_KEPT]
    return record
