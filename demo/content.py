"""The demo's content: three brands, three sample feeds and two sample APIs, written for Earshot.

Everything here is deterministic. Item k of a feed always has the same id, text, author and
publication time; the time lies on a fixed grid (EPOCH + k * step + jitter), and a feed shows
the items whose time falls within the last 90 days and not in the future. So re-polling a feed
finds nothing new until time passes, then new items appear the way they would in a live feed,
while ids never change. The three feeds use the three formats the RSS connector reads (RSS
2.0, Atom 1.0, JSON Feed 1.1), rendered with the standard library only.

The texts are built from sentence templates written for this project, filled with a brand, a
city, a device, a day and so on, so that several hundred mentions read differently. Each
template was checked against VADER so that complaints score negative, praise positive and
news and questions neutral (see tests/demo/test_content.py for the measured mix).

Two more kinds of source use the same grid and templates: a Hacker News index in the shape
of Algolia's HN Search API (stories, and comments that reply to a story or to an earlier
comment under it; authors with karma) and a Mastodon instance's hashtag timelines (toots
tagged with their brands' hashtags, replies, accounts from a handful of followers to over a
hundred thousand). Both keep the whole 90-day window, as a search index or a timeline does,
and number their items from the grid, so ids never change either.

So that every dashboard page has something to show (issue 12), the content also follows a
fixed calendar: outage and launch days that the overview finds as spikes, care conversations
that Acme's care account answers (with every follow-up outcome), regulars who praise or pan
Acme, people writing in Spanish or German, and competitors of different size and mood. Those
come as extra Hacker News comments and toots, numbered from their day, so they are as fixed
as the grid (see "Events" and the sections at the end).
"""

from __future__ import annotations

import functools
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
    "HN_SPEC",
    "MASTODON_SPEC",
    "LAUNCHES",
    "REGULARS",
    "DemoAccount",
    "DemoBrand",
    "DemoItem",
    "FeedSpec",
    "HnItem",
    "Toot",
    "day_number",
    "event_days",
    "extra_toots_of_day",
    "feed_for",
    "feed_items",
    "feed_etag",
    "feed_last_modified",
    "hn_extra_items_of_day",
    "hn_hit",
    "hn_item_at",
    "hn_items",
    "hn_karma",
    "is_launch_day",
    "is_outage_day",
    "item_at",
    "item_time",
    "render_feed",
    "toot_at",
    "toot_get",
    "toot_html",
    "toot_status",
    "toots",
]

# Bump when templates or rendering change: it is part of every ETag, so pollers refetch.
CONTENT_VERSION = "2"
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
# How often a post is about each brand: Globex is the bigger rival, Initech the smaller.
BRAND_WEIGHTS = (58, 28, 14)
# Fewer of the Mastodon grid's toots are about Acme: its #acmemobile timeline also carries the
# extra toots of the outage and launch days and of care conversations, and the first poll
# reads at most 400 statuses (see EXTRA_SLOTS).
MASTODON_BRAND_WEIGHTS = (44, 31, 25)
# Moods, per brand: {written intent: (the intent instead, share of posts moved)}. Globex's
# customers are the happy ones, Initech's the angry ones, so the share of voice page shows
# three brands of different standing whatever 30 days it shows; some of Acme's complaints
# are calmer, so that an outage day stands out against days whose negative share is
# moderate (dashboard/spikes.py). The overall mix stays within what
# tests/demo/test_content.py measures.
BRAND_MOODS: dict[str, dict[str, tuple[str, float]]] = {
    GLOBEX.name: {"neutral": ("positive", 0.5), "negative": ("positive", 0.25)},
    INITECH.name: {"positive": ("negative", 0.8), "neutral": ("negative", 0.5)},
    ACME.name: {"negative": ("neutral", 0.2)},
}


# --- Events ---------------------------------------------------------------------------------
# Days that stand out, on a calendar as fixed as the grid: an Acme outage every
# EVENT_PERIOD_DAYS days (UTC), and a launch half a period after each outage. Any 30 days
# hold at least one whole day of each, and the 28 days before a day hold at most two others,
# so the overview's spike rule (dashboard/spikes.py) finds both against a quiet baseline.
# On an outage day every post about Acme is about the outage, and a thread of angry Hacker
# News comments adds to them (a negative-share and volume spike, driven by #acmedown and the
# commenters who come back again and again); on a launch day the Mastodon timeline and Hacker
# News fill with news and praise of the new product (a volume spike, driven by its hashtag
# and the press).

EVENT_PERIOD_DAYS = 26
OUTAGE_PHASE = 5
LAUNCH_PHASE = 18


def day_number(moment: datetime) -> int:
    """The UTC day of ``moment``, counted from EPOCH's day."""
    return (moment.astimezone(UTC).date() - EPOCH.date()).days


def is_outage_day(moment: datetime) -> bool:
    return day_number(moment) % EVENT_PERIOD_DAYS == OUTAGE_PHASE


def is_launch_day(moment: datetime) -> bool:
    return day_number(moment) % EVENT_PERIOD_DAYS == LAUNCH_PHASE


def event_days(kind: str, since: datetime, until: datetime) -> list[datetime]:
    """The starts (UTC midnights) of the outage or launch days that begin in [since, until)."""
    phase = {"outage": OUTAGE_PHASE, "launch": LAUNCH_PHASE}[kind]
    days = []
    for n in range(day_number(since), day_number(until) + 1):
        start = EPOCH + timedelta(days=n)
        if n % EVENT_PERIOD_DAYS == phase and since <= start < until:
            days.append(start)
    return days


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

# What people write on an outage day, whatever the source: all of it angry, all of it about
# the outage, most with the hashtag that trends that day.
OUTAGE = (
    "{b} is down everywhere. Dead phone, dead internet. Furious and fed up. #acmedown",
    "Total {b} outage: my {device} has had no service for {hours} hours and not a word "
    "from them. Useless. #acmedown",
    "Cannot call my kids, cannot work, cannot pay for parking. {b} outage again and zero "
    "updates. Awful. #acmedown",
    "{b} dead again since {when}. No signal at all. Ridiculous and infuriating. #acmedown",
    "{b} down across the whole country and support hangs up on everyone. Angry and sick of "
    "it. #acmedown",
    "Lost a day of work to the {b} outage. No compensation, no apology. Disgraceful.",
    "Another {b} outage. Terrible network, terrible communication, terrible company. #acmedown",
    "No service from {b} again. My mum has no way to call for help. Unacceptable and scary. "
    "#acmedown",
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


def visible_indexes(spec: FeedSpec, now: datetime, *, limit: int | None = MAX_FEED_ITEMS) -> range:
    """Indexes k of the items published in (now - 90 days, now], the newest `limit` only.

    Feeds keep only their latest entries; the demo APIs (limit=None) keep the whole window,
    as a search index or a timeline does.
    """
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
    if limit is not None:
        lo = max(lo, hi - limit + 1)
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


def _choose_content(spec: FeedSpec, rng: random.Random, k: int) -> tuple[str, str, str, str | None]:
    """(intent, template, main brand name, other brand name or None) for grid item k."""
    if rng.random() < 0.10:
        return "noise", rng.choice(NOISE), "", None
    neg, pos, _neu = spec.mix
    roll = rng.random()
    intent = "negative" if roll < neg else "positive" if roll < neg + pos else "neutral"
    outage = is_outage_day(item_time(spec, k))
    if spec.name == "community" and rng.random() < 0.04:
        if outage:
            return "negative", rng.choice(OUTAGE), ACME.name, None
        return "official", rng.choice(OFFICIAL), ACME.name, None
    # Mostly about Acme; a fair share about each competitor; some compare two brands.
    weights = MASTODON_BRAND_WEIGHTS if spec.name == "mastodon" else BRAND_WEIGHTS
    brand = rng.choices(BRANDS, weights=weights)[0]
    # The brands differ in mood, not only in volume (a draw of its own, so that the other
    # items keep their content).
    moved = BRAND_MOODS[brand.name].get(intent)
    if moved is not None and _unit("tilt", spec.name, k) < moved[1]:
        intent = moved[0]
    if brand is ACME and outage:
        # On an outage day everyone who writes about Acme writes about the outage.
        return "negative", rng.choice(OUTAGE), ACME.name, None
    if rng.random() < 0.14:
        # Comparisons are mostly between Acme and one rival, in either direction.
        rival = rng.choice((GLOBEX, INITECH))
        if brand is ACME or rng.random() < 0.5:
            main, other = (ACME, rival) if brand is ACME else (brand, ACME)
        else:
            main, other = brand, (INITECH if brand is GLOBEX else GLOBEX)
        if other is ACME and outage:
            intent = "negative"
        pool = {
            "negative": COMPARISON_NEGATIVE,
            "positive": COMPARISON_POSITIVE,
            "neutral": COMPARISON_NEUTRAL,
        }[intent]
        return intent, rng.choice(pool), main.name, other.name
    pool = {"negative": NEGATIVE, "positive": POSITIVE, "neutral": NEUTRAL}[intent]
    return intent, rng.choice(pool), brand.name, None


def _first_sentence(text: str) -> str:
    for end in (". ", "? ", "! "):
        cut = text.find(end)
        if 0 < cut < 120:
            text = text[: cut + 1]
    return text


def _brand(name: str | None) -> DemoBrand | None:
    return next((b for b in BRANDS if b.name == name), None)


def _slot_values(
    rng: random.Random, brand: DemoBrand | None, other: DemoBrand | None
) -> dict[str, str]:
    """Values for a template's slots. The draw order is part of every item's identity:
    changing it would rewrite the content of every feed."""
    return {
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


def item_at(spec: FeedSpec, k: int) -> DemoItem:
    """Item k of a feed: the same every time, on every machine."""
    # A str seed is hashed with SHA-512 by random.seed: stable across processes and versions.
    rng = random.Random(f"earshot-demo:{spec.name}:{k}")
    intent, template, brand_name, other_name = _choose_content(spec, rng, k)
    brand, other = _brand(brand_name), _brand(other_name)
    values = _slot_values(rng, brand, other)
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


# --- Hacker News (Algolia's HN Search API shape) ----------------------------------------------
# One grid of items, each a story or a comment. A comment belongs to a story a few slots
# before it and replies either to the story or to an earlier comment under the same story,
# so threads exist. Stories are mostly news and questions; comments carry the opinions.

HN_SPEC = FeedSpec(
    name="hn",
    ext="json",
    format="hn",
    title="Hacker News (demo)",
    description="Stories and comments in the shape of Algolia's HN Search API.",
    # The HN source's item and author links point here (load_demo sets it as the source's
    # site): a fictional host, like every link the demo makes.
    site="https://hn.example",
    content_type="application/json; charset=utf-8",
    step_hours=6.5,
    offset_hours=2.0,
    mix=(0.30, 0.25, 0.45),
    anonymous_share=0.0,
)
# Object ids as numbers in HN's range, fixed per grid index.
HN_ID_BASE = 41_000_000
_HN_STORY_SHARE = 0.4
# Algolia answers at most this many hits for one query, whatever the page.
HN_PAGINATION_LIMIT = 1000

HN_STORIES = {
    "neutral": (
        "{b} to switch off 3G in {city} by the end of the year",
        "{b} publishes open coverage data for {city}",
        "{b} will raise the price of its {plan} plan from next month",
        "{b} confirms overnight network maintenance in {city}",
        "{b} starts selling the {device} on a 24 month contract",
        "Ask HN: Can {b} move an eSIM between phones?",
        "Ask HN: How do {b} customers deal with roaming in Japan?",
        "{b} moves its core network to a new data centre",
        "Show HN: I logged {b} signal levels in {city} on my bike commute",
    ),
    "negative": (
        "Angry customers as {b} outage leaves {city} without mobile data for {hours} hours",
        "{b} billing error charged customers twice, refunds delayed",
        "Ask HN: Is {b} support as terrible for everyone as it is for me?",
        "{b} fined over hidden roaming fees and misleading price rises",
    ),
    "positive": (
        "{b} restores service in {city} within an hour and publishes a clear postmortem",
        "Show HN: A great little dashboard for the {b} status page, with a thank you to their team",
        "{b} praised for its honest and excellent outage report",
    ),
}
# Hacker-News-voiced comments; the feeds' templates are used for comments as well.
HN_COMMENTS = {
    "negative": (
        "Their billing system charged me twice and {b} took six weeks to refund it. Awful. "
        "Never again.",
        "The {b} status page said all green while my {device} had no data for {hours} hours "
        "in {city}. Useless status pages are worse than none.",
        "{b} throttles video even on the {plan} plan. Terrible value and a dishonest contract.",
    ),
    "positive": (
        "Credit where it is due: {b} fixed the outage in {city} quickly and their postmortem "
        "was excellent. More companies should write like that.",
        "I have had {b} for years and it just works. Great coverage, fair prices, friendly "
        "support when I needed it.",
        "The {b} eSIM flow is genuinely good. Took two minutes on my {device}, no store visit.",
    ),
    "neutral": (
        "Does anyone know which frequency bands {b} uses in {city}?",
        "For context, {b} runs its own core network but leases the masts outside {city}.",
        "Is the {b} coverage map generated from measurements or from a propagation model?",
    ),
}
# Stories about none of the brands; several use words the HN query asks for ("mobile"), so
# Algolia returns them and Earshot's own match drops them (unmatched in the fetch log).
HN_NOISE = (
    "Show HN: A tiny static site generator in 300 lines of Python",
    "The mobile web keeps getting heavier",
    "Mobile data prices across Europe, compared",
    "Why mobile networks still depend on decades-old signalling protocols",
    "A history of the pager",
    "Ask HN: What is your backup strategy for family photos?",
)
# HN-style user names, written for the demo; a few have a lot of karma.
HN_USERS = (
    "kestrel_dev", "tmorrow", "bytewise", "lenaq", "packetloss", "oskar_n", "grumpyops",
    "mastwatcher", "ruthless_ci", "dpriya", "fennel", "hollowpoint", "spectrum_nerd",
    "ivo_codes", "callum_h", "lateral", "nullroute", "zara_t", "backhaul", "meiling",
    "quietcarrier", "femi_o", "eastbound", "rf_engineer",
)  # fmt: skip
HN_BIG_KARMA = {"rf_engineer": 48_310, "packetloss": 21_904, "lateral": 87_455}


@dataclass(frozen=True, slots=True)
class HnItem:
    index: int
    object_id: int
    kind: str  # "story" | "comment"
    published: datetime
    author: str
    title: str
    url: str
    story_text: str
    comment_text: str
    points: int | None
    story_id: int
    parent_id: int | None
    intent: str
    brands: tuple[str, ...]

    @property
    def tags(self) -> list[str]:
        tags = [self.kind, f"author_{self.author}", f"story_{self.story_id}"]
        if self.title.startswith("Ask HN:"):
            tags.insert(1, "ask_hn")
        elif self.title.startswith("Show HN:"):
            tags.insert(1, "show_hn")
        return tags

    def search_text(self) -> str:
        return " ".join((self.title, self.url, self.story_text, self.comment_text)).lower()


def hn_karma(username: str) -> int | None:
    """The karma of a demo HN user, or None for a name the demo does not know."""
    if username not in HN_USERS:
        return None
    if username in HN_BIG_KARMA:
        return HN_BIG_KARMA[username]
    return int(10 ** (1.5 + 2.3 * _unit("hn-karma", username)))


def _hn_is_story(k: int) -> bool:
    # Item 0 is a story so every comment's walk back to its story ends.
    return k <= 0 or _unit("hn-story", k) < _HN_STORY_SHARE


def _hn_story_of(k: int) -> int:
    if _hn_is_story(k):
        return k
    j = k - 1 - int(_unit("hn-back", k) * 8)
    while not _hn_is_story(j):
        j -= 1
    return j


def _hn_parent_of(k: int) -> int:
    """The grid index a comment replies to: its story, or the latest earlier comment in it."""
    story = _hn_story_of(k)
    if _unit("hn-nested", k) < 0.35:
        for j in range(k - 1, story, -1):
            if not _hn_is_story(j) and _hn_story_of(j) == story:
                return j
    return story


def _html_paragraphs(text: str) -> str:
    # HN's comment_text: escaped like HN escapes (&#x27; for '), sentences in <p> after the
    # first, the way HN separates paragraphs.
    title = _first_sentence(text)
    rest = text[len(title) :].strip()
    escaped = html.escape(title)
    return escaped + (f"<p>{html.escape(rest)}" if rest else "")


@functools.lru_cache(maxsize=4096)
def hn_item_at(k: int) -> HnItem:
    """Grid item k of the demo HN index: the same every time, on every machine."""
    rng = random.Random(f"earshot-demo:hn:{k}")
    intent, template, brand_name, other_name = _choose_content(HN_SPEC, rng, k)
    brand, other = _brand(brand_name), _brand(other_name)
    values = _slot_values(rng, brand, other)
    # Nobody writes @handles on HN: the brand goes by its name.
    for slot, named in (("b", brand), ("o", other)):
        if named is not None and values[slot].startswith("@"):
            values[slot] = named.spellings[0]
    author = rng.choice(HN_USERS)
    object_id = HN_ID_BASE + k
    title = url = story_text = comment_text = ""
    points: int | None = None
    parent_id: int | None = None
    if _hn_is_story(k):
        if intent == "noise":
            title = rng.choice(HN_NOISE).format(**values)
            brands: tuple[str, ...] = ()
        else:
            title = rng.choice(HN_STORIES[intent]).format(**values)
            brands = (brand_name,)
        if title.startswith("Ask HN:"):
            # An Ask HN story's text is the question in full: one of the feeds' posts.
            if intent != "noise":
                story_text = _html_paragraphs(template.format(**values))
                brands = tuple(n for n in (brand_name, other_name) if n)
        else:
            site = rng.choice(("tech-news.example", "netwatch.example", "blog.example"))
            words = "".join(ch if ch.isalnum() else " " for ch in title.lower()).split()
            url = f"https://{site}/{k}-{'-'.join(words[:6])}"
        points = 1 + int(400 * _unit("hn-points", k) ** 3)
        story_index = k
    else:
        if intent == "noise":
            # Off-topic chatter under a story: nothing the query asks for.
            comment_text = html.escape(rng.choice(NOISE).format(**values))
            brands = ()
        else:
            pool = HN_COMMENTS.get(intent, ())
            if other is None and pool and rng.random() < 0.4:
                template = rng.choice(pool)
            comment_text = _html_paragraphs(template.format(**values))
            brands = tuple(n for n in (brand_name, other_name) if n)
        story_index = _hn_story_of(k)
        parent_id = HN_ID_BASE + _hn_parent_of(k)
    return HnItem(
        index=k,
        object_id=object_id,
        kind="story" if _hn_is_story(k) else "comment",
        published=item_time(HN_SPEC, k),
        author=author,
        title=title,
        url=url,
        story_text=story_text,
        comment_text=comment_text,
        points=points,
        story_id=HN_ID_BASE + story_index,
        parent_id=parent_id,
        intent=intent,
        brands=brands,
    )


def hn_items(now: datetime) -> list[HnItem]:
    """Every item of the last 90 days at `now`, the grid's and the extra comments, newest
    first (an index keeps them all)."""
    grid = [hn_item_at(k) for k in visible_indexes(HN_SPEC, now, limit=None)]
    first, last = day_number(now - DEMO_WINDOW), day_number(now)
    extra = [
        item
        for day in range(max(first, 0), last + 1)
        for item in hn_extra_items_of_day(day)
        if now - DEMO_WINDOW < item.published <= now
    ]
    return sorted(grid + extra, key=lambda item: (item.published, item.object_id), reverse=True)


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def hn_hit(item: HnItem, num_comments: int) -> dict[str, object]:
    """One hit as Algolia's search_by_date returns it."""
    is_story = item.kind == "story"
    return {
        "objectID": str(item.object_id),
        "created_at": _iso_ms(item.published),
        "created_at_i": int(item.published.timestamp()),
        "title": item.title if is_story else None,
        "url": (item.url or None) if is_story else None,
        "author": item.author,
        "points": item.points,
        "story_text": (item.story_text or None) if is_story else None,
        "comment_text": None if is_story else item.comment_text,
        "num_comments": num_comments if is_story else None,
        "story_id": item.story_id,
        "story_title": None if is_story else hn_item_at(item.story_id - HN_ID_BASE).title,
        "parent_id": item.parent_id,
        "_tags": item.tags,
    }


# --- Mastodon (a hashtag timeline) -------------------------------------------------------------
# Toots on one grid, each carrying its brand's hashtag (comparisons carry both); a quarter
# reply to an earlier toot about the same brand, and some of those replies come from Acme's
# care account. Accounts range from a few followers to a few big ones.

MASTODON_SPEC = FeedSpec(
    name="mastodon",
    ext="json",
    format="mastodon",
    title="Mastodon (demo)",
    description="Hashtag timelines in the shape of Mastodon's API.",
    site="https://demo.example",
    content_type="application/json; charset=utf-8",
    step_hours=5.0,
    offset_hours=1.0,
    mix=(0.42, 0.30, 0.28),
    anonymous_share=0.0,
)
MASTODON_HOST = "demo.example"
_REPLY_SHARE = 0.25

# Replies agree with the toot they answer (and name the brand, or only tag it).
REPLIES = {
    "negative": (
        "Same here in {city}. {b} has been useless all week.",
        "No signal on my {device} either since {when} and {b} will not say why. Fed up.",
        "Had the exact same billing mess with {b}. Took me a month and three angry calls.",
        "This is why I am leaving {b}. Awful service, every single time.",
    ),
    "positive": (
        "Same experience here, {b} support sorted mine in minutes too. Great team.",
        "Agreed! {b} coverage in {city} has been excellent lately.",
        "Glad it worked out. {b} has been brilliant for me as well.",
    ),
    "neutral": (
        "Which plan is that, the {plan} one? Asking before I switch to {b}.",
        "Does that apply in {city} too, or only in your area?",
        "I think {b} posts those updates on its status page too.",
    ),
}


@dataclass(frozen=True, slots=True)
class DemoAccount:
    handle: str
    display_name: str
    followers: int

    @property
    def id(self) -> str:
        return str(100_000 + int(_unit("mastodon-account", self.handle) * 9e8))

    @property
    def url(self) -> str:
        return f"https://{MASTODON_HOST}/@{self.handle}"


# Big accounts: a trade newsletter and a reporter post the news; Acme's care account replies.
MASTODON_NEWS = (
    DemoAccount("mobilenetworks", "Mobile Networks Weekly", 120_400),
    DemoAccount("sana_telecoms", "Sana Okoye (telecoms reporter)", 48_900),
)
ACME_CARE = DemoAccount("acme_help", "Acme Mobile Help", 15_230)


@dataclass(frozen=True, slots=True)
class Toot:
    index: int
    id: str
    published: datetime
    account: DemoAccount
    # Plain text (without the reply's leading @mention or the hashtags).
    text: str
    spoiler_text: str
    hashtags: tuple[str, ...]
    in_reply_to: int | None
    favourites: int
    reblogs: int
    intent: str
    brands: tuple[str, ...]
    language: str = "en"

    @property
    def url(self) -> str:
        return f"{self.account.url}/{self.id}"


def toot_id(k: int) -> str:
    """Like Mastodon's ids: milliseconds since 1970 shifted left 16 bits, plus a sequence."""
    millis = int(item_time(MASTODON_SPEC, k).timestamp() * 1000)
    return str((millis << 16) | (k & 0xFFFF))


def _toot_is_reply(k: int) -> bool:
    return k > 0 and _unit("toot-reply", k) < _REPLY_SHARE


def _toot_parent_of(k: int) -> int:
    """The toot a reply answers: a recent one that is not itself a reply."""
    j = k - 1 - int(_unit("toot-parent", k) * 5)
    while _toot_is_reply(j):
        j -= 1
    return j


def _mastodon_account(rng: random.Random, intent: str) -> DemoAccount:
    if intent == "neutral" and rng.random() < 0.25:
        return rng.choice(MASTODON_NEWS)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    handle = f"{first}{last[0]}".lower() if rng.random() < 0.5 else f"{first}_{last}".lower()
    # Most people have tens to hundreds of followers, a few thousands.
    followers = int(10 ** (0.8 + 2.8 * _unit("mastodon-followers", handle)))
    return DemoAccount(handle, f"{first} {last}", followers)


@functools.lru_cache(maxsize=4096)
def toot_at(k: int) -> Toot:
    """Toot k of the demo Mastodon instance: the same every time, on every machine."""
    rng = random.Random(f"earshot-demo:mastodon:{k}")
    parent = toot_at(_toot_parent_of(k)) if _toot_is_reply(k) else None
    if parent is not None and parent.brands:
        # A reply stays on its parent's brand and mostly shares its mood.
        brand_name = parent.brands[0]
        intent = parent.intent if rng.random() < 0.8 else "neutral"
        if intent not in REPLIES:
            intent = "neutral"
        official = brand_name == ACME.name and intent == "negative" and rng.random() < 0.5
        if brand_name == ACME.name and is_outage_day(item_time(MASTODON_SPEC, k)):
            # Nobody answers calmly on an outage day, the brand included (see OUTAGE).
            intent, official = "negative", False
        if official:
            intent, template = "official", rng.choice(OFFICIAL)
        else:
            template = rng.choice(REPLIES[intent])
        other_name = None
    else:
        intent, template, brand_name, other_name = _choose_content(MASTODON_SPEC, rng, k)
        official = False
        parent = None
    brand, other = _brand(brand_name), _brand(other_name)
    values = _slot_values(rng, brand, other)
    text = template.format(**values)
    if intent == "positive" and rng.random() < 0.2:
        text = f"{text} {rng.choice(POSITIVE_EMOJI)}"
    elif intent == "negative" and rng.random() < 0.15:
        text = f"{text} {rng.choice(NEGATIVE_EMOJI)}"
    account = ACME_CARE if official else _mastodon_account(rng, intent)
    regular = (
        _regular_for(k, intent) if parent is None and brand is ACME and other is None else None
    )
    if regular is not None:
        account = regular.account
    hashtags = tuple(b.hashtag.lstrip("#") for b in (brand, other) if b is not None)
    if intent == "noise":
        hashtags = ("mobile",)
    elif rng.random() < 0.2:
        hashtags += (rng.choice(("5g", "mobile", "telecoms")),)
    # A content warning on some complaints, as people put on rants.
    spoiler = "billing rant" if intent == "negative" and rng.random() < 0.08 else ""
    reach = math.sqrt(account.followers)
    return Toot(
        index=k,
        id=toot_id(k),
        published=item_time(MASTODON_SPEC, k),
        account=account,
        text=text,
        spoiler_text=spoiler,
        hashtags=hashtags,
        in_reply_to=parent.index if parent else None,
        favourites=int(reach * 1.5 * _unit("toot-favs", k)),
        reblogs=int(reach * 0.4 * _unit("toot-boosts", k)),
        intent=intent,
        brands=tuple(n for n in (brand_name, other_name) if n) if intent != "noise" else (),
    )


def toots(now: datetime) -> list[Toot]:
    """Every toot of the last 90 days at `now`, the grid's and the extra ones, newest first."""
    grid = [toot_at(k) for k in visible_indexes(MASTODON_SPEC, now, limit=None)]
    # An extra toot is published up to EXTRA_SPAN_DAYS after the day its group starts.
    first, last = day_number(now - DEMO_WINDOW) - EXTRA_SPAN_DAYS, day_number(now)
    extra = [
        toot
        for day in range(max(first, 0), last + 1)
        for toot in extra_toots_of_day(day)
        if now - DEMO_WINDOW < toot.published <= now
    ]
    return sorted(grid + extra, key=lambda toot: int(toot.id), reverse=True)


def toot_get(index: int) -> Toot:
    """A toot by index: the grid's from 0 up, the extra ones below 0 (see EXTRA_SLOTS)."""
    if index >= 0:
        return toot_at(index)
    day, slot = divmod(-index - 1, EXTRA_SLOTS)
    return extra_toots_of_day(day)[slot]


def toot_html(toot: Toot) -> str:
    """The content HTML as Mastodon renders it: mention and hashtag links in a paragraph."""
    parts = []
    if toot.in_reply_to is not None:
        to = toot_get(toot.in_reply_to).account
        parts.append(
            f'<span class="h-card" translate="no"><a href="{to.url}" class="u-url mention">'
            f"@<span>{to.handle}</span></a></span>"
        )
    parts.append(html.escape(toot.text, quote=False))
    parts.extend(
        f'<a href="https://{MASTODON_HOST}/tags/{tag}" class="mention hashtag" rel="tag">'
        f"#<span>{tag}</span></a>"
        for tag in toot.hashtags
    )
    return f"<p>{' '.join(parts)}</p>"


def toot_status(toot: Toot, replies_count: int) -> dict[str, object]:
    """One status as Mastodon's API returns it (the fields Earshot and clients read)."""
    account = toot.account
    return {
        "id": toot.id,
        "created_at": _iso_ms(toot.published),
        "in_reply_to_id": toot_get(toot.in_reply_to).id if toot.in_reply_to is not None else None,
        "in_reply_to_account_id": (
            toot_get(toot.in_reply_to).account.id if toot.in_reply_to is not None else None
        ),
        "sensitive": bool(toot.spoiler_text),
        "spoiler_text": toot.spoiler_text,
        "visibility": "public",
        "language": toot.language,
        "uri": f"https://{MASTODON_HOST}/users/{account.handle}/statuses/{toot.id}",
        "url": toot.url,
        "replies_count": replies_count,
        "reblogs_count": toot.reblogs,
        "favourites_count": toot.favourites,
        "content": toot_html(toot),
        "reblog": None,
        "account": {
            "id": account.id,
            "username": account.handle,
            "acct": f"{account.handle}@{MASTODON_HOST}",
            "display_name": account.display_name,
            "url": account.url,
            "followers_count": account.followers,
        },
        "media_attachments": [],
        "mentions": (
            [
                {
                    "id": toot_get(toot.in_reply_to).account.id,
                    "username": toot_get(toot.in_reply_to).account.handle,
                    "acct": f"{toot_get(toot.in_reply_to).account.handle}@{MASTODON_HOST}",
                    "url": toot_get(toot.in_reply_to).account.url,
                }
            ]
            if toot.in_reply_to is not None
            else []
        ),
        "tags": [
            {"name": tag, "url": f"https://{MASTODON_HOST}/tags/{tag}"} for tag in toot.hashtags
        ],
    }


# --- Mastodon: the days and the people that stand out -----------------------------------------
# Besides the grid, the #acmemobile timeline carries what makes every dashboard page worth
# reading (issue 12): a launch day's news and praise (see "Events"), care conversations that
# Acme's care account answers, each follow-up outcome in turn, and people who write in
# Spanish or German. Each day's extra toots come from that day alone, so they are as fixed as
# the grid's; their indexes are below zero: -(day * EXTRA_SLOTS + j + 1) for the j-th extra
# toot of the groups that start on UTC day `day` (day_number). The advocates and detractors
# among the regulars take over some of the grid's own toots instead (toot_at).
#
# Budget: the Mastodon connector reads at most EARSHOT_MAX_PAGES_PER_POLL (10) pages of 40
# statuses per poll, and the first poll must bring the whole 90 days, as for the other
# sources. The grid tags 150 to 220 toots #acmemobile in 90 days (MASTODON_BRAND_WEIGHTS) and
# the extra ones add 140 to 165: under 380 together over four years of windows
# (tests/demo/test_dashboard_content.py checks the sum).

EXTRA_SLOTS = 100
# A group's last toot (a follow-up) comes at most this many days after the group's day.
EXTRA_SPAN_DAYS = 5

LAUNCHES = (
    ("Nimbus X3", "nimbusx3"),
    ("Home 5G box", "acmehome5g"),
    ("Travel Pass Plus", "travelpassplus"),
    ("Orion 6", "orion6"),
)
LAUNCH_POSTS = {
    "positive": (
        "Launch day: picked up the {launch} from {b} in {city} this morning. Fantastic, "
        "and the staff were brilliant.",
        "The {launch} from {b} is great. Fast, simple and fairly priced. Love it.",
        "Really impressed with the {launch}. {b} got this one right. Happy customer!",
        "Ordered the {launch} from {b} the minute it went live. Smooth checkout, excellent deal.",
    ),
    "neutral": (
        "How much is the {launch} on {b}? Thinking of ordering one today.",
        "Where can I get the {launch} from {b} in {city}?",
        "Does the {launch} from {b} work with the {plan} plan?",
    ),
}
LAUNCH_NEWS = (
    "{b} launches the {launch} today, with stores in {city} opening early.",
    "{b} says the {launch} is available from {amount} a month on its {plan} plan.",
)


@dataclass(frozen=True, slots=True)
class Regular:
    """Someone who writes about Acme again and again in the #acmemobile timeline: an
    advocate (positive), a detractor (negative) or someone writing in their own language
    (neutral questions and news)."""

    account: DemoAccount
    intent: str
    language: str = "en"


REGULARS = (
    Regular(DemoAccount("hana_wolfe", "Hana Wolfe", 2_340), "positive"),
    Regular(DemoAccount("tobi_adeyemi", "Tobi Adeyemi", 860), "positive"),
    Regular(DemoAccount("clara_voss", "Clara Voss (phone reviews)", 15_700), "positive"),
    Regular(DemoAccount("ranting_rob", "Rob Kerrigan", 420), "negative"),
    Regular(DemoAccount("wendy_kaur", "Wendy Kaur", 1_150), "negative"),
    Regular(DemoAccount("nils_ek", "Nils Ekström", 95), "negative"),
)
# Share of the grid's own toots about Acme alone (not replies) that a regular of the same
# mood writes instead of someone new.
REGULAR_SHARE = {"positive": 0.4, "negative": 0.35}
# Regulars who write in their own language, each every FOREIGN_EVERY_DAYS days (extra toots,
# on a schedule so that any 30 days hold a few of each language), but on outage days.
FOREIGN_WRITERS = (
    Regular(DemoAccount("lucia_m", "Lucía Martín", 640), "neutral", "es"),
    Regular(DemoAccount("jonas_b", "Jonas Becker", 310), "neutral", "de"),
)
FOREIGN_EVERY_DAYS = 4
# Written for the demo in Spanish and German: questions and news, which score neutral.
FOREIGN = {
    "es": (
        "¿Alguien sabe si {b} tiene cobertura 5G en Valencia? Me mudo el mes que viene.",
        "{b} abre una tienda nueva en Sevilla la semana que viene.",
        "¿Cuánto cuesta el roaming de {b} en Marruecos?",
        "{b} publica el nuevo mapa de cobertura para Madrid.",
        "Me he cambiado a la tarifa {plan} de {b} para el viaje.",
        "¿Qué tarifa de {b} usáis para una tableta?",
    ),
    "de": (
        "Weiß jemand, ob {b} eSIM auf dem {device} unterstützt?",
        "{b} eröffnet am Montag einen Laden in Hamburg.",
        "Neue Netzabdeckungskarte von {b} für Berlin ist online.",
        "Wie lange dauert eine Rufnummernmitnahme zu {b} normalerweise?",
        "{b} ändert ab nächsten Monat den Preis für den Tarif {plan}.",
        "Welchen Tarif von {b} nutzt ihr für ein Tablet?",
    ),
}


def _regular_for(k: int, intent: str) -> Regular | None:
    """The regular who writes grid toot k (about Acme alone, not a reply), or None."""
    if _unit("regular", k) >= REGULAR_SHARE.get(intent, 0.0):
        return None
    mates = [r for r in REGULARS if r.intent == intent]
    return mates[int(_unit("regular-who", k) * len(mates))]


# Care conversations, every CARE_EVERY_DAYS days: a customer's post, Acme's care account
# answering after a while, and (but for "no_further_word") the customer's next post, whose
# tone gives the case's follow-up outcome (engagement/followup.py). Each outcome has its own
# first posts, and the i-th follow-up goes with the i-th first post, so that the compounds
# before and after the answer give that outcome.
CARE_EVERY_DAYS = 3
CARE_OUTCOMES = ("converted", "improved", "unchanged", "worsened", "no_further_word")
CARE_POSTS = {
    "converted": (
        "My {b} bill shows a charge of {amount} I never agreed to. Not happy.",
        "Frustrated: my {b} eSIM stopped working after the update.",
    ),
    "improved": (
        "{b} has been down at my place in {city} since yesterday. Awful service, I am "
        "furious and fed up.",
        "Billed twice by {b} again. Angry, disgusted and tired of chasing it.",
    ),
    "unchanged": (
        "Still waiting for my {b} refund. Annoying.",
        "Signal in my flat in {city} is weak again with {b}. Annoying.",
    ),
    "worsened": (
        "Is the {b} network being worked on in {city}? My {device} shows one bar today.",
        "How do I get {b} to check a charge on my bill?",
    ),
    "no_further_word": (
        "{b} charged me twice for roaming this month. Really frustrating.",
        "The {b} app will not let me pay my bill. Annoying and stressful.",
    ),
}
CARE_FOLLOWUPS = {
    "converted": (
        "Sorted in ten minutes. The charge is gone and support was really friendly. Great "
        "service, thank you!",
        "Thanks {b}, it works again. Quick and helpful, much appreciated.",
    ),
    "improved": (
        "Update: the {b} engineers came round and the signal is back for now.",
        "Update: {b} says the second charge will be returned next week.",
    ),
    "unchanged": (
        "Still the same with {b} today. Annoying.",
        "Two days later the signal is still weak with {b}. Annoying.",
    ),
    "worsened": (
        "Now it is much worse: no calls at all, and {b} stopped answering. Terrible, angry "
        "and disappointed.",
        "Now {b} charged me again and nobody replies. Awful, furious and disgusted.",
    ),
}
CARE_ANSWERS = (
    "Sorry about this! Please send us a direct message with your account number and we will "
    "look into it {when}.",
    "Thanks for letting us know. Our team is checking this now and we will update you here.",
    "We are on it: an engineer is looking at your account now. Thanks for your patience.",
)
# Hours from the customer's post to the brand's answer, and from the answer to the
# customer's next post: some answers come within the hour, some miss the two-day SLA.
CARE_ANSWER_HOURS = (0.4, 1.5, 3.0, 6.5, 14.0, 27.0, 55.0)
CARE_FOLLOWUP_HOURS = (2.0, 5.0, 9.0, 20.0, 30.0)
# Customers named from their own pool, one per conversation for 100 conversations, so no
# follow-up is mistaken for another conversation's.
CARE_FIRST = (
    "Nora",
    "Bilal",
    "Keiko",
    "Dario",
    "Freya",
    "Emeka",
    "Ingrid",
    "Yusuf",
    "Amara",
    "Pavel",
)
CARE_LAST = (
    "Bexley", "Castellano", "Dunmore", "Eriksen", "Faraday", "Garrow", "Holm", "Iwu",
    "Jablonski", "Kettering",
)  # fmt: skip


@dataclass(slots=True)
class _Draft:
    published: datetime
    account: DemoAccount
    text: str
    intent: str
    hashtags: tuple[str, ...] = ("acmemobile",)
    parent: int | None = None  # the slot (j) of the toot it replies to, on the same day
    language: str = "en"


def _at(day: int, hours: float) -> datetime:
    return EPOCH + timedelta(days=day, hours=hours)


def _off_outage_day(moment: datetime) -> datetime:
    # Acme's care team and its happy customers do not post on an outage day: its negative
    # share stays the outage's own (the team answers the next day, at the same hour).
    return moment + timedelta(days=1) if is_outage_day(moment) else moment


def _acme_values(rng: random.Random) -> dict[str, str]:
    values = _slot_values(rng, ACME, None)
    values["b"] = rng.choice(("Acme", "Acme Mobile"))
    return values


def _foreign_drafts(day: int, rng: random.Random) -> list[_Draft]:
    drafts = []
    for n, writer in enumerate(FOREIGN_WRITERS):
        if day % FOREIGN_EVERY_DAYS != (2 * n + 1) % FOREIGN_EVERY_DAYS:
            continue
        text = rng.choice(FOREIGN[writer.language]).format(**_acme_values(rng))
        moment = _at(day, 9 + 10 * rng.random())
        drafts.append(_Draft(moment, writer.account, text, "neutral", language=writer.language))
    return drafts


def _launch_drafts(day: int, rng: random.Random) -> list[_Draft]:
    """Nine toots about the new product: the press, a reviewer twice, customers."""
    launch, tag = LAUNCHES[(day // EVENT_PERIOD_DAYS) % len(LAUNCHES)]
    reviewer = next(r.account for r in REGULARS if r.account.handle == "clara_voss")
    posters: list[tuple[DemoAccount, str, tuple[str, ...]]] = [
        (MASTODON_NEWS[1], "neutral", LAUNCH_NEWS),
        (MASTODON_NEWS[0], "neutral", LAUNCH_NEWS),
        (MASTODON_NEWS[1], "neutral", LAUNCH_NEWS),
        (reviewer, "positive", LAUNCH_POSTS["positive"]),
        (reviewer, "positive", LAUNCH_POSTS["positive"]),
    ]
    for n in range(4):
        intent = "neutral" if n % 2 else "positive"
        posters.append((_mastodon_account(rng, intent), intent, LAUNCH_POSTS[intent]))
    drafts = []
    for n, (account, intent, pool) in enumerate(posters):
        values = _acme_values(rng) | {"launch": launch}
        moment = _at(day, 8 + 12 * n / len(posters) + rng.random())
        text = rng.choice(pool).format(**values)
        drafts.append(_Draft(moment, account, text, intent, ("acmemobile", tag)))
    return drafts


def _care_drafts(day: int, rng: random.Random) -> list[_Draft]:
    number = day // CARE_EVERY_DAYS
    outcome = CARE_OUTCOMES[number % len(CARE_OUTCOMES)]
    first = CARE_FIRST[number % len(CARE_FIRST)]
    last = CARE_LAST[(number // len(CARE_FIRST) + number) % len(CARE_LAST)]
    customer = DemoAccount(
        f"{first}_{last}".lower(),
        f"{first} {last}",
        int(10 ** (1 + 2 * _unit("care-followers", number))),
    )
    values = _acme_values(rng)
    asked = _at(day, 8 + 10 * rng.random())
    pair = rng.randrange(len(CARE_POSTS[outcome]))
    post = CARE_POSTS[outcome][pair].format(**values)
    intent = "neutral" if outcome == "worsened" else "negative"
    drafts = [_Draft(asked, customer, post, intent)]
    delay = timedelta(hours=CARE_ANSWER_HOURS[number % len(CARE_ANSWER_HOURS)])
    answered = _off_outage_day(asked + delay)
    answer = rng.choice(CARE_ANSWERS).format(**values)
    drafts.append(_Draft(answered, ACME_CARE, answer, "official", parent=0))
    if outcome in CARE_FOLLOWUPS:
        hours = CARE_FOLLOWUP_HOURS[number % len(CARE_FOLLOWUP_HOURS)]
        later = _off_outage_day(answered + timedelta(hours=hours))
        text = CARE_FOLLOWUPS[outcome][pair].format(**values)
        mood = {"converted": "positive", "improved": "neutral"}.get(outcome, "negative")
        drafts.append(_Draft(later, customer, text, mood, parent=1))
    return drafts


@functools.lru_cache(maxsize=512)
def extra_toots_of_day(day: int) -> tuple[Toot, ...]:
    """The extra toots of the groups that start on UTC day ``day`` (see EXTRA_SLOTS)."""
    rng = random.Random(f"earshot-demo:mastodon-extra:{day}")
    start = _at(day, 0)
    if is_outage_day(start):
        # The grid's own posts about Acme that day are about the outage (_choose_content),
        # and the HN thread (hn_extra_items_of_day) makes it a flood: nothing calm here.
        return ()
    drafts: list[_Draft] = []
    if is_launch_day(start):
        drafts += _launch_drafts(day, rng)
    if day % CARE_EVERY_DAYS == 0:
        base = len(drafts)
        for draft in _care_drafts(day, rng):
            if draft.parent is not None:
                draft.parent += base
            drafts.append(draft)
    drafts += _foreign_drafts(day, rng)
    assert len(drafts) <= EXTRA_SLOTS
    found = []
    for j, draft in enumerate(drafts):
        index = -(day * EXTRA_SLOTS + j + 1)
        millis = int(draft.published.timestamp() * 1000)
        reach = math.sqrt(draft.account.followers)
        parent = draft.parent
        found.append(
            Toot(
                index=index,
                # Like toot_id, with a sequence number the grid's toots never use.
                id=str((millis << 16) | 0x8000 | (j & 0x7FFF)),
                published=draft.published,
                account=draft.account,
                text=draft.text,
                spoiler_text="",
                hashtags=draft.hashtags,
                in_reply_to=-(day * EXTRA_SLOTS + parent + 1) if parent is not None else None,
                favourites=int(reach * 1.5 * _unit("extra-favs", index)),
                reblogs=int(reach * 0.4 * _unit("extra-boosts", index)),
                intent=draft.intent,
                brands=(ACME.name,),
                language=draft.language,
            )
        )
    return tuple(found)


# --- Hacker News: the daily chatter and the event days -----------------------------------------
# Extra comments under the grid's latest story, in numbers the grid's randomness cannot give:
# a steady few about Acme every day (one of each mood, so a day's negative share stays near a
# third and an outage day's stands out, dashboard/spikes.py), all about the outage on an
# outage day, plus a thread of angry ones from a few users who comment again and again (what
# drove the spike), and a thread about the new product on a launch day. Object ids from
# HN_EXTRA_ID_BASE + day * EXTRA_SLOTS + j; a search index keeps them all (no budget issue:
# the HN connector reads up to 1000 hits a poll).

HN_EXTRA_ID_BASE = HN_ID_BASE + 5_000_000
HN_DAILY_MOODS = ("neutral", "positive", "neutral")
HN_OUTAGE_USERS = ("packetloss", "grumpyops", "nullroute", "backhaul")
HN_LAUNCH_USERS = ("spectrum_nerd", "kestrel_dev", "lateral", "meiling")


def _hn_story_before(moment: datetime) -> int:
    """The grid index of the latest story published before ``moment``."""
    step = HN_SPEC.step_hours * 3600
    origin = EPOCH + timedelta(hours=HN_SPEC.offset_hours)
    k = math.floor((moment - origin).total_seconds() / step)
    while k > 0 and (not _hn_is_story(k) or item_time(HN_SPEC, k) >= moment):
        k -= 1
    return k


@functools.lru_cache(maxsize=512)
def hn_extra_items_of_day(day: int) -> tuple[HnItem, ...]:
    """The extra HN comments of UTC day ``day`` (day_number), oldest first."""
    rng = random.Random(f"earshot-demo:hn-extra:{day}")
    start = EPOCH + timedelta(days=day)
    drafts: list[tuple[float, str, str, str]] = []  # (hour, author, intent, text)
    if is_outage_day(start):
        count = len(HN_DAILY_MOODS) + 12
        for n in range(count):
            author = HN_OUTAGE_USERS[n % len(HN_OUTAGE_USERS)] if n < 12 else rng.choice(HN_USERS)
            text = rng.choice(OUTAGE).format(**_acme_values(rng))
            drafts.append((7 + 14 * n / count + rng.random(), author, "negative", text))
    else:
        for n, intent in enumerate(HN_DAILY_MOODS):
            pool = HN_COMMENTS[intent] + {"negative": NEGATIVE, "positive": POSITIVE}.get(
                intent, NEUTRAL
            )
            text = rng.choice(pool).format(**_acme_values(rng))
            drafts.append((3 + 6 * n + 5 * rng.random(), rng.choice(HN_USERS), intent, text))
    if is_launch_day(start):
        launch, _ = LAUNCHES[(day // EVENT_PERIOD_DAYS) % len(LAUNCHES)]
        for n in range(11):
            intent = "neutral" if n % 3 == 2 else "positive"
            pool = LAUNCH_NEWS if n == 0 else LAUNCH_POSTS[intent]
            values = _acme_values(rng) | {"launch": launch}
            author = HN_LAUNCH_USERS[n % len(HN_LAUNCH_USERS)]
            text = rng.choice(pool).format(**values)
            drafts.append((8 + n + rng.random(), author, intent, text))
    items = []
    for j, (hour, author, intent, text) in enumerate(sorted(drafts)):
        published = start + timedelta(hours=hour)
        story = _hn_story_before(published)
        items.append(
            HnItem(
                index=-(day * EXTRA_SLOTS + j + 1),
                object_id=HN_EXTRA_ID_BASE + day * EXTRA_SLOTS + j,
                kind="comment",
                published=published,
                author=author,
                title="",
                url="",
                story_text="",
                comment_text=_html_paragraphs(text),
                points=None,
                story_id=HN_ID_BASE + story,
                parent_id=HN_ID_BASE + story,
                intent=intent,
                brands=(ACME.name,),
            )
        )
    return tuple(items)
