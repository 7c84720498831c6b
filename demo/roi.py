"""The demo's customers, orders, tracked links and ROI settings (issue 14 in the demo).

Without them the demo's Customers, Loyalty, Before/after, Tracked links and ROI pages and the
funnel's Conversion and Retention steps would be empty. Everything here was written for the
demo: names from our own pools, e-mail addresses on ``.example`` domains, and a fixed seed, so
every load gives the same people and orders.

* Customers and orders go in through the customers CSV import (customers.services), built in
  memory, so the demo shows an import record like any shop's. Some customers list the
  Mastodon or Hacker News handles of demo authors: the regulars, the care conversations'
  customers and the HN commenters, who are confirmed loyalists as soon as their author is
  stored (at the end of the import, or by the matching beat task when the worker fetches
  later). The
  demo's advocates and detractors are customers under their own names without a
  handle: the display-name rule suggests them, for an admin to confirm on the Matches page.
* Orders span the two years before the demo was loaded (anchored there, so a re-run changes
  nothing); people with a social handle buy more often and more, and each care
  conversation's customer orders again in the weeks after Acme's answer (before and after,
  returning customers).
* Tracked links need the demo's cases, which exist only once the worker has fetched and
  routed the mentions: demo_tracking_set_up runs from the demo's beat task (and load_demo,
  which finds nothing to do before routing). It puts links on the answered cases of the last
  90 days plus two campaign links, with clicks spread after each answer (a few from bots),
  and sales: most reported by signed postbacks through the real postback check, the rest by
  the pixel (unverified).
* A contact cost (DEMO_CONTACT_COST) for "contact cost moved". That figure counts live cases
  only, and the demo files its cases from before loading as history (demo/services.py), so
  it starts near 0.00 and grows as the demo runs; the report shows the history cases apart.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from brands.models import Brand
from customers.matching import brand_match
from customers.models import Customer
from customers.services import customer_import_start, customers_import
from dashboard.models import RoiSettings
from demo import content
from engagement.models import Case
from listening.push_services import webhook_signature
from tracking.models import Click, Conversion, TrackedLink
from tracking.services import (
    CLICK_TOKEN_BYTES,
    agent_family,
    conversion_postback_receive,
    conversion_record,
    ip_hash,
    link_create,
    sale_clean,
    tracking_settings_get,
)

# Every demo customer's id starts with this: the import runs only for a brand without them.
CUSTOMER_ID_PREFIX = "DEMO-C"
DEMO_CURRENCY = "USD"  # the demo's posts quote dollar amounts (content.AMOUNTS)
# What one call-centre contact costs Acme: a demo figure, shown in admin under ROI settings.
DEMO_CONTACT_COST = Decimal("6.50")
# Orders go back this far before the demo was loaded.
ORDER_HISTORY_DAYS = 730
# Customers without any social handle in the shop's records (the base).
BASE_CUSTOMERS = 220
SEED = "earshot-demo:customers:1"
# Tracked links wait for this many answered cases (the worker's first fetch and routing).
MIN_ANSWERED_CASES = 10

# Our own name pools, apart from content.FIRST_NAMES/LAST_NAMES and CARE_FIRST/CARE_LAST, so
# that no base customer is suggested for a demo author by name by accident.
_FIRST = (
    "Agnes", "Bruno", "Cecile", "Dmitri", "Edith", "Felix", "Gemma", "Hugo", "Ilse", "Jasper",
    "Kira", "Lorenzo", "Mira", "Nikolai", "Olive", "Piet", "Rosa", "Stellan", "Thea", "Ulrich",
    "Vera", "Wim", "Xenia", "Yann",
)  # fmt: skip
_LAST = (
    "Abernathy", "Bellamy", "Carver", "Delacroix", "Ellery", "Fontaine", "Grimsby", "Hartwell",
    "Ingram", "Juniper", "Kinsella", "Lindqvist", "Marchetti", "Northcott", "Osei", "Pemberton",
    "Quayle", "Rasmussen", "Sinclair", "Thornbury", "Underhill", "Valdivia", "Whitlock",
)  # fmt: skip
_CITIES = ("Leeds", "Porto", "Lyon", "Graz", "Utrecht", "Cork", "Malmo", "Ghent", "Turin")
_COUNTRIES = {"Leeds": "GB", "Porto": "PT", "Lyon": "FR", "Graz": "AT", "Utrecht": "NL"}
_COUNTRIES |= {"Cork": "IE", "Malmo": "SE", "Ghent": "BE", "Turin": "IT"}
# A plan or a phone accessory; loyalists buy the dearer ones more often.
_PRICES = ("9.99", "15.00", "19.99", "24.50", "35.00", "49.90", "59.00", "89.00", "129.00")

# Tracked links: pages on Acme's own site (content.ACME.domains).
_CARE_PAGES = ("/support/billing", "/plans/5g-flex", "/shop/esim", "/plans/travel-pass")
_CAMPAIGN_LINKS = (("/plans/unlimited-plus", "Unlimited Plus launch"), ("/shop", "Spring sale"))
_BROWSERS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari",
)
_BOTS = ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "facebookexternalhit/1.1")


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    customer_id: str
    name: str
    email: str
    handles: str  # the CSV's space-separated platform:handle pairs
    city: str
    # Social customers buy more often and spend more than the base.
    social: bool


def _email(name: str, n: int) -> str:
    # "Nils Ekström" -> nils.ekstrom; "Clara Voss (phone reviews)" -> clara.voss
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.sub(r"\([^)]*\)", "", ascii_name).lower().split()
    local = ".".join(re.sub(r"[^a-z]", "", word) for word in words)
    domain = ("mail.example", "example.com", "post.example")[n % 3]
    return f"{local}@{domain}"


def demo_customers() -> list[DemoCustomer]:
    """The demo's customers, the same on every call: the social ones first (demo authors'
    handles), then the display-name suggestions, then the base."""
    rng = random.Random(SEED)
    people: list[tuple[str, str, bool]] = []  # (name, handles, social)
    mastodon = f"@{content.MASTODON_HOST}"
    for regular in (*content.REGULARS, *content.FOREIGN_WRITERS):
        account = regular.account
        people.append((account.display_name, f"mastodon:@{account.handle}{mastodon}", True))
    # Every customer of the care conversations' pool (content._care_drafts): those answered
    # in the demo's 90 days become loyalists, the others stay in the base until they post.
    for first in content.CARE_FIRST:
        for last in content.CARE_LAST:
            handle = f"{first}_{last}".lower()
            people.append((f"{first} {last}", f"mastodon:@{handle}{mastodon}", True))
    # Some of the people the Mastodon timeline is written by (content._mastodon_account):
    # those who posted in the demo's 90 days are loyalists too.
    for i, first in enumerate(content.FIRST_NAMES):
        for j in range(i % 5, len(content.LAST_NAMES), 5):
            last = content.LAST_NAMES[j]
            handle = f"{first}{last[0]}" if (i + j) % 2 else f"{first}_{last}"
            people.append((f"{first} {last}", f"mastodon:@{handle.lower()}{mastodon}", True))
    # Hacker News commenters, who show no name there.
    for username in content.HN_USERS:
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        people.append((name, f"hn:{username}", True))
    # No handle on record, but the name of a demo author: a suggestion for an admin.
    for author in (*content.ADVOCATES, *content.DETRACTORS):
        people.append((author.name, "", True))
    for n in range(BASE_CUSTOMERS):
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        # A few list a handle on a platform the demo does not hear: never matched.
        handles = f"bluesky:{name.split()[0].lower()}{n}.bsky.example" if n % 9 == 0 else ""
        people.append((name, handles, False))
    return [
        DemoCustomer(
            customer_id=f"{CUSTOMER_ID_PREFIX}{n:04d}",
            name=name,
            email=_email(name, n) if n % 11 else "",
            handles=handles,
            city=_CITIES[n % len(_CITIES)],
            social=social,
        )
        for n, (name, handles, social) in enumerate(people, start=1)
    ]


@dataclass(frozen=True, slots=True)
class DemoOrder:
    order_id: str
    customer_id: str
    ordered_at: datetime
    amount: str


def care_customer_handle(number: int) -> str:
    """The Mastodon handle of care conversation ``number`` (as content._care_drafts names
    it)."""
    first = content.CARE_FIRST[number % len(content.CARE_FIRST)]
    last = content.CARE_LAST[(number // len(content.CARE_FIRST) + number) % len(content.CARE_LAST)]
    return f"{first}_{last}".lower()


def demo_orders(customers: list[DemoCustomer], *, anchor: datetime) -> list[DemoOrder]:
    """Orders over the ORDER_HISTORY_DAYS before ``anchor``: social customers about 7 on
    average at dearer prices, the base about 3; and each care conversation's customer orders
    again 2 to 30 days after the conversation (the after of before and after)."""
    rng = random.Random(SEED + ":orders")
    start = anchor - timedelta(days=ORDER_HISTORY_DAYS)
    orders: list[DemoOrder] = []

    def add(customer_id: str, at: datetime, price_floor: int) -> None:
        amount = _PRICES[rng.randrange(price_floor, len(_PRICES))]
        orders.append(DemoOrder(f"DEMO-O{len(orders) + 1:05d}", customer_id, at, amount))

    for customer in customers:
        count = rng.randint(3, 11) if customer.social else rng.choice((0, 1, 2, 3, 4, 5, 6))
        for _ in range(count):
            at = start + timedelta(seconds=rng.uniform(0, ORDER_HISTORY_DAYS * 86400))
            add(customer.customer_id, at, 3 if customer.social else 0)
    by_handle = {
        c.handles.removeprefix("mastodon:@").split("@")[0]: c.customer_id
        for c in customers
        if c.handles.startswith("mastodon:")
    }
    first_day = content.day_number(start)
    for day in range(first_day - first_day % content.CARE_EVERY_DAYS, content.day_number(anchor)):
        if day % content.CARE_EVERY_DAYS:
            continue
        customer_id = by_handle.get(care_customer_handle(day // content.CARE_EVERY_DAYS))
        at = content.EPOCH + timedelta(days=day + rng.uniform(2, 30))
        if customer_id and start <= at < anchor:
            add(customer_id, at, 4)
    return orders


def _csv_bytes(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def demo_customers_load(*, brand: Brand, anchor: datetime, changes: list[str]) -> None:
    """Import the demo's customers and orders into the brand through the customers CSV
    import, once: a brand that already has demo customers is left as it is (an admin may have
    confirmed, rejected or deleted some). Touches what customers_import touches."""
    if Customer.objects.filter(brand=brand, customer_id__startswith=CUSTOMER_ID_PREFIX).exists():
        return
    customers = demo_customers()
    orders = demo_orders(customers, anchor=anchor)
    customers_csv = _csv_bytes(
        ("customer_id", "name", "email", "handles", "city", "country"),
        [
            (c.customer_id, c.name, c.email, c.handles, c.city, _COUNTRIES[c.city])
            for c in customers
        ],
    )
    orders_csv = _csv_bytes(
        ("order_id", "customer_id", "ordered_at", "amount", "currency"),
        [
            (o.order_id, o.customer_id, o.ordered_at.isoformat(), o.amount, DEMO_CURRENCY)
            for o in orders
        ],
    )
    record = customer_import_start(
        brand=brand,
        user=None,
        via="command",
        file_name="demo-customers.csv",
        orders_file_name="demo-orders.csv",
        bytes_total=len(customers_csv) + len(orders_csv),
    )
    record = customers_import(
        record=record, customers=io.BytesIO(customers_csv), orders=io.BytesIO(orders_csv)
    )
    changes.append(
        f"Imported {record.customers_stored} demo customers and {record.orders_stored} orders "
        f"into {brand.name} ({record.exact_matches} matched by handle, "
        f"{record.suggestions} suggestions)"
    )


def demo_customers_match(*, brand: Brand) -> None:
    """Match the brand's customers with the authors stored so far (what the matching beat
    task does for new authors): after load_demo --fetch, without waiting for the worker."""
    brand_match(brand_id=brand.pk)


def demo_roi_settings_set(*, brand: Brand, changes: list[str]) -> None:
    """A contact cost for the ROI report's "contact cost moved", unless one is set."""
    settings_row, created = RoiSettings.objects.get_or_create(
        brand=brand, defaults={"contact_cost": DEMO_CONTACT_COST, "currency": DEMO_CURRENCY}
    )
    if not created and settings_row.contact_cost is not None:
        return
    if not created:
        settings_row.contact_cost = DEMO_CONTACT_COST
        settings_row.currency = DEMO_CURRENCY
        settings_row.save(update_fields=["contact_cost", "currency"])
    changes.append(
        f"Set the demo contact cost of {brand.name}: {DEMO_CONTACT_COST} {DEMO_CURRENCY} "
        "(admin, ROI settings)"
    )


def demo_brand_domains_set(*, brand: Brand, changes: list[str]) -> None:
    """An older demo brand without domains gets its own, so tracked links are allowed."""
    if brand.domains.strip() or not content.ACME.domains:
        return
    brand.domains = content.ACME.domains
    brand.save(update_fields=["domains"])
    changes.append(f"Set the domains of {brand.name}: {brand.domains}")


def _link_maker():
    user_model = get_user_model()
    return (
        user_model.objects.filter(username="demo", is_active=True).first()
        or user_model.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    )


def demo_tracking_set_up(*, brand: Brand, now: datetime | None = None) -> int:
    """Tracked links on the brand's answered cases of the last 90 days and two campaign
    links, with clicks and sales. Once: nothing happens while the brand has a tracked link
    already, fewer than MIN_ANSWERED_CASES answered cases (the worker has not routed yet) or
    no user to make the links. Returns the links made.

    Links through tracking.services.link_create; the clicks, dated after each answer, in one
    insert (click_record only makes a click now); verified sales through the signed postback
    check with the brand's secret, unverified ones recorded as the pixel records them.
    """
    now = now or timezone.now()
    maker = _link_maker()
    if maker is None or TrackedLink.objects.filter(brand=brand).exists():
        return 0
    cases = list(
        Case.objects.filter(
            brand=brand,
            first_response_at__gte=now - content.DEMO_WINDOW,
            first_response_at__lt=now,
        )
        .select_related("author")
        .order_by("first_response_at", "pk")
    )
    if len(cases) < MIN_ANSWERED_CASES:
        return 0
    rng = random.Random(SEED + ":tracking")
    base = f"https://{content.ACME.domains.split()[0]}"
    with transaction.atomic():
        tracking = tracking_settings_get(brand=brand)
        links: list[tuple[TrackedLink, datetime]] = []
        for n, case in enumerate(cases):
            if n % 3 == 2:
                continue  # not every answer carries a link
            page = _CARE_PAGES[rng.randrange(len(_CARE_PAGES))]
            link = link_create(
                brand=brand, target_url=base + page, campaign="care", case=case, created_by=maker
            )
            links.append((link, case.first_response_at))
        # One campaign two months ago, one in the dashboard's default last 30 days.
        for (page, campaign), days_ago in zip(_CAMPAIGN_LINKS, (60, 20), strict=True):
            link = link_create(
                brand=brand, target_url=base + page, campaign=campaign, created_by=maker
            )
            links.append((link, now - timedelta(days=days_ago)))
        clicks = []
        for link, since in links:
            many = 12 if link.case_id is None else 5
            for i in range(rng.randint(1, many)):
                at = since + timedelta(hours=rng.uniform(0.1, 24 * 6))
                if at >= now:
                    continue
                # A campaign link shared in a chat is fetched for its preview first.
                bot = (i == 0 and link.case_id is None) or rng.random() < 0.05
                agent = rng.choice(_BOTS) if bot else rng.choice(_BROWSERS)
                family = agent_family(agent)
                clicks.append(
                    Click(
                        link=link,
                        brand=brand,
                        case_id=link.case_id,
                        author_id=link.author_id,
                        campaign=link.campaign,
                        token=secrets.token_urlsafe(CLICK_TOKEN_BYTES),
                        at=at,
                        # TEST-NET-2 addresses: a handful of visitors, some clicking twice.
                        ip_hash=ip_hash(f"198.51.100.{rng.randrange(1, 200)}"),
                        agent_family=family,
                        is_bot=family == "bot",
                    )
                )
        Click.objects.bulk_create(clicks)
        sold = [c for c in clicks if not c.is_bot and rng.random() < 0.3]
        for n, click in enumerate(sold, start=1):
            at = min(click.at + timedelta(hours=rng.uniform(0.2, 30)), now)
            order_id = f"DEMO-W{n:04d}"
            amount = _PRICES[rng.randrange(2, len(_PRICES))]
            if n % 4:
                _postback(tracking.postback_secret, click, order_id, amount, at, now)
            else:
                # The pixel only reports now; the demo dates its sales like the postbacks.
                sale = sale_clean(
                    click=click,
                    order_id=order_id,
                    amount=amount,
                    currency=DEMO_CURRENCY,
                    at=at.isoformat(),
                    now=now,
                )
                conversion_record(click=click, sale=sale, channel=Conversion.Channel.PIXEL)
    return len(links)


def _postback(
    secret: str, click: Click, order_id: str, amount: str, at: datetime, now: datetime
) -> None:
    body = json.dumps(
        {
            "click": click.token,
            "order_id": order_id,
            "amount": amount,
            "currency": DEMO_CURRENCY,
            "at": at.isoformat(),
        }
    ).encode()
    # Signed the way a shop's server signs it (README "Tracked links").
    timestamp = str(int(now.timestamp()))
    signature = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    result = conversion_postback_receive(
        body=body, timestamp=timestamp, signature=signature, now=now
    )
    if result.status != 200:
        raise RuntimeError(f"the demo's postback was refused: {result.body}")
