"""Writes for pushed sources: signed webhook deliveries and bulk imports.

Both end in services.items_store (brand + competitor matching, scoring, exactly once by
external_id) and record a FetchLog per delivery or import run, so pushed items show in admin
like polls do. Kept apart from listening/services.py, which holds the polling pipeline.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from brands.models import Brand
from listening.connectors.base import RawItem
from listening.connectors.registry import connector_for
from listening.models import FetchLog, Source
from listening.outside import json_loads_bounded
from listening.services import (
    BrandMatcher,
    StoreResult,
    items_store,
    source_brands,
    source_create,
    webhook_credentials,
)
from listening.shape import ShapeError, ShapeRow, item_from_mapping

logger = logging.getLogger(__name__)

# A delivery's timestamp may differ from the server's clock by this much either way: wide
# enough for ordinary clock skew and retries, narrow enough that a captured request soon
# stops being replayable.
WEBHOOK_TOLERANCE_SECONDS = 300
SIGNATURE_PREFIX = "sha256="
IMPORT_SOURCE_NAME = "Import"
IMPORT_BATCH_SIZE = 1000
# Errors listed in a FetchLog of an import: enough to see the pattern, bounded in size.
_LOGGED_ERRORS = 20


def webhook_max_bytes() -> int:
    """Largest delivery body accepted (setting EARSHOT_WEBHOOK_MAX_BYTES, default 1 MiB)."""
    return settings.EARSHOT_WEBHOOK_MAX_BYTES


def _source_platform(source: Source) -> str:
    return (source.config or {}).get("platform") or connector_for(source.kind).platform


# --- Webhook credentials -------------------------------------------------------------------


def webhook_source_create(*, brand: Brand, name: str = "") -> Source:
    """Create a webhook source with a fresh delivery token and signing secret.

    Not idempotent: each call makes a new source with new credentials (source_create issues
    them). Raises ValidationError if the source cannot be created. Writes one Source row.
    """
    return source_create(brand=brand, kind=Source.Kind.WEBHOOK, name=name or "Webhook")


def webhook_secret_rotate(*, source: Source, rotate_token: bool = False) -> Source:
    """Give a webhook source a new signing secret (and with rotate_token, a new URL token).

    Not idempotent: every call invalidates the previous secret at once, so deliveries signed
    with it are refused from then on. Writes the Source row.
    """
    token, source.secret = webhook_credentials()
    fields = ["secret"]
    if rotate_token:
        source.token = token
        fields.append("token")
    source.save(update_fields=fields)
    return source


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The X-Earshot-Signature value of a body sent at timestamp (Unix seconds, as sent).

    The timestamp is inside the signed message, so a captured delivery cannot be replayed
    later under a fresh timestamp.
    """
    message = timestamp.encode("ascii") + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SignatureProblem:
    """Why a signed request was refused: "bad_signature" or "stale_timestamp", and a message
    that tells the sender what to fix."""

    error_class: str
    message: str


def signature_problem(
    *,
    secret: str,
    timestamp: str,
    signature: str,
    body: bytes,
    now: datetime,
    signed_by: str = "the",
) -> SignatureProblem | None:
    """None when ``signature`` is webhook_signature(secret, timestamp, body) and timestamp is
    within WEBHOOK_TOLERANCE_SECONDS of now; else what is wrong. The one check of every
    signed request Earshot receives (webhook deliveries, tracking's conversion postbacks).

    The signature is checked first, so an unsigned caller learns nothing about the clock.
    An empty secret never verifies. Reads nothing, writes nothing.
    """
    timestamp = timestamp.strip()
    try:
        expected = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    except UnicodeEncodeError:
        expected = ""
    # compare_digest: the time taken must not tell how much of a guess was right.
    if (
        not secret
        or not expected
        or not hmac.compare_digest(expected.encode(), signature.strip().encode())
    ):
        return SignatureProblem(
            "bad_signature",
            "signature does not match (HMAC-SHA256 of '<timestamp>.<body>' with "
            f"{signed_by} secret)",
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        sent_at = None
    if sent_at is None or abs(now.timestamp() - sent_at) > WEBHOOK_TOLERANCE_SECONDS:
        return SignatureProblem(
            "stale_timestamp",
            "stale timestamp: X-Earshot-Timestamp must be Unix seconds within "
            f"{WEBHOOK_TOLERANCE_SECONDS // 60} minutes of now",
        )
    return None


# --- Webhook deliveries --------------------------------------------------------------------


@dataclass(slots=True)
class DeliveryResult:
    """What to answer the sender: an HTTP status and a JSON body."""

    status: int
    body: dict[str, object]


def _refused(
    source: Source, *, status: int, error_class: str, message: str, extra: dict | None = None
) -> DeliveryResult:
    # Recorded for admin, never with the body: it may hold personal data or be hostile.
    now = timezone.now()
    FetchLog.objects.create(
        source=source,
        started_at=now,
        finished_at=now,
        http_status=status,
        error_class=error_class,
        error_message=message[:10000],
    )
    # Counted as a failure so admin shows the source as failing until a delivery succeeds.
    Source.objects.filter(pk=source.pk).update(
        last_error=f"{error_class}: {message}"[:2000],
        last_error_at=now,
        consecutive_failures=F("consecutive_failures") + 1,
    )
    logger.warning(
        "source_id=%s webhook delivery refused: %s",
        source.pk,
        error_class,
        extra={"source_id": source.pk, "error_class": error_class},
    )
    return DeliveryResult(status, {"error": message, **(extra or {})})


def webhook_delivery_unreadable(*, source: Source, status: int, message: str) -> DeliveryResult:
    """Refuse a delivery whose body cannot be read (bad Content-Length, chunked where the
    server cannot decode it), recorded in the source's FetchLog. Not idempotent."""
    return _refused(source, status=status, error_class="unreadable_body", message=message)


def webhook_delivery_too_large(*, source: Source, size: int | None) -> DeliveryResult:
    """Refuse a body over the cap (413), recorded in the source's FetchLog. Not idempotent."""
    limit = webhook_max_bytes()
    said = f"{size} bytes" if size is not None else "the body"
    return _refused(
        source,
        status=413,
        error_class="too_large",
        message=f"{said} is over the limit of {limit} bytes; send smaller deliveries",
    )


def webhook_delivery_receive(
    *,
    source: Source,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime | None = None,
) -> DeliveryResult:
    """Authenticate, validate and store one webhook delivery; say what to answer.

    Checks, in order: signature (401 bad_signature), timestamp within 5 minutes of now
    (401 stale_timestamp), JSON (400 malformed_json), every item's shape (400 invalid_items,
    listing errors by index; nothing is stored, so the sender can fix and resend the whole
    delivery). Then stores the items through items_store and answers 202 with counts.

    Idempotent for the items: a repeated delivery stores nothing new (counted duplicate).
    Writes one FetchLog per call (accepted or refused, never the body), the source's health
    fields, and Author / Mention / MentionMatch rows for new matching items.
    """
    now = now or timezone.now()
    if not timestamp or not signature:
        return _refused(
            source,
            status=401,
            error_class="bad_signature",
            message="missing X-Earshot-Timestamp or X-Earshot-Signature header",
        )
    problem = signature_problem(
        secret=source.secret,
        timestamp=timestamp,
        signature=signature,
        body=body,
        now=now,
        signed_by="the source's",
    )
    if problem is not None:
        return _refused(
            source, status=401, error_class=problem.error_class, message=problem.message
        )
    try:
        payload = json_loads_bounded(body)
    except (UnicodeDecodeError, ValueError) as exc:
        return _refused(
            source,
            status=400,
            error_class="malformed_json",
            message=f"malformed JSON: {exc}"[:300],
        )
    records = payload if isinstance(payload, list) else [payload]
    items: list[RawItem] = []
    errors: list[dict[str, object]] = []
    for index, record in enumerate(records):
        try:
            items.append(item_from_mapping(record))
        except ShapeError as exc:
            errors.append({"index": index, "error": str(exc)})
    if errors:
        summary = "; ".join(f"item {e['index']}: {e['error']}" for e in errors[:_LOGGED_ERRORS])
        return _refused(
            source,
            status=400,
            error_class="invalid_items",
            message=f"{len(errors)} of {len(records)} item(s) invalid, nothing stored: {summary}",
            extra={"errors": errors},
        )

    try:
        matcher = BrandMatcher.for_brands(source_brands(source))
        stored = items_store(
            source=source, items=items, matcher=matcher, platform=_source_platform(source)
        )
    except Exception as exc:
        # A bug, or the database gone: the sender retries later, and admin sees why.
        logger.exception("source_id=%s webhook delivery failed", source.pk)
        return _refused(
            source,
            status=500,
            error_class="internal_error",
            message=f"the delivery could not be stored ({type(exc).__name__}); retry later",
        )
    _accepted_log(
        source,
        stored,
        started=now,
        http_status=202,
        warnings=[*matcher.errors, *stored.warning_lines()],
    )
    answer: dict[str, object] = {
        "received": stored.seen,
        "new": stored.new,
        "duplicate": stored.duplicate,
        "unmatched": stored.unmatched,
    }
    # Only when there are any, so that a clean delivery's answer stays the documented four.
    if stored.failed:
        answer["failed"] = stored.failed
    if stored.warning_count:
        answer["warnings"] = stored.warning_lines()
    return DeliveryResult(202, answer)


def _accepted_log(
    source: Source,
    stored: StoreResult,
    *,
    started: datetime,
    http_status: int | None,
    warnings: Iterable[str] = (),
    error_class: str = "",
    error_message: str = "",
) -> FetchLog:
    finished = timezone.now()
    log = FetchLog.objects.create(
        source=source,
        started_at=started,
        finished_at=finished,
        http_status=http_status,
        items_seen=stored.seen,
        items_new=stored.new,
        items_duplicate=stored.duplicate,
        items_unmatched=stored.unmatched,
        error_class=error_class,
        error_message=error_message[:10000],
        warning="\n".join(warnings)[:10000],
    )
    if not error_class:
        Source.objects.filter(pk=source.pk).update(
            last_polled_at=finished,
            last_success_at=finished,
            consecutive_failures=0,
            last_error="",
        )
    else:
        Source.objects.filter(pk=source.pk).update(
            last_error=f"{error_class}: {error_message}"[:2000],
            last_error_at=finished,
            consecutive_failures=F("consecutive_failures") + 1,
        )
    return log


# --- Bulk imports --------------------------------------------------------------------------


def import_source_get_or_create(*, brand: Brand, name: str = "") -> Source:
    """The brand's import source: the one named name, else (no name) the brand's existing one,
    else a new one named name or "Import".

    Idempotent. Raises ValidationError when a new one cannot be created (Source's unique
    (brand, kind, url) currently allows one import source per brand). Writes at most one
    Source row.
    """
    sources = Source.objects.select_related("brand").filter(brand=brand, kind=Source.Kind.IMPORT)
    existing = sources.filter(name=name).first() if name else sources.order_by("pk").first()
    if existing is not None:
        return existing
    source = Source(brand=brand, kind=Source.Kind.IMPORT, url="", name=name or IMPORT_SOURCE_NAME)
    source.full_clean()
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError:
        # Another import created it between the check and the insert.
        return sources.get(name=source.name)
    return source


@dataclass(slots=True)
class ImportResult:
    rows: int = 0
    stored: StoreResult = field(default_factory=StoreResult)
    errors: int = 0
    fetch_log: FetchLog | None = None


def mentions_import(
    *,
    source: Source,
    rows: Iterable[ShapeRow],
    platform: str = "",
    batch_size: int = IMPORT_BATCH_SIZE,
    on_error: Callable[[ShapeError], None] = lambda error: None,
    is_history: bool = False,
) -> ImportResult:
    """Store the good rows of an import in batches; report each bad row to on_error.

    Consumes rows lazily and holds at most one batch, so a file of any size imports in
    constant memory. Idempotent: re-importing stores nothing new (rows counted duplicate).
    Writes one FetchLog for the run (counts; a sample of row errors in its warning, or
    error_class "invalid_items" when every row failed), Author / Mention / MentionMatch rows,
    and the source's health fields. An exception while reading is recorded in the FetchLog
    (what was stored before it stays stored) and raised. With ``is_history`` the MentionMatch
    rows this import creates are marked history (routing files them into closed cases that
    never enter the live queue); rows already stored are left as they are.
    """
    started = timezone.now()
    matcher = BrandMatcher.for_brands(source_brands(source))
    platform = platform or _source_platform(source)
    result = ImportResult()
    logged: list[str] = []
    batch: list[RawItem] = []

    def flush() -> None:
        if batch:
            result.stored = result.stored.plus(
                items_store(
                    source=source,
                    items=batch,
                    matcher=matcher,
                    platform=platform,
                    is_history=is_history,
                )
            )
            batch.clear()

    try:
        for row in rows:
            result.rows += 1
            if row.error is not None:
                result.errors += 1
                if len(logged) < _LOGGED_ERRORS:
                    logged.append(str(row.error))
                on_error(row.error)
                continue
            assert row.item is not None
            batch.append(row.item)
            if len(batch) >= batch_size:
                flush()
        flush()
    except Exception as exc:
        result.fetch_log = _accepted_log(
            source,
            result.stored,
            started=started,
            http_status=None,
            error_class="read_error",
            error_message=f"{type(exc).__name__}: {exc} (after {result.rows} row(s))",
        )
        raise

    warnings = [*matcher.errors, *result.stored.warning_lines()]
    if result.errors:
        warnings.append(f"{result.errors} of {result.rows} row(s) had errors; first ones:")
        warnings.extend(logged)
    every_row_failed = result.errors > 0 and result.errors == result.rows
    result.fetch_log = _accepted_log(
        source,
        result.stored,
        started=started,
        http_status=None,
        warnings=warnings,
        error_class="invalid_items" if every_row_failed else "",
        error_message=f"all {result.rows} row(s) had errors" if every_row_failed else "",
    )
    return result
