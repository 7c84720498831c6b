"""Everything in listening that writes: brands, sources, polling and storing mentions."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import queue
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from brands.models import Brand, handle_normalise
from listening.brand_scoring import brand_labels_confirm, brand_labels_guess
from listening.bulk import (
    AuthorRow,
    MentionRow,
    authors_upsert,
    mention_external_ids_stored,
    mentions_insert,
)
from listening.connectors.base import (
    Connector,
    ConnectorError,
    FetchedPage,
    RawItem,
    StreamBatch,
)
from listening.connectors.http import fetch_budget
from listening.connectors.registry import SourceState, connector_for, polled_kinds
from listening.models import FetchLog, Source
from listening.outside import SafeItem, item_make_safe, text_cap
from listening.query import CompiledQuery, MatchDocument, QueryError, compile_query
from listening.rollups import rollups_add
from listening.scoring import MentionSentiment, scored_languages, sentiments_for
from listening.sentiment import Scorer, get_scorer
from listening.text import clean_text, join_title_body

logger = logging.getLogger(__name__)


# --- Brands and sources ------------------------------------------------------------------


def brand_create(
    *, name: str, query: str, handles: str = "", domains: str = "", competitor_of: str = ""
) -> Brand:
    """Create a brand; with competitor_of it becomes a competitor watched by that brand.

    Not idempotent: a second call with the same name fails on the unique name.
    Raises ValidationError with a message that says what is wrong (bad query, duplicate name,
    unknown brand).
    """
    owner = None
    if competitor_of:
        owner = Brand.objects.filter(name__iexact=competitor_of).first()
        if owner is None:
            raise ValidationError(f'No brand named "{competitor_of}" to be a competitor of.')
    brand = Brand(name=name.strip(), query=query, handles=handles, domains=domains)
    brand_full_clean(brand)
    with transaction.atomic():
        brand.save()
        if owner is not None:
            owner.competitors.add(brand)
    return brand


def brand_full_clean(brand: Brand) -> None:
    """brand.full_clean() with the query compiled too: the brands app, below listening,
    cannot check a query itself. Raises one ValidationError holding every problem, the query
    error on the query field. Read-only."""
    errors: dict[str, list[ValidationError]] = {}
    try:
        brand.full_clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    try:
        compile_query(brand.query)
    except QueryError as exc:
        errors.setdefault("query", []).append(ValidationError(str(exc)))
    if errors:
        raise ValidationError(errors)


def webhook_credentials() -> tuple[str, str]:
    """A fresh delivery token (the secret part of /hooks/<token>/) and HMAC signing secret."""
    return secrets.token_urlsafe(24), secrets.token_hex(32)


def _source_unsaved(
    *,
    brand: Brand,
    kind: str,
    url: str,
    poll_interval: int,
    name: str,
    config: dict | None,
    backfill_days: int,
) -> Source:
    """A new source, validated (full_clean normalises its URL and options) but not saved.
    Webhook sources get a delivery token and a signing secret."""
    source = Source(
        brand=brand,
        kind=kind,
        url=url,
        poll_interval=poll_interval,
        name=name,
        config=config or {},
        backfill_days=backfill_days,
    )
    if kind == Source.Kind.WEBHOOK:
        source.token, source.secret = webhook_credentials()
    source.full_clean()
    return source


def source_create(
    *,
    brand: Brand,
    kind: str,
    url: str = "",
    poll_interval: int = 900,
    name: str = "",
    config: dict | None = None,
    backfill_days: int = 30,
) -> Source:
    """Create a source, due for its first poll now. Webhook sources get a delivery token and
    a signing secret. Raises ValidationError on bad input (URL, options). Not idempotent.
    Does not fetch it: source_add does (add_source and admin check a new source)."""
    source = _source_unsaved(
        brand=brand,
        kind=kind,
        url=url,
        poll_interval=poll_interval,
        name=name,
        config=config,
        backfill_days=backfill_days,
    )
    source.save()
    return source


@dataclass(slots=True, frozen=True)
class SourceCheck:
    """What fetching a source once, before it is saved, came to."""

    is_ok: bool
    # What was found ("Fetched https://...: 12 items.") or what went wrong, in words.
    message: str
    # The host could not be reached now (refused, timed out, DNS failure, 5xx, 429): the user
    # may save the source anyway. Never for a blocked address, a bad URL or a bad answer.
    may_save_anyway: bool = False
    error_class: str = ""


class SourceCheckFailed(Exception):
    """source_add refused a source whose check failed."""

    def __init__(self, check: SourceCheck) -> None:
        super().__init__(check.message)
        self.check = check


def source_check(*, source: Source, timeout: float | None = None) -> SourceCheck | None:
    """Fetch a source that is about to be saved once, as its first poll will, and store
    nothing (a dry run: no mention, fetch log or health is written). The fetch goes through
    the connectors' guarded HTTP client, so the SSRF rules apply: a blocked address is an
    error. Bounded by timeout seconds (EARSHOT_SOURCE_CHECK_TIMEOUT, default 15) in total,
    DNS included. Returns None for kinds with nothing to fetch (webhook, import). The source
    must be valid (full_clean) and have its brand; reads the brand's competitors.
    """
    connector = connector_for(source.kind)
    if not connector.is_checked:
        return None
    if timeout is None:
        # The admin's request waits for it.
        timeout = float(settings.EARSHOT_SOURCE_CHECK_TIMEOUT)
    brands = source_brands(source)
    state = SourceState(
        source_id=source.pk or 0,
        kind=source.kind,
        url=source.url,
        config=dict(source.config or {}),
        search_terms=source_search_terms(brands),
        backfill_since=timezone.now() - timedelta(days=min(source.backfill_days, 36_500)),
    )
    where = source.url or source.get_kind_display()
    outcome: list[str | BaseException] = []

    def run() -> None:
        try:
            with fetch_budget(timeout):
                outcome.append(connector.check(state))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            outcome.append(exc)

    # A thread, so that even a resolver that hangs cannot hold the admin's request past the
    # budget; the budget ends the thread's own requests soon after.
    worker = threading.Thread(
        target=contextvars.copy_context().run, args=(run,), name="source-check", daemon=True
    )
    worker.start()
    worker.join(timeout + 1.0)
    if not outcome:
        return SourceCheck(
            is_ok=False,
            message=f"Could not fetch it (timeout): no answer from {where} within {timeout:g} s.",
            may_save_anyway=True,
            error_class="timeout",
        )
    found = outcome[0]
    if isinstance(found, str):
        return SourceCheck(is_ok=True, message=f"Checked {where}: {found}.")
    if isinstance(found, ConnectorError):
        message = str(found).rstrip(".")
        return SourceCheck(
            is_ok=False,
            message=f"Could not fetch it ({found.error_class}): {message}.",
            may_save_anyway=found.is_transient,
            error_class=found.error_class,
        )
    if isinstance(found, Exception):
        logger.warning("checking a new %s source failed unexpectedly", source.kind, exc_info=found)
        return SourceCheck(
            is_ok=False,
            message=f"Could not check it: {type(found).__name__}: {found}",
            error_class="internal_error",
        )
    raise found


def source_add(
    *,
    brand: Brand,
    kind: str,
    url: str = "",
    poll_interval: int = 900,
    name: str = "",
    config: dict | None = None,
    backfill_days: int = 30,
    save_anyway: bool = False,
) -> tuple[Source, SourceCheck | None]:
    """Create a source after checking it (source_check): what add_source does. A source whose
    host is only down now is created when save_anyway is set; any other failed check (a
    blocked address, an error answer, not a feed of that kind) never is. Raises
    ValidationError on bad input, SourceCheckFailed when the check refuses it. Not
    idempotent. Returns the source and the check (None for kinds that are not checked)."""
    source = _source_unsaved(
        brand=brand,
        kind=kind,
        url=url,
        poll_interval=poll_interval,
        name=name,
        config=config,
        backfill_days=backfill_days,
    )
    check = source_check(source=source)
    if check is not None and not check.is_ok and not (check.may_save_anyway and save_anyway):
        raise SourceCheckFailed(check)
    source.save()
    return source, check


# --- Matching and scoring -----------------------------------------------------------------


@dataclass(slots=True)
class BrandMatcher:
    """The compiled queries of a source's brand and its competitors, built once per round."""

    queries: list[tuple[int, CompiledQuery]]
    errors: list[str] = field(default_factory=list)
    # {brand id: its own handles}: a post by the brand itself (an answer on the platform) is
    # kept for that brand even when it does not name the brand, so the queue sees the reply.
    own_handles: dict[int, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def for_brands(cls, brands: Iterable[Brand]) -> BrandMatcher:
        queries, errors, own_handles = [], [], {}
        for brand in brands:
            if brand.own_handle_keys:
                own_handles[brand.pk] = brand.own_handle_keys
            try:
                queries.append((brand.pk, compile_query(brand.query)))
            except QueryError as exc:
                # Saved queries are validated, but one edited around the admin must not stop
                # the other brands from being heard.
                errors.append(f"Query of brand {brand.name!r} is invalid: {exc}")
        return cls(queries=queries, errors=errors, own_handles=own_handles)

    def match(self, doc: MatchDocument, *, author_handle: str = "") -> list[tuple[int, list[str]]]:
        found = []
        for brand_id, query in self.queries:
            terms = query.match(doc)
            if terms:
                found.append((brand_id, terms))
        if self.own_handles and author_handle:
            key = handle_normalise(author_handle)
            for brand_id, handles in self.own_handles.items():
                if key in handles and all(b != brand_id for b, _ in found):
                    found.append((brand_id, [f"own handle @{key}"]))
        return found


def source_brands(source: Source) -> list[Brand]:
    """The brands whose mentions a source listens for: its own and its competitors."""
    return [source.brand, *source.brand.competitors.all()]


# --- Storing items ------------------------------------------------------------------------


# Warnings kept per store result (and so per fetch log): enough to see the pattern.
_WARNINGS_KEPT = 20


@dataclass(slots=True)
class StoreResult:
    seen: int = 0
    new: int = 0
    duplicate: int = 0
    unmatched: int = 0
    # Items the database refused even after they were made safe: reported, never retried.
    failed: int = 0
    # What had to change for items to be stored (a date outside the window, a clamped
    # count) or why one was not, first _WARNINGS_KEPT of them; warning_count counts them all.
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0

    def warn(self, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < _WARNINGS_KEPT:
            self.warnings.append(message)

    def warning_lines(self) -> list[str]:
        """The kept warnings, and how many more there were: for a fetch log."""
        more = self.warning_count - len(self.warnings)
        return [*self.warnings, *([f"... and {more} more item warning(s)"] if more else [])]

    def plus(self, other: StoreResult) -> StoreResult:
        total = StoreResult(
            seen=self.seen + other.seen,
            new=self.new + other.new,
            duplicate=self.duplicate + other.duplicate,
            unmatched=self.unmatched + other.unmatched,
            failed=self.failed + other.failed,
            warnings=[*self.warnings, *other.warnings][:_WARNINGS_KEPT],
        )
        total.warning_count = self.warning_count + other.warning_count
        return total


def _authors_upsert(items: Sequence[tuple[str, RawItem]]) -> dict[tuple[str, str], int]:
    """Create or refresh the authors of (platform, item) pairs; return {(platform, handle): id}.

    Items are already safe (listening.outside): handles, names and URLs fit their columns.
    The follower count is refreshed when the item carries one (reach changes over time); an
    item without one leaves the stored count alone.
    """
    by_key: dict[tuple[str, str], AuthorRow] = {}
    for platform, item in items:
        handle = item.author_handle
        if not handle:
            continue
        key = (platform, handle)
        known = by_key.get(key)
        if known is not None and (known.followers is not None or item.author_followers is None):
            continue
        by_key[key] = AuthorRow(
            platform=platform,
            handle=handle,
            display_name=item.author_name,
            profile_url=item.author_url,
            followers=item.author_followers,
        )
    if not by_key:
        return {}
    # Sorted so that two workers upserting overlapping authors lock rows in the same order.
    return authors_upsert([by_key[k] for k in sorted(by_key)], updated_at=timezone.now())


def _item_label(external_id: str) -> str:
    return f"item {external_id[:80]!r}"


@dataclass(slots=True)
class _Scored:
    item: RawItem
    title: str
    text: str
    is_text_truncated: bool
    matches: list[tuple[int, list[str]]]
    # What a brand query's lang: term had detected while matching (None: detection did not
    # run), so scoring does not detect the same text twice.
    detected_language: str | None = None
    # Filled for the whole batch at once (listening.scoring), before the transaction.
    sentiment: MentionSentiment | None = None
    # brand id -> its learned model's label, for matched brands with one (brand_scoring).
    brand_labels: dict[int, str] | None = None


def _rows_insert(
    scored: Sequence[_Scored],
    *,
    source: Source,
    platform: str,
    fetched_at,
    scorer: Scorer,
    is_history: bool = False,
    models_used: dict[int, int] | None = None,
) -> int:
    """Insert one batch of scored items in one transaction, with their rollups; return how
    many were new. ``models_used``: brand id -> the learned model that gave the items'
    brand_labels (listening.brand_scoring), checked against the active ones after the insert."""
    with transaction.atomic():
        author_ids = _authors_upsert([(s.item.platform or platform, s.item) for s in scored])
        rows = [
            MentionRow(
                source_id=source.pk,
                external_id=s.item.external_id,
                url=s.item.url,
                author_id=author_ids.get((s.item.platform or platform, s.item.author_handle)),
                platform=(s.item.platform or platform)[:32],
                in_reply_to=s.item.in_reply_to,
                thread_id=s.item.thread_id,
                author_followers=s.item.author_followers,
                like_count=s.item.like_count,
                reply_count=s.item.reply_count,
                repost_count=s.item.repost_count,
                title=s.title,
                text=s.text,
                is_text_truncated=s.is_text_truncated,
                language=s.sentiment.language,
                published_at=s.item.published_at or fetched_at,
                fetched_at=fetched_at,
                neg=s.sentiment.plain.neg,
                neu=s.sentiment.plain.neu,
                pos=s.sentiment.plain.pos,
                compound=s.sentiment.plain.compound,
                label=s.sentiment.plain.label,
                earshot_compound=s.sentiment.earshot_compound,
                earshot_label=s.sentiment.earshot_label,
                scorer_name=scorer.name,
                scorer_version=scorer.version,
                matches=s.matches,
                is_history=is_history,
                brand_labels=s.brand_labels,
            )
            for s in scored
        ]
        inserted = mentions_insert(rows)
        # After the matches' insert (see listening.brand_scoring): one query per batch.
        brand_labels_confirm(rows, inserted, models_used or {})
        # In the same transaction, and only for the rows inserted now: a duplicate never
        # counts twice (listening.rollups).
        rollups_add(rows=rows, inserted=inserted)
        return len(inserted)


def items_store(
    *,
    source: Source,
    items: Sequence[RawItem],
    matcher: BrandMatcher,
    fetched_at: datetime | None = None,
    batch_size: int | None = None,
    platform: str = "",
    is_history: bool = False,
) -> StoreResult:
    """Make safe, match, score and store the new items of one source.

    Every item first goes through listening.outside.item_make_safe: a hostile value is
    bounded or replaced (a warning in the result says so), never a crash. The items that
    match a brand get plain VADER's scores and Earshot's (or "unscored" for a language its
    scorer does not handle), and their language detected when the source gives none, one
    call per batch (listening.scoring). Idempotent: items
    whose (source, external_id) is already stored are recognised by id before any cleaning,
    matching or scoring, and the insert ignores conflicts, so a rerun, a retried task or a
    concurrent worker stores nothing twice. Items that match no brand are counted and
    dropped. Writes Author, Mention and MentionMatch rows, one transaction per batch; a batch
    the database refuses is stored again row by row, so one refused row (counted failed, with
    a warning) never costs the rows around it. ``is_history`` (``import_mentions --history``)
    marks the MentionMatch rows this call creates, so routing files them into history cases;
    a duplicate already stored keeps what it had.
    """
    fetched_at = fetched_at or timezone.now()
    # Each batch is its own transaction: a worker killed mid-feed keeps what it committed,
    # and the rerun skips those by id.
    batch_size = batch_size or settings.EARSHOT_STORE_BATCH_SIZE
    result = StoreResult(seen=len(items))
    unique: dict[str, SafeItem] = {}
    for raw in items:
        safe = item_make_safe(raw, fetched_at=fetched_at)
        external_id = safe.item.external_id
        if not external_id:
            result.failed += 1
            result.warn("an item without an external id was skipped")
            continue
        for note in safe.warnings:
            result.warn(f"{_item_label(external_id)}: {note}")
        unique.setdefault(external_id, safe)
    result.duplicate = len(items) - result.failed - len(unique)

    existing = mention_external_ids_stored(source.pk, list(unique))
    result.duplicate += len(existing)
    fresh = [safe for key, safe in unique.items() if key not in existing]

    scorer = get_scorer()
    scored_codes = scored_languages()
    platform = platform or source.kind
    for start in range(0, len(fresh), batch_size):
        scored: list[_Scored] = []
        for safe in fresh[start : start + batch_size]:
            item = safe.item
            title = clean_text(item.title)
            text, is_cut = text_cap(join_title_body(title, clean_text(item.body)))
            if not text:
                result.unmatched += 1
                continue
            author = f"{item.author_handle} {item.author_name}".strip()
            doc = MatchDocument(text, author=author, url=item.url, lang=item.language)
            brand_matches = matcher.match(doc, author_handle=item.author_handle)
            if not brand_matches:
                result.unmatched += 1
                continue
            scored.append(
                _Scored(
                    item=item,
                    title=title,
                    text=text,
                    is_text_truncated=safe.is_text_truncated or is_cut,
                    matches=brand_matches,
                    detected_language=doc.detected_language,
                )
            )
        if not scored:
            continue
        # Scored (and their language detected when the source gives none) outside the
        # transaction (on SQLite it holds the only write lock), and only the items that
        # matched a brand: the rest are never stored.
        sentiments = sentiments_for(
            [one.text for one in scored],
            [one.item.language for one in scored],
            scorer=scorer,
            scored=scored_codes,
            detected=[one.detected_language for one in scored],
        )
        for one, sentiment in zip(scored, sentiments, strict=True):
            one.sentiment = sentiment
        # Brands with a learned model of their own: one predict call each, outside the
        # transaction too; nothing at all for brands without one.
        guessed, models_used = brand_labels_guess(
            [one.text for one in scored],
            [one.sentiment.language for one in scored],
            [[brand_id for brand_id, _ in one.matches] for one in scored],
        )
        for one, labels in zip(scored, guessed, strict=True):
            one.brand_labels = labels
        try:
            inserted = _rows_insert(
                scored,
                source=source,
                platform=platform,
                fetched_at=fetched_at,
                scorer=scorer,
                is_history=is_history,
                models_used=models_used,
            )
            refused = 0
        except DatabaseError as exc:
            logger.warning(
                "source_id=%s: the database refused a batch (%s); storing it row by row",
                source.pk,
                exc,
                extra={"source_id": source.pk},
            )
            inserted, refused = _rows_insert_one_by_one(
                scored,
                source=source,
                platform=platform,
                fetched_at=fetched_at,
                scorer=scorer,
                result=result,
                is_history=is_history,
                models_used=models_used,
            )
        result.new += inserted
        result.failed += refused
        # Lost a race with another worker storing the same items: they are duplicates.
        result.duplicate += len(scored) - inserted - refused
    return result


def _rows_insert_one_by_one(
    scored: Sequence[_Scored],
    *,
    source: Source,
    platform: str,
    fetched_at,
    scorer: Scorer,
    result: StoreResult,
    is_history: bool = False,
    models_used: dict[int, int] | None = None,
) -> tuple[int, int]:
    """Store each item of a refused batch in its own transaction: (inserted, refused)."""
    inserted = refused = 0
    for one in scored:
        try:
            inserted += _rows_insert(
                [one],
                source=source,
                platform=platform,
                fetched_at=fetched_at,
                scorer=scorer,
                is_history=is_history,
                models_used=models_used,
            )
        except DatabaseError as exc:
            refused += 1
            reason = " ".join(str(exc).split())[:300]
            result.warn(f"{_item_label(one.item.external_id)}: not stored: {reason}")
    return inserted, refused


# --- Polling a source ---------------------------------------------------------------------


@dataclass(slots=True)
class PollResult:
    fetch_log: FetchLog
    # True when the failure may pass (timeout, 429, 5xx): the task may retry.
    is_transient_failure: bool = False
    retry_after: float | None = None


def _backoff_delay(source: Source, failures: int) -> timedelta:
    """Next poll delay: the interval, doubling after repeated failures, capped."""
    threshold = settings.EARSHOT_BACKOFF_AFTER_FAILURES
    seconds = source.poll_interval
    if failures >= threshold:
        seconds = seconds * 2 ** (failures - threshold + 1)
    return timedelta(seconds=min(seconds, max(settings.EARSHOT_BACKOFF_MAX_SECONDS, 1)))


def source_search_terms(brands: Iterable[Brand]) -> tuple[str, ...]:
    """Positive plain terms of the brands' queries, for APIs that search server-side."""
    terms: list[str] = []
    for brand in brands:
        try:
            compiled = compile_query(brand.query)
        except QueryError:
            continue
        for term in compiled.terms:
            field_name = term.split(":", 1)[0]
            if ":" in term and field_name in _QUERY_FIELDS:
                continue  # author:/site:/lang: filters are matched locally only
            if term not in terms:
                terms.append(term)
    return tuple(terms)


_QUERY_FIELDS = {"author", "site", "lang"}


@contextlib.contextmanager
def _commits_unflushed() -> Iterator[None]:
    """Commit this connection's transactions without waiting for the WAL flush (PostgreSQL's
    synchronous_commit=off), for a poll: a poll commits four times or more, and each wait is
    a disk flush, long on a busy disk. Safe here and only here: a database crash can lose
    the last few hundred milliseconds of commits, but never a part of one nor a later one
    without an earlier (the log is replayed in order), so what is lost is a suffix of polls,
    cursor and fetch log included, and the next poll fetches those items again. A webhook
    answers its sender once committed, so it keeps the default. Nothing changes inside a
    caller's transaction."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        if connection.connection is not None and not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")


def source_poll(*, source_id: int, is_retry: bool = False) -> PollResult | None:
    """Fetch one source once (see _source_poll), its commits unflushed (_commits_unflushed)."""
    with _commits_unflushed():
        return _source_poll(source_id=source_id, is_retry=is_retry)


def _source_poll(*, source_id: int, is_retry: bool) -> PollResult | None:
    """Fetch one source once (several pages when the connector has more) and store new items.

    Idempotent (see items_store). Records one FetchLog per attempt, successful or not, and
    updates the source's health: last success, consecutive failures, last error and the next
    poll time (backed off after repeated failures; the source stays enabled). is_retry marks
    the task's automatic retry of a failed attempt: it belongs to the same poll, so its
    failure is not counted again (issue 11: a DNS failure's three retries counted as three
    failures and backed the source off within seconds). The connector's
    cursor is saved after each page's items are stored, so a crash resumes without gaps and
    without doubles. Returns None if the source no longer exists. Connector errors are
    recorded, not raised; anything unexpected is recorded and re-raised.
    """
    source = Source.objects.select_related("brand").filter(pk=source_id).first()
    if source is None:
        return None
    started = timezone.now()
    log = FetchLog.objects.create(source=source, started_at=started)
    brands = source_brands(source)
    matcher = BrandMatcher.for_brands(brands)
    warnings = list(matcher.errors)
    stored = StoreResult()
    pages = 0
    page: FetchedPage | None = None
    try:
        connector = connector_for(source.kind)
        state = SourceState.from_source(
            source,
            search_terms=source_search_terms(brands),
            backfill_since=(
                # Bounded like the field's validator, for a row edited around it.
                started - timedelta(days=min(source.backfill_days, 36_500))
                if not source.cursor
                else None
            ),
        )
        while True:
            page = connector.fetch(state)
            pages += 1
            log.http_status = page.http_status
            warnings.extend(page.warnings)
            if not page.not_modified:
                result = items_store(
                    source=source, items=page.items, matcher=matcher, platform=connector.platform
                )
                stored = stored.plus(result)
            if page.cursor is not None or page.progress:
                _source_cursor_save(source, page)
            if not page.has_more or pages >= settings.EARSHOT_MAX_PAGES_PER_POLL:
                break
            state = replace(state, cursor=source.cursor, backfill_since=None)
    except ConnectorError as exc:
        return _poll_failed(source, log, exc, warnings, stored, is_retry=is_retry)
    except Exception as exc:
        # A bug or a killed task (soft time limit): still visible in admin, then raised.
        _poll_failed(source, log, exc, warnings, stored, is_retry=is_retry)
        raise

    now = timezone.now()
    _log_counts(log, stored)
    log.finished_at = now
    log.warning = "\n".join([*warnings, *stored.warning_lines()])[:10000]
    log.save()
    source.last_polled_at = now
    source.last_success_at = now
    source.consecutive_failures = 0
    source.last_error = ""
    if page is not None and page.has_more:
        # More pages are waiting (a long backfill): continue soon rather than after the
        # interval, without hogging a worker in one long task.
        source.next_poll_at = now + timedelta(seconds=5)
    else:
        source.next_poll_at = now + timedelta(seconds=source.poll_interval)
    update_fields = [
        "last_polled_at",
        "last_success_at",
        "consecutive_failures",
        "last_error",
        "next_poll_at",
    ]
    if page is not None and not page.not_modified:
        # Saved only after every item is stored: a crash before this point refetches the
        # whole feed next time instead of trusting a 304 for items never stored.
        source.etag, source.last_modified = page.etag[:500], page.last_modified[:100]
        update_fields += ["etag", "last_modified"]
    source.save(update_fields=update_fields)
    logger.info(
        "source_id=%s polled: HTTP %s, %s page(s), %s seen, %s new",
        source.pk,
        log.http_status,
        pages,
        stored.seen,
        stored.new,
        extra={"source_id": source.pk},
    )
    return PollResult(fetch_log=log)


def _source_cursor_save(source: Source, page: FetchedPage) -> None:
    fields = []
    if page.cursor is not None:
        source.cursor = page.cursor
        fields.append("cursor")
    if page.progress:
        source.backfill_status = page.progress[:300]
        fields.append("backfill_status")
    source.save(update_fields=fields)


def _log_counts(log: FetchLog, stored: StoreResult) -> None:
    log.items_seen, log.items_new = stored.seen, stored.new
    log.items_duplicate, log.items_unmatched = stored.duplicate, stored.unmatched


def _poll_failed(
    source: Source,
    log: FetchLog,
    exc: BaseException,
    warnings: list[str],
    stored: StoreResult | None = None,
    *,
    is_retry: bool = False,
) -> PollResult:
    """Record a failed attempt. One poll counts one failure, however many times the task
    retried it: a retry keeps the count its first attempt set (at least 1)."""
    now = timezone.now()
    if stored is not None:
        # Pages stored before the failure stay stored; the log says how many.
        _log_counts(log, stored)
        warnings = [*warnings, *stored.warning_lines()]
    if isinstance(exc, ConnectorError):
        error_class, is_transient = exc.error_class, exc.is_transient
        log.http_status = exc.http_status or log.http_status
        message = str(exc)
    else:
        error_class, is_transient = "internal_error", False
        message = f"{type(exc).__name__}: {exc}"
    log.finished_at = now
    log.error_class = error_class[:60]
    log.error_message = message[:10000]
    log.warning = "\n".join(warnings)[:10000]
    log.save()
    failures = max(source.consecutive_failures, 1) if is_retry else source.consecutive_failures + 1
    Source.objects.filter(pk=source.pk).update(
        last_polled_at=now,
        last_error=f"{error_class}: {message}"[:2000],
        last_error_at=now,
        consecutive_failures=failures,
        next_poll_at=now + _backoff_delay(source, failures),
    )
    logger.warning(
        "source_id=%s poll failed: %s: %s",
        source.pk,
        error_class,
        message[:200],
        extra={"source_id": source.pk, "error_class": error_class},
    )
    return PollResult(
        fetch_log=log,
        is_transient_failure=is_transient,
        retry_after=getattr(exc, "retry_after", None),
    )


def sources_dispatch_due(*, now: datetime | None = None) -> list[int]:
    """Claim every enabled source whose poll is due and return their ids.

    Safe to run concurrently (beat overlapping itself, two beats by mistake): the due rows are
    locked with SKIP LOCKED and pushed to their next poll time in the same transaction, so
    each due poll is handed out once. The caller enqueues the polls.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Source.objects.select_for_update(skip_locked=True)
            .filter(is_enabled=True, next_poll_at__lte=now, kind__in=polled_kinds())
            .values_list("pk", "poll_interval")
        )
        by_interval: dict[int, list[int]] = {}
        for pk, interval in due:
            by_interval.setdefault(interval, []).append(pk)
        # One UPDATE per distinct interval (a handful), not one per source. The poll itself
        # sets the definitive next time; this only stops the next dispatch re-queueing it.
        for interval, pks in by_interval.items():
            Source.objects.filter(pk__in=pks).update(next_poll_at=now + timedelta(seconds=interval))
    return [pk for pk, _ in due]


# --- Live streams -------------------------------------------------------------------------


def _stream_backoff(attempt: int) -> float:
    """Seconds before reconnect attempt n: exponential with full jitter, capped at 5 min."""
    return random.uniform(0, min(300.0, 2.0 ** min(attempt, 9)))  # noqa: S311 (jitter)


@dataclass
class _StreamSession:
    """One connection of a live source: groups batches, stores them, advances the cursor."""

    source: Source
    connector: Connector
    matcher: BrandMatcher
    log: FetchLog
    stored: StoreResult = field(default_factory=StoreResult)
    pending: list[RawItem] = field(default_factory=list)
    pending_cursor: str | None = None
    flushed_at: float = field(default_factory=time.monotonic)

    def add(self, batch: StreamBatch) -> None:
        self.pending.extend(batch.items)
        if batch.cursor is not None:
            self.pending_cursor = batch.cursor

    def is_due(self, max_batch: int, max_latency: float) -> bool:
        return len(self.pending) >= max_batch or time.monotonic() - self.flushed_at >= max_latency

    def flush(self) -> None:
        if self.pending:
            result = items_store(
                source=self.source,
                items=self.pending,
                matcher=self.matcher,
                platform=self.connector.platform,
            )
            self.stored = self.stored.plus(result)
        if self.pending_cursor is not None:
            # Only now that the items before it are stored: a restart resumes here.
            self.source.cursor = self.pending_cursor
            Source.objects.filter(pk=self.source.pk).update(
                cursor=self.pending_cursor, last_success_at=timezone.now()
            )
        self.pending, self.pending_cursor = [], None
        self.flushed_at = time.monotonic()
        _log_counts(self.log, self.stored)
        self.log.warning = "\n".join([*self.matcher.errors, *self.stored.warning_lines()])[:10000]
        self.log.save(
            update_fields=[
                "items_seen",
                "items_new",
                "items_duplicate",
                "items_unmatched",
                "warning",
            ]
        )


_STREAM_END = object()


def _open_stream(
    connector: Connector, state: SourceState, stop: threading.Event
) -> Iterator[StreamBatch]:
    return connector.stream(state, stop=stop)


def _batches_or_ticks(
    open_stream: Callable[[threading.Event], Iterator[StreamBatch]],
    stop: threading.Event,
    tick: float,
) -> Iterator[StreamBatch | None]:
    """Yield the connector's batches, and None whenever tick seconds pass without one.

    The connector blocks on its socket; without ticks, items received just before a stream
    goes quiet would wait unstored until the next message. The connector runs in a reader
    thread that only does network I/O and parsing (connectors never touch the database);
    the caller's thread does all storing. The queue is bounded, so a slow database slows
    the reader instead of filling memory. Exceptions from the connector are re-raised here.
    The reader gets its own stop event, set when the caller stops or stops consuming.
    """
    handoff: queue.Queue = queue.Queue(maxsize=64)
    reader_stop = threading.Event()

    def read() -> None:
        try:
            for batch in open_stream(reader_stop):
                handoff.put(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            handoff.put(exc)
        finally:
            handoff.put(_STREAM_END)

    reader = threading.Thread(target=read, name="stream-reader", daemon=True)
    reader.start()
    try:
        while True:
            if stop.is_set():
                reader_stop.set()
            try:
                item = handoff.get(timeout=tick)
            except queue.Empty:
                yield None
                continue
            if item is _STREAM_END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        reader_stop.set()
        # Unblock a reader waiting on a full queue, then let it finish.
        deadline = time.monotonic() + 5
        while reader.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.1)


def stream_consume(
    *,
    source_id: int,
    stop: threading.Event,
    max_batch: int = 500,
    max_latency: float = 1.0,
    max_connections: int | None = None,
) -> None:
    """Consume a live source until stop is set: connect, store, resume, reconnect.

    Idempotent storage (items_store) plus a cursor saved only after the items before it are
    stored: a restart resumes from the cursor, may receive a few items again, and stores none
    of them twice. Batches from the connector are grouped up to max_batch items or
    max_latency seconds before storing. Each connection gets a FetchLog (updated as it goes);
    a dropped or refused connection is recorded and retried with exponential backoff and
    jitter; a configuration error waits for an admin (checked again every 5 minutes).
    max_connections bounds the attempts (tests, benchmarks); None means until stop.
    """
    failures = 0
    connections = 0
    while not stop.is_set():
        if max_connections is not None and connections >= max_connections:
            return
        connections += 1
        source = Source.objects.select_related("brand").filter(pk=source_id).first()
        if source is None or not source.is_enabled:
            return
        brands = source_brands(source)
        session = _StreamSession(
            source=source,
            connector=connector_for(source.kind),
            matcher=BrandMatcher.for_brands(brands),
            log=FetchLog.objects.create(source=source),
        )
        session.log.warning = "\n".join(session.matcher.errors)
        state = SourceState.from_source(source, search_terms=source_search_terms(brands))
        try:
            batches = _batches_or_ticks(
                functools.partial(_open_stream, session.connector, state),
                stop,
                max_latency,
            )
            for batch in batches:
                if batch is not None:
                    session.add(batch)
                if session.pending and session.is_due(max_batch, max_latency):
                    session.flush()
                    if failures:
                        failures = 0
                        Source.objects.filter(pk=source.pk).update(
                            consecutive_failures=0, last_error=""
                        )
            session.flush()
        except ConnectorError as exc:
            session.flush()
            _poll_failed(source, session.log, exc, session.matcher.errors, session.stored)
            failures += 1
            delay = _stream_backoff(failures) if exc.is_transient else 300.0
            logger.warning(
                "source_id=%s stream dropped (%s); reconnecting in %.1f s",
                source.pk,
                exc.error_class,
                delay,
                extra={"source_id": source.pk},
            )
            stop.wait(delay)
            continue
        except Exception as exc:
            _poll_failed(source, session.log, exc, session.matcher.errors, session.stored)
            raise
        session.log.finished_at = timezone.now()
        session.log.save(update_fields=["finished_at", "warning"])
        Source.objects.filter(pk=source.pk).update(
            last_polled_at=timezone.now(), consecutive_failures=0, last_error=""
        )
        if not stop.is_set():
            # The server ended the stream cleanly: reconnect, but never in a tight loop.
            stop.wait(_stream_backoff(1) + 1.0)


# --- Interrupted fetches ------------------------------------------------------------------

FETCH_INTERRUPTED = "interrupted"
# Only recent fetches are looked at, so each dispatch reads fetchlog_source_idx for a day of
# logs instead of the whole history; older unfinished logs already read "interrupted" in admin.
FETCH_INTERRUPTED_LOOKBACK = timedelta(days=1)
_POLL_INTERRUPTED_MESSAGE = (
    "The poll never finished: its worker stopped (killed at the time limit, out of memory, or "
    "restarted) before recording a result. Items stored before that stay stored; the next poll "
    "fetches the rest."
)
_STREAM_INTERRUPTED_MESSAGE = (
    "The stream connection ended without recording it (its process was stopped or killed); a "
    "newer connection took over. Items stored before that stay stored."
)


def fetchlogs_interrupted_mark(*, older_than: timedelta, now: datetime | None = None) -> int:
    """Mark fetches whose worker died before recording a result as interrupted (issue 9).

    A killed poll leaves its FetchLog with finished_at empty, which read as a success. Polls
    that started more than ``older_than`` ago (the poll task's hard time limit: no worker can
    still be running them), and live-stream connections that a newer connection of the same
    source replaced, get error_class "interrupted" and a message saying what happened;
    finished_at stays empty, because they never finished. A polled source whose last success
    is older than its interrupted poll gets the error as its last error and one more
    consecutive failure, so its health in admin says so. Idempotent (marked logs are no longer
    unmarked); safe to overlap (rows are locked with SKIP LOCKED). Touches FetchLog.error_class
    and error_message, and Source.last_error, last_error_at and consecutive_failures. Returns
    the number of logs marked.
    """
    from django.db.models import Exists, F, OuterRef, Q

    now = now or timezone.now()
    polled = set(polled_kinds())
    kinds = dict(Source.objects.values_list("pk", "kind"))
    polled_ids = [pk for pk, kind in kinds.items() if kind in polled]
    live_ids = [pk for pk, kind in kinds.items() if kind not in polled]
    # fetchlog_source_idx: source_id IN (...) and a range of started_at.
    unfinished = FetchLog.objects.filter(
        finished_at__isnull=True, error_class="", started_at__gte=now - FETCH_INTERRUPTED_LOOKBACK
    )
    newer = FetchLog.objects.filter(
        source_id=OuterRef("source_id"), started_at__gt=OuterRef("started_at")
    )
    marked = 0
    with transaction.atomic():
        polls = list(
            unfinished.filter(source_id__in=polled_ids, started_at__lt=now - older_than)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        streams = list(
            unfinished.filter(Exists(newer), source_id__in=live_ids)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        for ids, message in (
            (polls, _POLL_INTERRUPTED_MESSAGE),
            (streams, _STREAM_INTERRUPTED_MESSAGE),
        ):
            if ids:
                marked += FetchLog.objects.filter(pk__in=ids).update(
                    error_class=FETCH_INTERRUPTED, error_message=message
                )
        if polls:
            # Polled sources only: a live source's health follows its current connection.
            interrupted_since_success = FetchLog.objects.filter(
                pk__in=polls, source_id=OuterRef("pk"), started_at__gt=OuterRef("last_success_at")
            )
            Source.objects.filter(
                Q(last_success_at__isnull=True) | Exists(interrupted_since_success),
                pk__in=FetchLog.objects.filter(pk__in=polls).values("source_id"),
            ).update(
                last_error=f"{FETCH_INTERRUPTED}: {_POLL_INTERRUPTED_MESSAGE}",
                last_error_at=now,
                consecutive_failures=F("consecutive_failures") + 1,
            )
    if marked:
        logger.warning(
            "marked %s fetch(es) interrupted: %s poll(s), %s stream connection(s)",
            marked,
            len(polls),
            len(streams),
        )
    return marked
