"""Writes of the customers app: the import of customers and orders files, an admin's
decision on a suggested match, and the deletion of a customer with everything derived."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import timezone

from brands.models import Brand
from brands.services import audit_record
from customers.handles import HandleError, email_local, handles_parse, name_key
from customers.matching import brand_match
from customers.models import (
    AuthorMatch,
    Customer,
    CustomerHandle,
    CustomerImport,
    CustomerImportFile,
    Order,
)

CUSTOMER_COLUMNS = ("customer_id", "name", "email", "handles", "city", "country")
ORDER_COLUMNS = ("order_id", "customer_id", "ordered_at", "amount", "currency")
# Rows written per transaction: an interrupted import keeps every committed batch, and a
# re-run upserts over them.
BATCH_SIZE = 2000
# An order before this or more than a day in the future is a data error, not a sale.
ORDER_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
AMOUNT_LIMIT = Decimal(10) ** 14
AMOUNT_PLACES = 4
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_LENGTHS = {"customer_id": 200, "name": 300, "email": 320, "city": 200, "country": 100}
_email_valid = EmailValidator()


class ImportFileError(ValueError):
    """The file as a whole cannot be read (no header, a required column missing)."""


@dataclass(slots=True)
class Line:
    number: int
    values: dict[str, str] | None = None
    error: str = ""


def csv_lines(
    stream: IO[bytes], *, required: tuple[str, ...], on_bytes: Callable[[int], Any]
) -> Iterator[Line]:
    """The records of a CSV file with a header row, one at a time, numbered by their first
    physical line. A record with invalid UTF-8, NUL bytes or broken quoting is that line's
    error, never the end of the file. Raises ImportFileError for an unusable header."""
    state = {"line": 0}

    def text() -> Iterator[str]:
        for number, raw in enumerate(stream, start=1):
            on_bytes(len(raw))
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            state["line"] = number
            # surrogateescape: one row's bad bytes are that row's error (checked below).
            yield raw.decode("utf-8", errors="surrogateescape")

    reader = csv.reader(text())
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise ImportFileError("line 1: the file is empty (a header row is needed)") from None
    except csv.Error as exc:
        raise ImportFileError(f"line 1: unreadable CSV header ({exc})") from None
    if any(_bad_text(name) for name in header):
        raise ImportFileError("line 1: the header row is not UTF-8 text")
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFileError(
            f"line 1: the header lacks column(s) {', '.join(missing)}"
            f" (found: {', '.join(h[:40] for h in header[:20])})"
        )
    while True:
        first = state["line"] + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Line(first, error=f"bad CSV ({exc})")
            continue
        if not any(v.strip() for v in values):
            continue
        if any("\x00" in v for v in values):
            yield Line(first, error="contains a NUL byte")
            continue
        if any(_bad_text(v) for v in values):
            yield Line(first, error="not UTF-8 (invalid bytes in the row)")
            continue
        if len(values) > len(header):
            yield Line(first, error=f"{len(values)} values but the header has {len(header)}")
            continue
        yield Line(first, values={k: v.strip() for k, v in zip(header, values, strict=False)})


def _bad_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class RowError(ValueError):
    pass


def _text(values: dict[str, str], column: str) -> str:
    value = values.get(column, "")
    if len(value) > _LENGTHS.get(column, 300):
        raise RowError(f"{column} is longer than {_LENGTHS.get(column, 300)} characters")
    return value


def customer_row(values: dict[str, str]) -> tuple[dict[str, Any], list]:
    """One customers line as Customer fields and its parsed handles; RowError says why not."""
    customer_id = _text(values, "customer_id")
    if not customer_id:
        raise RowError("customer_id is empty")
    email = _text(values, "email")
    if email:
        try:
            _email_valid(email)
        except ValidationError:
            raise RowError(f"bad email {email[:80]!r}") from None
    try:
        handles = handles_parse(values.get("handles", ""))
    except HandleError as exc:
        raise RowError(str(exc)) from None
    name = _text(values, "name")
    fields = {
        "customer_id": customer_id,
        "name": name,
        "email": email,
        "city": _text(values, "city"),
        "country": _text(values, "country"),
        "handles": " ".join(f"{h.platform}:{h.handle}" for h in handles),
        "name_key": name_key(name)[:300],
        "email_local": email_local(email)[:320],
    }
    return fields, handles


def parse_ordered_at(value: str, *, now: datetime) -> datetime:
    """ISO 8601 date or date-time; a date is its UTC midnight and a time without an offset
    is UTC. Refused: anything else, before 1970 or more than a day after now."""
    if not value:
        raise RowError("ordered_at is empty")
    try:
        if len(value) <= 10:
            moment = datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise RowError(f"bad date {value[:40]!r} (ISO 8601, e.g. 2026-03-01T14:30:00Z)") from None
    if moment < ORDER_EARLIEST or moment > now + timedelta(days=1):
        raise RowError(f"bad date {value[:40]!r}: before 1970 or in the future")
    return moment


def parse_amount(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError):
        raise RowError(f"amount {value[:40]!r} is not a number (e.g. 1234.50)") from None
    if not amount.is_finite():
        raise RowError(f"amount {value[:40]!r} is not a number (e.g. 1234.50)")
    if amount < 0:
        raise RowError(f"amount {value[:40]!r} is negative")
    if amount >= AMOUNT_LIMIT:
        raise RowError(f"amount {value[:40]!r} is too large")
    if amount != amount.quantize(Decimal(1).scaleb(-AMOUNT_PLACES)):
        raise RowError(f"amount {value[:40]!r} has more than {AMOUNT_PLACES} decimals")
    return amount.quantize(Decimal(1).scaleb(-AMOUNT_PLACES))


def parse_currency(value: str) -> str:
    if not _CURRENCY.match(value):
        raise RowError(f"unknown currency format {value[:20]!r} (ISO 4217, e.g. EUR)")
    return value.upper()


@dataclass
class _Progress:
    record: CustomerImport
    on_error: Callable[[str], Any]

    def error(self, what: str, number: int, reason: str) -> None:
        message = f"{what} line {number}: {reason}"
        self.record.error_count += 1
        if len(self.record.errors) < CustomerImport.ERRORS_KEPT:
            self.record.errors.append(message)
        self.on_error(message)

    def save(self, *fields: str) -> None:
        self.record.save(
            update_fields=[
                "bytes_done",
                "customers_read",
                "customers_stored",
                "orders_read",
                "orders_stored",
                "error_count",
                "errors",
                *fields,
            ]
        )


def _customers_store(brand: Brand, batch: list[tuple[dict[str, Any], list]]) -> None:
    now = timezone.now()
    with transaction.atomic():
        customers = Customer.objects.bulk_create(
            [Customer(brand=brand, created_at=now, updated_at=now, **f) for f, _ in batch],
            update_conflicts=True,
            unique_fields=["brand", "customer_id"],
            update_fields=[
                "name",
                "email",
                "city",
                "country",
                "handles",
                "name_key",
                "email_local",
                "updated_at",
            ],
        )
        # The file says which handles a customer has now: replace, do not merge.
        CustomerHandle.objects.filter(customer__in=[c.pk for c in customers]).delete()
        CustomerHandle.objects.bulk_create(
            CustomerHandle(
                customer_id=customer.pk,
                brand=brand,
                platform=h.platform,
                handle=h.handle[:300],
                key=h.key,
                local=h.local[:300],
            )
            for customer, (_, handles) in zip(customers, batch, strict=True)
            for h in handles
        )


def _orders_store(brand: Brand, batch: list[tuple[int, dict[str, Any]]], progress) -> int:
    ids = {fields["customer_id"] for _, fields in batch}
    known = dict(
        Customer.objects.filter(brand=brand, customer_id__in=ids).values_list("customer_id", "pk")
    )
    rows = []
    for number, fields in batch:
        customer_pk = known.get(fields["customer_id"])
        if customer_pk is None:
            progress.error(
                "orders", number, f"order for unknown customer {fields['customer_id'][:80]!r}"
            )
            continue
        rows.append(Order(brand=brand, **{**fields, "customer_id": customer_pk}))
    with transaction.atomic():
        Order.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["brand", "order_id"],
            update_fields=["customer", "ordered_at", "amount", "currency"],
        )
    return len(rows)


def customers_import(
    *,
    record: CustomerImport,
    customers: IO[bytes],
    orders: IO[bytes] | None = None,
    on_bytes: Callable[[int], Any] = lambda n: None,
    on_error: Callable[[str], Any] = lambda message: None,
) -> CustomerImport:
    """Read a customers file (and an orders file) into the record's brand, then match.

    Streams both files in batches of BATCH_SIZE upserted by (brand, customer_id) and
    (brand, order_id): idempotent, a re-run updates rather than duplicates. Every good line
    is stored; every bad one is counted and reported (on_error and record.errors) with its
    line number and reason. Touches Customer, CustomerHandle, Order, AuthorMatch, AuthorKey
    and the record, which it saves after each batch (the upload page's progress) and at the
    end. Raises ImportFileError when a file's header is unusable (the record says FAILED).
    """
    brand = record.brand
    progress = _Progress(record, on_error)
    record.status = CustomerImport.Status.RUNNING
    record.save(update_fields=["status"])

    def count_bytes(n: int) -> None:
        record.bytes_done += n
        on_bytes(n)

    try:
        _customers_read(brand, customers, progress, count_bytes)
        if orders is not None:
            _orders_read(brand, orders, progress, count_bytes)
        counts = brand_match(brand_id=brand.pk)
    except ImportFileError as exc:
        record.status = CustomerImport.Status.FAILED
        record.failure = str(exc)
        record.finished_at = timezone.now()
        progress.save("status", "failure", "finished_at")
        raise
    except Exception as exc:
        record.status = CustomerImport.Status.FAILED
        record.failure = f"{type(exc).__name__}: {exc}"[:2000]
        record.finished_at = timezone.now()
        progress.save("status", "failure", "finished_at")
        raise
    record.exact_matches = counts.exact
    record.suggestions = counts.suggestions
    record.status = CustomerImport.Status.DONE
    record.finished_at = timezone.now()
    progress.save("exact_matches", "suggestions", "status", "finished_at")
    return record


def _customers_read(brand, stream, progress: _Progress, on_bytes) -> None:
    record = progress.record
    seen: set[str] = set()
    batch: list[tuple[dict[str, Any], list]] = []

    def flush() -> None:
        _customers_store(brand, batch)
        record.customers_stored += len(batch)
        batch.clear()
        progress.save()

    for line in csv_lines(stream, required=("customer_id",), on_bytes=on_bytes):
        record.customers_read += 1
        if line.values is None:
            progress.error("customers", line.number, line.error)
            continue
        try:
            fields, handles = customer_row(line.values)
        except RowError as exc:
            progress.error("customers", line.number, str(exc))
            continue
        if fields["customer_id"] in seen:
            progress.error(
                "customers", line.number, f"duplicate customer_id {fields['customer_id'][:80]!r}"
            )
            continue
        seen.add(fields["customer_id"])
        batch.append((fields, handles))
        if len(batch) >= BATCH_SIZE:
            flush()
    if batch:
        flush()


def _orders_read(brand, stream, progress: _Progress, on_bytes) -> None:
    record = progress.record
    seen: set[str] = set()
    batch: list[tuple[int, dict[str, Any]]] = []
    now = timezone.now()

    def flush() -> None:
        record.orders_stored += _orders_store(brand, batch, progress)
        batch.clear()
        progress.save()

    for line in csv_lines(stream, required=ORDER_COLUMNS, on_bytes=on_bytes):
        record.orders_read += 1
        if line.values is None:
            progress.error("orders", line.number, line.error)
            continue
        values = line.values
        try:
            order_id = _text(values, "order_id")
            if not order_id:
                raise RowError("order_id is empty")
            if order_id in seen:
                raise RowError(f"duplicate order_id {order_id[:80]!r}")
            customer_id = _text(values, "customer_id")
            if not customer_id:
                raise RowError("customer_id is empty")
            fields = {
                "order_id": order_id,
                "customer_id": customer_id,
                "ordered_at": parse_ordered_at(values.get("ordered_at", ""), now=now),
                "amount": parse_amount(values.get("amount", "")),
                "currency": parse_currency(values.get("currency", "")),
            }
        except RowError as exc:
            progress.error("orders", line.number, str(exc))
            continue
        seen.add(order_id)
        batch.append((line.number, fields))
        if len(batch) >= BATCH_SIZE:
            flush()
    if batch:
        flush()


def customer_import_start(
    *,
    brand: Brand,
    user: Any,
    via: str,
    file_name: str,
    orders_file_name: str = "",
    bytes_total: int = 0,
) -> CustomerImport:
    """The record of an import about to run (shown at once on the import page)."""
    return CustomerImport.objects.create(
        brand=brand,
        user=user if user is not None and user.is_authenticated else None,
        via=via,
        file_name=file_name[:300],
        orders_file_name=orders_file_name[:300],
        bytes_total=bytes_total,
    )


def customer_import_queue(
    *, record: CustomerImport, customers: bytes, orders: bytes | None = None
) -> None:
    """Keep the files of an import for the worker and enqueue it once committed. Touches
    CustomerImportFile; the task (customers.tasks.customer_import_task) does the rest."""
    from customers.tasks import customer_import_task

    with transaction.atomic():
        CustomerImportFile.objects.create(
            customer_import=record, kind=CustomerImportFile.Kind.CUSTOMERS, content=customers
        )
        if orders is not None:
            CustomerImportFile.objects.create(
                customer_import=record, kind=CustomerImportFile.Kind.ORDERS, content=orders
            )
        transaction.on_commit(lambda: customer_import_task.delay(record.pk))


def customer_import_run(*, import_id: int) -> CustomerImport | None:
    """Run a queued import from its stored files, then delete the files. Quiet when the
    import or its files are gone (already run). Safe to run again after a lost worker: the
    import upserts, and the counts start over."""
    record = CustomerImport.objects.select_related("brand").filter(pk=import_id).first()
    if record is None:
        return None
    files = {f.kind: bytes(f.content) for f in CustomerImportFile.objects.filter(
        customer_import=record
    )}  # fmt: skip
    if CustomerImportFile.Kind.CUSTOMERS not in files:
        return record
    for name in ("bytes_done", "customers_read", "customers_stored", "orders_read",
                 "orders_stored", "error_count"):  # fmt: skip
        setattr(record, name, 0)
    record.errors = []
    try:
        customers_import(
            record=record,
            customers=io.BytesIO(files[CustomerImportFile.Kind.CUSTOMERS]),
            orders=(
                io.BytesIO(files[CustomerImportFile.Kind.ORDERS])
                if CustomerImportFile.Kind.ORDERS in files
                else None
            ),
        )
    except ImportFileError:
        pass  # recorded on the import (status failed, its reason)
    finally:
        CustomerImportFile.objects.filter(customer_import=record).delete()
    return record


def match_decide(*, match: AuthorMatch, user: Any, confirm: bool) -> AuthorMatch:
    """Confirm or reject a match (usually a suggestion). A rejected pair stays rejected: no
    rule suggests it again. Idempotent for the same decision; audited."""
    status = AuthorMatch.Status.CONFIRMED if confirm else AuthorMatch.Status.REJECTED
    before = {"status": match.status}
    match.status = status
    match.decided_by = user
    match.decided_at = timezone.now()
    with transaction.atomic():
        match.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(
            actor=user,
            brand=match.brand,
            action="customers.match_confirm" if confirm else "customers.match_reject",
            obj=match,
            before=before,
            after={"status": status, "customer": match.customer_id, "author": match.author_id},
        )
    return match


def _import_errors_forget(brand: Brand, customer_id: str) -> int:
    """Drop the import records' error lines that quote this customer id (a refused order
    of theirs, a duplicate line): they are data about the customer too."""
    quoted = repr(customer_id[:80])
    forgotten = 0
    for record in CustomerImport.objects.filter(brand=brand, errors__icontains=customer_id[:80]):
        kept = [e for e in record.errors if quoted not in e]
        forgotten += len(record.errors) - len(kept)
        record.errors = kept
        record.save(update_fields=["errors"])
    return forgotten


def customer_delete(*, brand: Brand, customer_id: str, actor: Any = None) -> dict[str, int]:
    """Delete one customer and everything derived from them (handles, orders, matches and
    suggestions, rejected ones included, and import error lines quoting their id), with an
    audit entry that names only the shop's id.
    Returns rows deleted per model; {} when there is no such customer. Idempotent."""
    customer = Customer.objects.filter(brand=brand, customer_id=customer_id).first()
    if customer is None:
        return {}
    with transaction.atomic():
        pk = customer.pk
        _, deleted = customer.delete()
        customer.pk = pk
        deleted = {**deleted, "import error lines": _import_errors_forget(brand, customer_id)}
        audit_record(
            actor=actor,
            brand=brand,
            action="customers.delete",
            obj=customer,
            before={"customer_id": customer_id},
            after={"deleted": deleted},
        )
    return deleted
