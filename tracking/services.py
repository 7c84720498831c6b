"""Writes of tracked links: making links, recording clicks, recording conversions.

The rules (README, Tracked links):
- a link may only point to the brand's own domains, checked when it is made (targets.py);
- a click is one insert, with no IP address in clear (a keyed hash) and bots flagged;
- a conversion is tied to a click, once per brand and order id, from a signed postback
  (verified) or the thank-you page's pixel (unverified); a signed postback for an order the
  pixel already reported verifies it.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime

from brands.models import Brand
from brands.permissions import Action, require
from engagement.models import Case
from listening.models import Author
from listening.outside import json_loads_bounded
from listening.push_services import WEBHOOK_TOLERANCE_SECONDS, signature_problem
from tracking.models import Click, Conversion, TrackedLink, TrackingSettings
from tracking.targets import (
    TargetRefused,
    domains_parse,
    redirect_url,
    target_clean,
    utm_parameters,
)

logger = logging.getLogger(__name__)

# 7 random bytes: 10 URL-safe characters, 2^56 codes. Short enough for a reply on a platform
# that counts characters; far too many to find links by guessing (404s cost a guesser a
# request each, and a found link only leads to the brand's own site).
CODE_BYTES = 7
# 12 random bytes: 16 characters. A click token is what a conversion names, so guessing one
# would let a stranger attach a pixel sale to someone's click: 2^96 makes that hopeless.
CLICK_TOKEN_BYTES = 12
MAX_ORDER_ID = 200
MAX_AMOUNT = Decimal("999999999999")  # 12 digits before the point (max_digits 15, 3 places)
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# User agents of link previews (platforms fetch a posted link to show a card), crawlers and
# scripts: their visits are counted, flagged as bots, and left out of referral figures.
_BOT_RE = re.compile(
    r"bot|crawl|spider|slurp|preview|fetcher|facebookexternalhit|embedly|mastodon|bluesky|"
    r"cardyb|whatsapp|telegram|discord|slack|skype|curl|wget|python|httpx|go-http-client|"
    r"java/|okhttp|headless|lighthouse|http\.rb|libwww|scrapy",
    re.IGNORECASE,
)
_MOBILE_RE = re.compile(r"mobile|android|iphone|ipad|ipod", re.IGNORECASE)
_DESKTOP_RE = re.compile(r"windows|macintosh|x11|cros|linux", re.IGNORECASE)


class LinkRefused(ValueError):
    """A link cannot be made; the message is for the user."""


# --- settings ----------------------------------------------------------------------------


def postback_secret_new() -> str:
    return secrets.token_hex(32)


def tracking_settings_get(*, brand: Brand) -> TrackingSettings:
    """The brand's tracking settings, made (with a fresh postback secret) on first use.
    Idempotent; writes one TrackingSettings row the first time."""
    row, _ = TrackingSettings.objects.get_or_create(
        brand=brand, defaults={"postback_secret": postback_secret_new()}
    )
    return row


def postback_secret_rotate(*, tracking: TrackingSettings) -> str:
    """A new postback secret, returned so it can be shown once. Not idempotent: postbacks
    signed with the old secret are refused from now on. Writes the settings row."""
    tracking.postback_secret = postback_secret_new()
    tracking.save(update_fields=["postback_secret"])
    return tracking.postback_secret


def utm_template_for(utm_template: str | None) -> str:
    """The brand's UTM template, else the instance's (EARSHOT_TRACKING_UTM)."""
    return utm_template or settings.EARSHOT_TRACKING_UTM


# --- links -------------------------------------------------------------------------------


def link_public_url(code: str) -> str:
    """The absolute /r/<code> URL to put in a reply (EARSHOT_TRACKING_BASE_URL)."""
    return settings.EARSHOT_TRACKING_BASE_URL + reverse("tracking:redirect", args=[code])


def link_code_new() -> str:
    """A new random link code (URL-safe base64 of CODE_BYTES random bytes) that does not start
    with "-": a spreadsheet reads a cell starting with "-" as a formula, so the links CSV would
    have to escape it and the code in the file would no longer be the code in the URL."""
    while (code := secrets.token_urlsafe(CODE_BYTES)).startswith("-"):
        pass
    return code


def _link_insert(**fields: Any) -> TrackedLink:
    # A code collision is a 2^-56 event; two tries make it a non-event.
    for attempt in range(3):
        try:
            with transaction.atomic():
                return TrackedLink.objects.create(code=link_code_new(), **fields)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def link_create(
    *,
    brand: Brand,
    target_url: str,
    campaign: str = "",
    case: Case | None = None,
    author: Author | None = None,
    created_by: Any,
    is_template: bool = False,
) -> TrackedLink:
    """Make a tracked link to target_url for the brand, or raise LinkRefused saying why.

    The target must be on the brand's own domains (targets.target_clean); what is stored is
    the URL as rebuilt there. With a case, the author defaults to the case's. The same user
    asking again for the same target and campaign on the same case gets the same link (an
    agent who inserts it twice does not split the case's clicks). Otherwise not idempotent:
    each call is a new link. Writes one TrackedLink row. Raises PermissionDenied/Http404 when
    created_by may not make links for the brand.
    """
    require(created_by, brand.pk, Action.MAKE_LINKS)
    campaign = " ".join(campaign.split())[:100]
    if case is not None and case.brand_id != brand.pk:
        raise LinkRefused("That case belongs to another brand.")
    try:
        target = target_clean(target_url, domains_parse(brand.domains))
    except TargetRefused as exc:
        raise LinkRefused(f"Not a link Earshot can track: {exc}.") from exc
    if case is not None and author is None:
        author = case.author
    if case is not None and not is_template:
        existing = TrackedLink.objects.filter(
            brand=brand,
            case=case,
            target_url=target,
            campaign=campaign,
            created_by=created_by,
            template__isnull=True,
        ).first()
        if existing is not None:
            return existing
    return _link_insert(
        brand=brand,
        target_url=target,
        campaign=campaign,
        case=None if is_template else case,
        author=None if is_template else author,
        created_by=created_by,
        is_template=is_template,
    )


def saved_reply_link(*, argument: str, case: Case, user: Any) -> str | None:
    """{link:<code>} in a saved reply, used on a case: the case's own link made from the
    template link <code> (its target and campaign, this case and author), as an absolute URL.

    Registered with engagement's saved replies (tracking/apps.py). Idempotent per template
    and case: using the saved reply again on the case gives the same link (one row, kept by
    the unique constraint even when two agents insert it at once). None (the placeholder
    stays as typed) when <code> is no template link of the case's brand.
    """
    template = TrackedLink.objects.filter(
        code=argument, brand_id=case.brand_id, is_template=True
    ).first()
    if template is None:
        return None
    require(user, case.brand_id, Action.MAKE_LINKS)
    link = TrackedLink.objects.filter(template=template, case=case).first()
    if link is None:
        try:
            link = _link_insert(
                brand_id=case.brand_id,
                target_url=template.target_url,
                campaign=template.campaign,
                case=case,
                author_id=case.author_id,
                created_by=user,
                template=template,
            )
        except IntegrityError:
            link = TrackedLink.objects.get(template=template, case=case)
    return link_public_url(link.code)


# --- clicks ------------------------------------------------------------------------------


def ip_hash(ip: str) -> str:
    """A keyed hash of an IP address (HMAC-SHA256 with SECRET_KEY, 16 hex digits): equal for
    equal addresses, useless without the key. Empty for no address."""
    if not ip:
        return ""
    return salted_hmac("earshot.tracking.click-ip", ip, algorithm="sha256").hexdigest()[:16]


def agent_family(user_agent: str) -> str:
    """ "bot", "mobile", "desktop" or "other". No user agent at all counts as a bot."""
    if not user_agent.strip() or _BOT_RE.search(user_agent):
        return "bot"
    if _MOBILE_RE.search(user_agent):
        return "mobile"
    if _DESKTOP_RE.search(user_agent):
        return "desktop"
    return "other"


def click_record(*, code: str, ip: str, user_agent: str, record: bool = True) -> str | None:
    """Where /r/<code> sends the visitor, recording the click; None for an unknown code.

    One read (the link with its brand's UTM template) and one insert. The redirect URL is the
    link's target with the UTM parameters and earshot_click=<the click's token>. With
    record=False (a HEAD request: nobody is visiting) nothing is written and no click token
    is added. Not idempotent: each call is a click.
    """
    row = (
        TrackedLink.objects.filter(code=code)
        .values(
            "pk",
            "brand_id",
            "case_id",
            "author_id",
            "campaign",
            "target_url",
            "brand__tracking__utm_template",
        )
        .first()
    )
    if row is None:
        return None
    parameters = utm_parameters(
        utm_template_for(row["brand__tracking__utm_template"]),
        {
            "campaign": row["campaign"],
            "case": str(row["case_id"] or ""),
            "code": code,
        },
    )
    token = ""
    if record:
        token = secrets.token_urlsafe(CLICK_TOKEN_BYTES)
        family = agent_family(user_agent)
        Click.objects.create(
            link_id=row["pk"],
            brand_id=row["brand_id"],
            case_id=row["case_id"],
            author_id=row["author_id"],
            campaign=row["campaign"],
            token=token,
            ip_hash=ip_hash(ip),
            agent_family=family,
            is_bot=family == "bot",
        )
    return redirect_url(row["target_url"], parameters, token)


# --- conversions -------------------------------------------------------------------------


@dataclass(slots=True)
class ConversionResult:
    """What to answer the sender: an HTTP status and a JSON body."""

    status: int
    body: dict[str, object]


class ConversionInvalid(ValueError):
    """A field of a conversion is wrong; the message says which and how (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Sale:
    order_id: str
    amount: Decimal
    currency: str
    at: datetime


def sale_clean(
    *, click: Click, order_id: object, amount: object, currency: object, at: object, now: datetime
) -> Sale:
    """The sale's fields checked, or ConversionInvalid naming the first bad one."""
    if not isinstance(order_id, str | int) or isinstance(order_id, bool):
        raise ConversionInvalid("order_id: give the shop's order id as a string")
    order = str(order_id).strip()
    if not order or len(order) > MAX_ORDER_ID or any(ord(c) < 32 for c in order):
        raise ConversionInvalid(
            f"order_id: 1 to {MAX_ORDER_ID} printable characters, got {len(order)}"
        )
    if isinstance(amount, bool) or not isinstance(amount, str | int | float):
        raise ConversionInvalid('amount: give a decimal number such as "49.90"')
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise ConversionInvalid(
            f'amount: {str(amount)[:40]!r} is not a decimal number such as "49.90"'
        ) from None
    if not value.is_finite() or value < 0 or value > MAX_AMOUNT:
        raise ConversionInvalid(
            f"amount: must be a number from 0 to {MAX_AMOUNT}, got {str(amount)[:40]}"
        )
    if value != value.quantize(Decimal("0.001")):
        raise ConversionInvalid("amount: at most 3 decimal places")
    if not isinstance(currency, str) or not _CURRENCY_RE.match(currency.strip().upper()):
        raise ConversionInvalid('currency: an ISO 4217 code of three letters, such as "EUR"')
    if at in (None, ""):
        when = now
    else:
        when = parse_datetime(at) if isinstance(at, str) else None
        if when is None or timezone.is_naive(when):
            raise ConversionInvalid(
                'at: an ISO 8601 date and time with its offset, such as "2026-12-06T12:00:00Z"'
            )
    tolerance = timedelta(seconds=WEBHOOK_TOLERANCE_SECONDS)
    if when > now + tolerance:
        raise ConversionInvalid("at: the order is dated in the future")
    if when < click.at - tolerance:
        raise ConversionInvalid("at: the order is dated before its click")
    return Sale(order, value, currency.strip().upper(), when)


def conversion_record(*, click: Click, sale: Sale, channel: str) -> str:
    """Record the sale for the click: "recorded", "duplicate" or "verified".

    Idempotent per (brand, order id): a replay or a second delivery changes nothing and says
    "duplicate". A signed postback for an order the pixel recorded makes it verified, with
    the postback's figures ("verified"); a pixel never overwrites anything. Writes at most one
    Conversion row.
    """
    verified = channel == Conversion.Channel.POSTBACK
    try:
        with transaction.atomic():
            Conversion.objects.create(
                brand_id=click.brand_id,
                click=click,
                order_id=sale.order_id,
                amount=sale.amount,
                currency=sale.currency,
                at=sale.at,
                channel=channel,
                is_verified=verified,
            )
        return "recorded"
    except IntegrityError:
        pass
    if verified:
        upgraded = Conversion.objects.filter(
            brand_id=click.brand_id, order_id=sale.order_id, is_verified=False
        ).update(
            click=click,
            amount=sale.amount,
            currency=sale.currency,
            at=sale.at,
            channel=channel,
            is_verified=True,
        )
        if upgraded:
            return "verified"
    return "duplicate"


def _click_get(token: object) -> Click | None:
    if not isinstance(token, str) or not token or len(token) > 64:
        return None
    return Click.objects.select_related("brand__tracking").filter(token=token).first()


def _postback_refused(
    click: Click, *, status: int, error_class: str, message: str
) -> ConversionResult:
    # Shown in admin on the brand's tracking settings: the shop's developer reads why.
    TrackingSettings.objects.filter(brand_id=click.brand_id).update(
        postbacks_refused=F("postbacks_refused") + 1,
        last_postback_error=f"{error_class}: {message}"[:500],
        last_postback_error_at=timezone.now(),
    )
    logger.warning(
        "brand_id=%s conversion postback refused: %s",
        click.brand_id,
        error_class,
        extra={"brand_id": click.brand_id, "error_class": error_class},
    )
    return ConversionResult(status, {"error": message})


def conversion_postback_receive(
    *,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime | None = None,
) -> ConversionResult:
    """A signed conversion postback: JSON {click, order_id, amount, currency, at}.

    Checks, in order: JSON (400), the click token (404 unknown click), the signature with the
    click's brand's postback secret, as webhook deliveries are signed (401 bad_signature,
    401 stale_timestamp: listening.push_services.signature_problem), the sale's fields (400,
    naming the field). Then records it: 200 with "recorded", "verified" or "duplicate".
    Idempotent per (brand, order_id). A refusal for a known brand is counted on its tracking
    settings (admin shows the last one).
    """
    now = now or timezone.now()
    try:
        payload = json_loads_bounded(body)
    except (UnicodeDecodeError, ValueError) as exc:
        return ConversionResult(400, {"error": f"malformed JSON: {exc}"[:300]})
    if not isinstance(payload, dict):
        return ConversionResult(400, {"error": "send one JSON object"})
    click = _click_get(payload.get("click"))
    if click is None:
        return ConversionResult(404, {"error": "unknown click: send the earshot_click value"})
    tracking = getattr(click.brand, "tracking", None)
    if not timestamp or not signature:
        return _postback_refused(
            click,
            status=401,
            error_class="bad_signature",
            message="missing X-Earshot-Timestamp or X-Earshot-Signature header",
        )
    problem = signature_problem(
        secret=tracking.postback_secret if tracking is not None else "",
        timestamp=timestamp,
        signature=signature,
        body=body,
        now=now,
        signed_by="the brand's postback",
    )
    if problem is not None:
        return _postback_refused(
            click, status=401, error_class=problem.error_class, message=problem.message
        )
    try:
        sale = sale_clean(
            click=click,
            order_id=payload.get("order_id"),
            amount=payload.get("amount"),
            currency=payload.get("currency"),
            at=payload.get("at"),
            now=now,
        )
    except ConversionInvalid as exc:
        return _postback_refused(click, status=400, error_class="invalid", message=str(exc))
    result = conversion_record(click=click, sale=sale, channel=Conversion.Channel.POSTBACK)
    return ConversionResult(200, {"result": result, "order_id": sale.order_id})


def conversion_pixel_receive(
    *, click_token: str, order_id: str, amount: str, currency: str, now: datetime | None = None
) -> ConversionResult:
    """The thank-you page's pixel: the same sale, unsigned, recorded as unverified.

    404 for an unknown click, 400 for a bad field; else 200 "recorded" or "duplicate".
    Idempotent per (brand, order id); never changes a conversion already recorded.
    """
    now = now or timezone.now()
    click = _click_get(click_token)
    if click is None:
        return ConversionResult(404, {"error": "unknown click"})
    try:
        sale = sale_clean(
            click=click, order_id=order_id, amount=amount, currency=currency, at=None, now=now
        )
    except ConversionInvalid as exc:
        return ConversionResult(400, {"error": str(exc)})
    result = conversion_record(click=click, sale=sale, channel=Conversion.Channel.PIXEL)
    return ConversionResult(200, {"result": result, "order_id": sale.order_id})
