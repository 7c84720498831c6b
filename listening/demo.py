"""The demo's content: three brands and three sample feeds, written for Earshot.

Everything here is deterministic. Item k of a feed always has the same id, text, author and
publication time; the time lies on a fixed grid (EPOCH + k * step + jitter), and a feed shows
the items whose time falls within the last 90 days and not in the future. So re-polling a feed
finds nothing new until time passes, then new items appear the way they would in a live feed,
while ids never change. The three feeds use the three formats the RSS connector reads (RSS
2.0, Atom 1.0, JSON Feed 1.1), rendered with the standard library only.

The texts are built from sentence templates written for this project, filled with a brand, a
city, a device, a day and so on, so that several hundred mentions read differently. Each
template was checked against VADER so that complaints score negative, praise positive and
news and questions neutral (see tests/listening/test_demo.py for the measured mix).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

__all__ = [
    "BRANDS",
    "DEMO_WINDOW",
    "FEEDS",
    "DemoBrand",
    "DemoItem",
    "FeedSpec",
    "feed_for",
    "feed_items",
    "feed_etag",
    "feed_last_modified",
    "item_at",
    "item_time",
    "render_feed",
]

# Bump when templates or rendering change: it is part of every ETag, so pollers refetch.
CONTENT_VERSION = "1"
# The grid's origin. Fixed forever: moving it would change every item's time.
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
DEMO_WINDOW = timedelta(days=90)
# A feed never lists more than this, like a real feed that keeps only its latest entries.
MAX_FEED_ITEMS = 250
# Jitter moves an item within the first 80% of its grid slot: times stay strictly increasing
# in k, which keeps the window arithmetic in visible_indexes() exact.
_JITTER_SHARE = 0.8


# --- Brands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoBrand:
    name: str
    query: str
    handles: str = ""
    domains: str = ""
    # How the brand is written in posts: the first few read as a sentence subject, the
    # hashtag is appended at the end of some posts.
    spellings: tuple[str, ...] = ()
    hashtag: str = ""


ACME = DemoBrand(
    name="Acme Mobile",
    query='acme OR "acme mobile" OR #acmemobile OR @acmemobile',
    handles="@acmemobile @acme_help",
    domains="acme-mobile.example",
    spellings=("Acme", "Acme", "Acme Mobile", "Acme Mobile", "@acmemobile"),
    hashtag="#acmemobile",
)
GLOBEX = DemoBrand(
    name="Globex",
    query="globex OR #globex",
    domains="globex.example",
    spellings=("Globex",),
    hashtag="#globex",
)
INITECH = DemoBrand(
    name="Initech Telecom",
    query="initech OR #initech",
    domains="initech.example",
    spellings=("Initech", "Initech Telecom"),
    hashtag="#initech",
)
# The main brand first; the others are its competitors.
BRANDS: tuple[DemoBrand, ...] = (ACME, GLOBEX, INITECH)


# --- Feeds ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedSpec:
    name: str
    ext: str
    format: str  # "rss" | "atom" | "json"
    title: str
    description: str
    site: str
    content_type: str
    # A new item every step_hours on average; offset_hours staggers the three grids.
    step_hours: float
    offset_hours: float
    # Share of negative / positive / neutral posts among the on-topic ones.
    mix: tuple[float, float, float]
    # Share of items without an author (Atom requires one, so 0 there).
    anonymous_share: float

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.ext}"


FEEDS: dict[str, FeedSpec] = {
    spec.name: spec
    for spec in (
        FeedSpec(
            name="tech-news",
            ext="xml",
            format="rss",
            title="Tech News Example: readers' wire",
            description="Short news items and reader posts about mobile networks.",
            site="https://tech-news.example",
            content_type="application/rss+xml; charset=utf-8",
            step_hours=12.0,
            offset_hours=0.0,
            mix=(0.30, 0.30, 0.40),
            anonymous_share=0.08,
        ),
        FeedSpec(
            name="community",
            ext="atom",
            format="atom",
            title="Community Example: mobile networks board",
            description="Posts from a community forum about phones and carriers.",
            site="https://community.example",
            content_type="application/atom+xml; charset=utf-8",
            step_hours=13.0,
            offset_hours=4.0,
            mix=(0.40, 0.32, 0.28),
            anonymous_share=0.0,
        ),
        FeedSpec(
            name="reviews",
            ext="json",
            format="json",
            title="Reviews Example: carrier reviews",
            description="Customer reviews of mobile networks.",
            site="https://reviews.example",
            content_type="application/feed+json; charset=utf-8",
            step_hours=14.0,
            offset_hours=8.0,
            mix=(0.38, 0.44, 0.18),
            anonymous_share=0.10,
        ),
    )
}


def feed_for(name: str, ext: str) -> FeedSpec | None:
    """The feed served as name.ext, or None (unknown name, or the wrong extension for it)."""
    spec = FEEDS.get(name)
    if spec is None or spec.ext != ext:
        return None
    return spec


# --- Templates ------------------------------------------------------------------------------
# Slots: {b} the brand the post is about, {o} another brand, {city}, {device}, {when} (a
# moment: "this morning"), {day} (a weekday), {agent} (a support agent's first name),
# {amount}, {hours}, {plan}. The first sentence becomes the item's title.

NEGATIVE = (
    "{b} has been down in {city} since {day}. No signal, no data, nothing. "
    "Third outage this month and I am sick of it.",
    "Another {b} outage in {city}. Calls drop every few minutes and the status page says "
    "everything is fine. Useless.",
    "Billed twice by {b} this month. {amount} taken two times and nobody can explain why. Furious.",
    "My {b} bill went up by {amount} with zero warning. Hidden fees everywhere. Disgusting "
    "way to treat customers.",
    "Waited {hours} hours on hold with {b} support {when} and then got disconnected. "
    "Terrible service.",
    "{b} support chat is a waste of time. Three agents, three different answers, and my "
    "problem is still not fixed.",
    "Back from a week abroad and {b} charged me {amount} in roaming. I was told roaming was "
    "included. Awful.",
    "Still waiting for my {b} refund after six weeks. Every call ends with the same excuse. "
    "Fed up and angry.",
    "Data on {b} is painfully slow in {city}. Pages time out and video will not load. "
    "Paying for 5G and getting nothing.",
    "{b} cancelled my order for the {device} without telling me. Awful experience, the worst "
    "I have had anywhere.",
    "The {b} app keeps crashing when I try to pay my bill. Annoying and frustrating.",
    "Moved to the {plan} plan and {b} broke my number port. Two days without a phone. "
    "Ridiculous and stressful.",
    "Zero coverage in my building in {city}. {b} insists the map shows full signal. The map "
    "is wrong and support refuses to listen.",
    "Dear {b}, your roaming charges are a scam. {amount} for two days in Lisbon? Never again.",
    "Asked {b} for a refund on a faulty {device} and they refused. Angry and disappointed.",
    "{b} support hung up on me twice {when}. I just wanted a billing error fixed. Horrible.",
    "Outage again. {b} down across {city} for {hours} hours and not a single update. Unacceptable.",
    "Terrible customer service from {b} today. The store in {city} could not help and the "
    "hotline was worse.",
    "{b} locked my account after a payment failed by mistake. Stuck without service for "
    "days. So frustrating.",
    "Why does {b} keep charging me for a plan I cancelled months ago? Stop stealing from "
    "your customers.",
    "Dropped calls all day with {b} in {city}. Could not even reach my kids. Really bad.",
    "The latest {b} price increase is insulting. {amount} more per month for the same poor "
    "service.",
    "{b} said they would call me within a day. A week later, silence. Useless and rude.",
    "Spent my lunch break fighting {b} over a roaming bill I never should have received. "
    "Exhausting.",
    "{b} sold me a {device} that was damaged out of the box and now they blame me. Shameful.",
    "Signal keeps dropping on the train into {city}. {b} coverage is worse than last year. Sad.",
    "Tried to cancel {b} online and it is impossible. Hidden buttons, endless loops. "
    "Dishonest design.",
    "My mum got a {amount} bill from {b} for data she never used. They refused to refund it. "
    "Disgraceful and unfair.",
    "{b} outage killed my home internet for the whole weekend. Lost a day of work and got "
    "zero compensation. Pathetic.",
    "I regret switching to {b}. Slow data, rude staff and billing mistakes every month.",
    "{b} roaming fees ruined my holiday budget. {amount} for a few maps and messages. Outrageous.",
    "Third week in a row the {b} network fails during the evening in {city}. Sick of "
    "paying for this.",
)

POSITIVE = (
    "Huge thanks to {agent} at {b} support who fixed my billing issue in ten minutes. "
    "Great service!",
    "{b} 5G in {city} is fantastic. Speed test just hit 600 Mbps on my {device}.",
    "Honestly impressed with {b}. Used my phone all week in Spain and paid nothing extra "
    "for roaming. Brilliant.",
    "The {b} store in {city} was brilliant. {agent} set up my new {device} and moved all "
    "my photos. Love it.",
    "Three years with {b} and not a single dropped call. Reliable, fair prices, friendly support.",
    "{b} refunded the double charge within a day. Quick, polite and easy. Thank you!",
    "Switched to the {plan} plan on {b} and I am saving {amount} a month. Very happy.",
    "Coverage on the hiking trails outside {city} was excellent thanks to {b}. Shared "
    "photos from the summit!",
    "Shout out to {b} for the clear bill this month. Everything explained, and it was "
    "exactly what I expected. Nice.",
    "{b} support chat answered in under a minute {when} and sorted my eSIM setup. Amazing.",
    "Best network I have used. {b} just works, in the city and in the countryside.",
    "Loving the free weekend data from {b}. Streamed the whole match in {city} without buffering.",
    "{b} replaced my cracked {device} screen the same day. Excellent service, very grateful.",
    "My parents finally have good signal at their farm thanks to the new {b} mast. Wonderful news.",
    "The {b} app update is great. Paying the bill and checking data now takes seconds.",
    "Kudos to {b} for helping me set up a plan for my daughter. Patient, kind and clear.",
    "{b} customer care is top notch. {agent} called back exactly when promised and sorted "
    "everything.",
    "Really pleased with {b} roaming in Canada. Same price as home, and the data was fast.",
    "{b} gave me a goodwill credit of {amount} after the outage. Appreciate the gesture.",
    "Can recommend {b} to anyone in {city}. Strong signal everywhere I go and fair prices.",
    "Just upgraded to the {device} with {b}. Smooth trade-in, great deal, happy customer.",
    "Impressed by how fast {b} restored the network in {city} {when}. Back up within the "
    "hour, with clear updates all along.",
    "{b} ported my number in five minutes. Easiest switch ever.",
    "Fantastic video calls on {b} from the train. Crystal clear the whole way to {city}.",
    "Thank you {b} for waiving the late fee while I was in hospital. Kind and human.",
    "Five stars for {b}. Honest pricing, great coverage and support that actually cares.",
    "The {b} family plan is a great deal. Four lines, plenty of data, one simple bill.",
    "Glad I chose {b}. The network has been solid all year and support is friendly.",
    "{agent} in the {b} shop in {city} was so helpful with my {device}. Lovely experience.",
    "Genuinely the best customer support I have had from a phone company. Well done {b}.",
)

NEUTRAL = (
    "Does {b} offer eSIM on the {device}? Thinking about moving my line next month.",
    "{b} opens a store in {city} on {day}, according to a notice in the window.",
    "{b} will raise the price of the {plan} plan by {amount} per month from the first of "
    "next month.",
    "{b} has published an updated coverage map for {city} and the surrounding area.",
    "Anyone know if {b} roaming works in Japan? Travelling there in the spring.",
    "How do I change the billing date on my {b} account? I cannot find the setting in the app.",
    "{b} announced that the {plan} plan will include 5G from next quarter.",
    "Is the {b} network in {city} back yet? Trying to work out if it is my phone or the mast.",
    "{b} is now selling the {device} from {amount} a month on a 24 month contract.",
    "Which {b} plan do people use for a tablet? I only need data.",
    "{b} says engineers will do maintenance work in {city} overnight on {day}.",
    "{b} confirmed it will switch off its 3G network in {city} later this year.",
    "Where do I call {b} about business accounts?",
    "{b} has moved its {city} store to the high street, next to the station.",
    "Report: {b} added around 40,000 subscribers in the last quarter.",
    "{b} now lists roaming prices for 80 countries on its website.",
    "Picked up a {b} SIM at the airport in {city}. Setting it up now.",
    "{b} changes its store opening hours in {city} from {day}.",
    "Does anyone have {b} coverage on the coast road north of {city}?",
    "{b} is hiring retail staff for its {city} branch, according to its careers page.",
    "Tariff sheet out today: the {b} {plan} plan stays at {amount} per month.",
    "Question for {b} users: how long does moving an existing line over usually take?",
    "{b} has scheduled a press event for {day}; a line-up of plans is expected.",
    "The {b} annual report lists 1,200 masts built over the year.",
    "Reading the {b} terms & conditions for the {plan} plan before I sign.",
    "{b} will start selling the {device} in stores on {day}.",
    "Heads up: {b} moves the {city} service centre to the retail park from {day}.",
    "Has anyone tried the {b} {plan} plan with a smartwatch?",
    "{b} says the coverage map now shows 5G for the north of {city}.",
    "Where can I find the {b} roaming price list for Switzerland?",
)

# Posts that name two brands: share of voice counts them for both.
COMPARISON_NEGATIVE = (
    "Left {o} for {b} and I regret it. Dropped calls every day and nobody ever calls back. Awful.",
    "Should have stayed with {o}. {b} billing is a mess and my refund still has not arrived.",
    "{b} is even worse than {o} when it comes to roaming fees. Both are a rip-off.",
    "Moved from {o} to {b} for the signal in {city}. Big mistake, it is worse and the bill is "
    "higher.",
)
COMPARISON_POSITIVE = (
    "Switched from {o} to {b} last month and the difference is huge. Faster data, friendlier "
    "support, lower bill.",
    "After years with {o} I moved to {b}. Best decision this year.",
    "{b} beats {o} easily in {city}. Full bars and great speeds where I used to get nothing.",
    "Tried both {o} and {b} on my {device}. {b} wins: better coverage and a fair price.",
)
COMPARISON_NEUTRAL = (
    "Comparing mobile plans this week: {b}, {o} and a couple of smaller networks.",
    "Can I port my phone line if I move from {o} to {b}?",
    "{b} and {o} both list the {device} at the same price this month.",
    "Thinking of moving from {o} to {b}. How is the coverage in {city}?",
)

# Official replies from Acme's care account: the brand's own voice in the stream.
OFFICIAL = (
    "Acme Help here: engineers are working on the network in {city}. Updates on our status page.",
    "Acme Help here: the {plan} plan price list for {day} is now on our website.",
    "Hi all, Acme Help here. Send us a direct message with your account number and we will "
    "look into your bill {when}.",
    "Acme Help here: service in {city} is restored. Thank you for your patience, and sorry "
    "for the trouble.",
)

# Posts that mention none of the brands: they show up as unmatched in the fetch log.
NOISE = (
    "Rain expected across {city} on {day}, with temperatures around 12 degrees.",
    "Recipe of the week: lentil soup with lemon and cumin.",
    "The city council in {city} votes on the bike lanes next week.",
    "Local football club signs a goalkeeper ahead of the season.",
    "Tips for keeping houseplants alive through the winter months.",
    "Road works on the ring road around {city} will continue until the end of the month.",
    "Review of the {device}: battery life is strong and the camera is good in daylight.",
    "Library in {city} extends its weekend opening hours.",
    "Five podcasts to listen to on a long train journey.",
    "The farmers market in {city} moves to the old tram depot from {day}.",
    "Marathon in {city}: roads closed between 8 and 14 on {day}.",
    "How to back up your photos before you change phones.",
    "Museum night in {city} draws record crowds.",
    "Train strike announced for {day}; check your route before travelling.",
    "The {device} gets a software update with a redesigned lock screen.",
)

CITIES = (
    "Leeds", "Bristol", "Glasgow", "Cardiff", "Manchester", "Dublin", "Belfast", "Leicester",
    "Norwich", "Aberdeen", "York", "Brighton", "Sheffield", "Plymouth", "Oxford", "Dundee",
)  # fmt: skip
# Fictional phones, so the demo endorses or pans no real product.
DEVICES = (
    "Nimbus X2", "Orion 5", "Pebble Mini", "Zephyr Pro", "Lumen 12", "Kestrel S",
    "Nova Lite", "Tundra 3",
)  # fmt: skip
WHEN = ("this morning", "last night", "yesterday", "on Friday", "today", "this afternoon")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
AGENTS = ("Dana", "Marco", "Aisha", "Tom", "Lena", "Raj", "Chloe", "Ben", "Ines", "Oskar")
AMOUNTS = ("$12.50", "$30", "$49.99", "$8", "$75", "$19.99", "$112", "$5")
HOURS = ("two", "three", "four", "five", "six")
PLANS = ("Unlimited Plus", "5G Flex", "Starter 10", "Family Four", "Travel Pass")

# Emoji appended to some posts (VADER reads their descriptions: these keep the polarity).
POSITIVE_EMOJI = ("🎉", "😍", "👍", "🙌")
NEGATIVE_EMOJI = ("😡", "👎", "😠")

FIRST_NAMES = (
    "Alex", "Sam", "Jordan", "Priya", "Femi", "Hannah", "Luca", "Mei", "Owen", "Zara",
    "Nadia", "Callum", "Ruth", "Tariq", "Elena", "Dev", "Grace", "Ivo", "Maya", "Rory",
)  # fmt: skip
LAST_NAMES = (
    "Ahmed", "Brennan", "Costa", "Doyle", "Evans", "Fischer", "Gallo", "Hughes", "Iqbal",
    "Jensen", "Kowalski", "Lund", "Murphy", "Novak", "Okafor", "Price", "Quinn", "Reyes",
    "Shah", "Turner",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoAuthor:
    name: str
    handle: str


# People who post about Acme again and again: the future advocate / detractor lists.
ADVOCATES = (DemoAuthor("Priya Raman", "priya_r"), DemoAuthor("Leo Brandt", "leob"))
DETRACTORS = (DemoAuthor("Gus Whitaker", "gus_w"), DemoAuthor("Marta Silva", "marta_s"))
# The tech-news desk: a small staff that writes the news items.
STAFF = (
    DemoAuthor("Mo Tanaka", "mo.tanaka"),
    DemoAuthor("Chris Abbott", "chris.abbott"),
    DemoAuthor("Anja Petrov", "anja.petrov"),
)
ACME_HELP = DemoAuthor("Acme Mobile Help", "acme_help")


# --- Items ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoItem:
    feed: str
    index: int
    id: str
    url: str
    title: str
    # HTML, as a feed would carry it (paragraphs, bold, entities).
    body_html: str
    author: DemoAuthor | None
    author_url: str
    published: datetime
    # What the template was written as: "negative", "positive", "neutral", "official"
    # (a reply from the brand's care account) or "noise" (about none of the brands).
    intent: str
    brands: tuple[str, ...]


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from parts (unlike hash(), stable across processes)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def item_time(spec: FeedSpec, k: int) -> datetime:
    """Item k's publication time: its slot on the feed's grid plus a fixed jitter."""
    step = spec.step_hours * 3600
    jitter = int(_unit("time", spec.name, k) * _JITTER_SHARE * step)
    return EPOCH + timedelta(seconds=int(spec.offset_hours * 3600 + k * step) + jitter)


def visible_indexes(spec: FeedSpec, now: datetime) -> range:
    """Indexes k of the items published in (now - 90 days, now], newest MAX_FEED_ITEMS only."""
    step = spec.step_hours * 3600
    origin = EPOCH + timedelta(hours=spec.offset_hours)

    def slot(moment: datetime) -> int:
        return math.floor((moment - origin).total_seconds() / step)

    # Times increase with k and item k lies in slot k, so only the boundary slots need the
    # exact comparison.
    hi = slot(now)
    if hi >= 0 and item_time(spec, hi) > now:
        hi -= 1
    lo = max(slot(now - DEMO_WINDOW), 0)
    if item_time(spec, lo) <= now - DEMO_WINDOW:
        lo += 1
    lo = max(lo, hi - MAX_FEED_ITEMS + 1)
    return range(lo, hi + 1) if hi >= lo else range(0)


def _pick_author(spec: FeedSpec, rng: random.Random, intent: str, brand: str) -> DemoAuthor:
    if spec.name == "tech-news" and intent == "neutral" and rng.random() < 0.7:
        return rng.choice(STAFF)
    if brand == ACME.name and spec.name != "tech-news":
        if intent == "positive" and rng.random() < 0.3:
            return rng.choice(ADVOCATES)
        if intent == "negative" and rng.random() < 0.3:
            return rng.choice(DETRACTORS)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    handle = f"{first}{last[0]}".lower() if rng.random() < 0.5 else f"{first}_{last}".lower()
    return DemoAuthor(f"{first} {last}", handle)


def _spelling(brand: DemoBrand, rng: random.Random) -> str:
    return rng.choice(brand.spellings)


def _choose_content(spec: FeedSpec, rng: random.Random) -> tuple[str, str, str, str | None]:
    """(intent, template, main brand name, other brand name or None) for one item."""
    if rng.random() < 0.10:
        return "noise", rng.choice(NOISE), "", None
    neg, pos, _neu = spec.mix
    roll = rng.random()
    intent = "negative" if roll < neg else "positive" if roll < neg + pos else "neutral"
    if spec.name == "community" and rng.random() < 0.04:
        return "official", rng.choice(OFFICIAL), ACME.name, None
    # Mostly about Acme; a fair share about each competitor; some compare two brands.
    brand = rng.choices(BRANDS, weights=(62, 20, 18))[0]
    if rng.random() < 0.14:
        pool = {
            "negative": COMPARISON_NEGATIVE,
            "positive": COMPARISON_POSITIVE,
            "neutral": COMPARISON_NEUTRAL,
        }[intent]
        # Comparisons are mostly between Acme and one rival, in either direction.
        rival = rng.choice((GLOBEX, INITECH))
        if brand is ACME or rng.random() < 0.5:
            main, other = (ACME, rival) if brand is ACME else (brand, ACME)
        else:
            main, other = brand, (INITECH if brand is GLOBEX else GLOBEX)
        return intent, rng.choice(pool), main.name, other.name
    pool = {"negative": NEGATIVE, "positive": POSITIVE, "neutral": NEUTRAL}[intent]
    return intent, rng.choice(pool), brand.name, None


def _first_sentence(text: str) -> str:
    for end in (". ", "? ", "! "):
        cut = text.find(end)
        if 0 < cut < 120:
            text = text[: cut + 1]
    return text


def item_at(spec: FeedSpec, k: int) -> DemoItem:
    """Item k of a feed: the same every time, on every machine."""
    # A str seed is hashed with SHA-512 by random.seed: stable across processes and versions.
    rng = random.Random(f"earshot-demo:{spec.name}:{k}")
    intent, template, brand_name, other_name = _choose_content(spec, rng)
    by_name = {b.name: b for b in BRANDS}
    brand = by_name.get(brand_name)
    other = by_name.get(other_name or "")
    values = {
        "b": _spelling(brand, rng) if brand else "",
        "o": _spelling(other, rng) if other else "",
        "city": rng.choice(CITIES),
        "device": rng.choice(DEVICES),
        "when": rng.choice(WHEN),
        "day": rng.choice(DAYS),
        "agent": rng.choice(AGENTS),
        "amount": rng.choice(AMOUNTS),
        "hours": rng.choice(HOURS),
        "plan": rng.choice(PLANS),
    }
    text = template.format(**values)
    if brand and rng.random() < 0.2:
        text = f"{text} {brand.hashtag}"
    if intent == "positive" and rng.random() < 0.15:
        text = f"{text} {rng.choice(POSITIVE_EMOJI)}"
    elif intent == "negative" and rng.random() < 0.12:
        text = f"{text} {rng.choice(NEGATIVE_EMOJI)}"
    title = _first_sentence(text)
    rest = text[len(title) :].strip()

    # The body is HTML as feeds carry it: entities for "&", paragraphs, and the brand in bold
    # in some posts, so the pipeline's HTML cleaning has something to do.
    def markup(part: str) -> str:
        escaped = html.escape(part, quote=False)
        if values["b"] and rng.random() < 0.3:
            escaped = escaped.replace(values["b"], f"<b>{values['b']}</b>", 1)
        return escaped

    body_html = f"<p>{markup(title)}</p>" + (f"<p>{markup(rest)}</p>" if rest else "")

    if intent == "official":
        author: DemoAuthor | None = ACME_HELP
    elif rng.random() < spec.anonymous_share:
        author = None
    else:
        author = _pick_author(spec, rng, intent, brand_name)
    slug = "-".join(title.lower().replace("@", "").replace("#", "").split()[:6])
    slug = "".join(ch for ch in slug if ch.isascii() and (ch.isalnum() or ch == "-"))
    kinds = {"tech-news": "news", "community": "t", "reviews": "r"}
    return DemoItem(
        feed=spec.name,
        index=k,
        id=f"urn:earshot-demo:{spec.name}:{k}",
        url=f"{spec.site}/{kinds[spec.name]}/{k}-{slug}",
        title=title,
        body_html=body_html,
        author=author,
        author_url=f"{spec.site}/u/{author.handle}" if author else "",
        published=item_time(spec, k),
        intent=intent,
        brands=tuple(n for n in (brand_name, other_name) if n),
    )


def feed_items(spec: FeedSpec, now: datetime) -> list[DemoItem]:
    """The items a feed lists at `now`, newest first."""
    return [item_at(spec, k) for k in reversed(visible_indexes(spec, now))]


def feed_last_modified(spec: FeedSpec, now: datetime) -> datetime | None:
    """The newest listed item's time: the feed changes when a new item appears."""
    indexes = visible_indexes(spec, now)
    return item_time(spec, indexes[-1]) if indexes else None


def feed_etag(spec: FeedSpec, now: datetime) -> str:
    """Changes whenever the listed items change: a new one arrives or an old one ages out."""
    indexes = visible_indexes(spec, now)
    window = f"{indexes[0]}-{indexes[-1]}" if indexes else "empty"
    return f"{spec.name}-v{CONTENT_VERSION}-{window}"


# --- Rendering ------------------------------------------------------------------------------

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _render_rss(spec: FeedSpec, items: list[DemoItem], now: datetime, self_url: str) -> bytes:
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _sub(rss, "channel")
    _sub(channel, "title", spec.title)
    _sub(channel, "link", spec.site + "/")
    _sub(channel, "description", spec.description)
    _sub(channel, "language", "en")
    if items:
        _sub(channel, "lastBuildDate", format_datetime(items[0].published, usegmt=True))
    _sub(channel, f"{{{ATOM_NS}}}link", href=self_url, rel="self", type="application/rss+xml")
    for item in items:
        entry = _sub(channel, "item")
        _sub(entry, "title", item.title)
        _sub(entry, "link", item.url)
        _sub(entry, "guid", item.id, isPermaLink="false")
        _sub(entry, "pubDate", format_datetime(item.published, usegmt=True))
        if item.author:
            # RSS's own <author> must be an e-mail address; a name goes in dc:creator.
            _sub(entry, f"{{{DC_NS}}}creator", item.author.name)
        _sub(entry, "description", item.body_html)
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)


def _render_atom(spec: FeedSpec, items: list[DemoItem], now: datetime, self_url: str) -> bytes:
    # Unqualified tags under a literal xmlns: serialises as plain <feed xmlns="...">, where
    # ElementTree's namespace support would write atom:feed or refuse unqualified attributes.
    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "en"})
    _sub(feed, "id", f"urn:earshot-demo:{spec.name}")
    _sub(feed, "title", spec.title)
    _sub(feed, "subtitle", spec.description)
    updated = items[0].published if items else EPOCH
    _sub(feed, "updated", _iso(updated))
    _sub(feed, "link", href=self_url, rel="self", type="application/atom+xml")
    _sub(feed, "link", href=spec.site + "/", rel="alternate", type="text/html")
    for item in items:
        entry = _sub(feed, "entry")
        _sub(entry, "id", item.id)
        _sub(entry, "title", item.title, type="text")
        _sub(entry, "link", href=item.url, rel="alternate", type="text/html")
        _sub(entry, "published", _iso(item.published))
        _sub(entry, "updated", _iso(item.published))
        # Atom requires an author per entry (or on the feed); this feed has one on every entry.
        author = _sub(entry, "author")
        name = item.author.name if item.author else "Anonymous"
        _sub(author, "name", name)
        if item.author_url:
            _sub(author, "uri", item.author_url)
        _sub(entry, "content", item.body_html, type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _render_json(spec: FeedSpec, items: list[DemoItem], now: datetime, self_url: str) -> bytes:
    feed: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "description": spec.description,
        "home_page_url": spec.site + "/",
        "feed_url": self_url,
        "language": "en",
        "items": [
            {
                "id": item.id,
                "url": item.url,
                "title": item.title,
                "content_html": item.body_html,
                "date_published": _iso(item.published),
                **(
                    {"authors": [{"name": item.author.name, "url": item.author_url}]}
                    if item.author
                    else {}
                ),
            }
            for item in items
        ],
    }
    return json.dumps(feed, ensure_ascii=False, indent=1).encode()


_RENDERERS = {"rss": _render_rss, "atom": _render_atom, "json": _render_json}

# Prefixes for the namespaced elements; without them ElementTree writes ns0:, ns1:.
ET.register_namespace("atom", ATOM_NS)
ET.register_namespace("dc", DC_NS)


def render_feed(spec: FeedSpec, now: datetime, self_url: str) -> bytes:
    """The feed document as served at `now`; self_url is its own address."""
    return _RENDERERS[spec.format](spec, feed_items(spec, now), now, self_url)
