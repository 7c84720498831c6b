"""What Earshot hears: the sources it polls for each brand (brands.models.Brand), the authors
and mentions it stores."""

from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from brands.models import Brand


class Source(models.Model):
    class Kind(models.TextChoices):
        RSS = "rss", "RSS / Atom / JSON Feed"
        HACKER_NEWS = "hn", "Hacker News (Algolia search)"
        REDDIT = "reddit", "Reddit (search or subreddit)"
        MASTODON = "mastodon", "Mastodon (hashtag timeline or search)"
        MASTODON_STREAM = "mastodon-stream", "Mastodon live hashtag stream"
        BLUESKY = "bluesky", "Bluesky (searchPosts)"
        JETSTREAM = "jetstream", "Bluesky Jetstream (live firehose)"
        WEBHOOK = "webhook", "Signed webhook (pushed to Earshot)"
        IMPORT = "import", "Bulk import (CSV / JSON Lines)"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="sources")
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.RSS)
    name = models.CharField(max_length=200, blank=True)
    # The feed URL, or the API / instance / stream endpoint; empty for pushed kinds
    # (webhook, import). Each connector validates what it needs (http(s), or ws(s) for
    # Jetstream), so this is not a URLField.
    url = models.CharField(max_length=2000, blank=True)
    # Per-kind options declared by the connector (hashtag, subreddit, access token, ...).
    config = models.JSONField(default=dict, blank=True)
    # The connector's resume position (opaque; saved only after the items before it are
    # stored, so a restart neither skips nor doubles anything).
    cursor = models.TextField(blank=True)
    # Webhooks: the secret part of the delivery URL /hooks/<token>/ and the HMAC key.
    token = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    secret = models.CharField(max_length=128, blank=True, editable=False)
    # History fetched when the source is new, so a new brand does not start empty.
    backfill_days = models.PositiveIntegerField(
        default=30,
        # Nothing is believed from before EARSHOT_PUBLISHED_EARLIEST anyway; the bound keeps
        # "now - backfill_days" a date Python can hold.
        validators=[MaxValueValidator(36_500)],
        help_text="On the first poll, fetch history this many days back (at most 36,500).",
    )
    backfill_status = models.CharField(max_length=300, blank=True)
    poll_interval = models.PositiveIntegerField(
        default=900, help_text="Seconds between polls when healthy."
    )
    is_enabled = models.BooleanField(default=True)
    # Scheduling and health. next_poll_at carries the backoff: after repeated failures it is
    # pushed further out, but the source stays enabled (never disabled silently).
    next_poll_at = models.DateTimeField(default=timezone.now)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Conditional GET validators from the last successful response.
    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Pushed kinds (webhook, import) have no URL: a brand may have several of them.
            models.UniqueConstraint(
                fields=["brand", "kind", "url"],
                name="source_unique_url",
                condition=~models.Q(url=""),
            ),
            models.CheckConstraint(
                condition=models.Q(poll_interval__gte=30), name="source_poll_interval_min"
            ),
        ]
        indexes = [
            # The beat dispatcher's query: enabled sources whose next poll is due.
            models.Index(
                fields=["next_poll_at"],
                name="source_due_idx",
                condition=models.Q(is_enabled=True),
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.url or f"{self.get_kind_display()} #{self.pk}"

    def clean(self) -> None:
        from listening.connectors.base import ConfigError
        from listening.connectors.registry import connector_for

        connector = connector_for(self.kind)
        if not self.url and connector.default_url:
            self.url = connector.default_url
        errors = {}
        try:
            self.url = connector.validate_url(self.url)
        except ConfigError as exc:
            errors["url"] = str(exc)
        try:
            self.config = connector.validate_config(self.url, self.config or {})
        except ConfigError as exc:
            errors["config"] = str(exc)
        if errors:
            raise ValidationError(errors)

    @property
    def is_live(self) -> bool:
        from listening.connectors.registry import connector_for

        return connector_for(self.kind).is_live

    @property
    def is_healthy(self) -> bool:
        return self.consecutive_failures == 0


class Author(models.Model):
    platform = models.CharField(max_length=32)
    # Stable per-platform identity: a handle, or for feeds the author's name or e-mail.
    handle = models.CharField(max_length=300)
    display_name = models.CharField(max_length=300, blank=True)
    profile_url = models.URLField(max_length=2000, blank=True)
    followers = models.PositiveBigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "handle"], name="author_unique_handle")
        ]

    def __str__(self) -> str:
        return self.display_name or self.handle


# Earshot's label for a mention whose language its scorer does not handle
# (EARSHOT_SCORED_LANGUAGES): counted in volume and reach, never in sentiment shares.
UNSCORED = "unscored"
UNSCORED_TEXT = "not scored (language)"


# A sentiment filter's choice of unscored mentions (explorer, mention list, queue).
UNSCORED_CHOICE = (UNSCORED, "Not scored (language)")
# The sentiment filters' choices (explorer, mention list): VADER's three and "not scored".
SENTIMENT_FILTER_CHOICES = [
    ("positive", "Positive"),
    ("neutral", "Neutral"),
    ("negative", "Negative"),
    UNSCORED_CHOICE,
]


def label_text(label: str) -> str:
    """How a label is written wherever one is shown: the value itself, and "not scored
    (language)" for an unscored mention (exports keep the raw value)."""
    return UNSCORED_TEXT if label == UNSCORED else label


class Mention(models.Model):
    class Label(models.TextChoices):
        """Plain VADER's labels, and what an agent may correct a label to."""

        POSITIVE = "positive"
        NEUTRAL = "neutral"
        NEGATIVE = "negative"

    class EarshotLabel(models.TextChoices):
        """Earshot's labels (and so the effective ones): VADER's three, or unscored."""

        POSITIVE = "positive"
        NEUTRAL = "neutral"
        NEGATIVE = "negative"
        UNSCORED = UNSCORED, UNSCORED_TEXT

    # No index of its own: the unique (source, external_id) serves every lookup by source,
    # and one index fewer is one write fewer per stored mention.
    source = models.ForeignKey(
        Source, on_delete=models.CASCADE, related_name="mentions", db_index=False
    )
    # The item's id at the source (feed GUID, or a stable hash of link + title + date).
    external_id = models.CharField(max_length=255)
    url = models.URLField(max_length=2000, blank=True)
    author = models.ForeignKey(
        Author, null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions"
    )
    title = models.TextField(blank=True)
    # The clean text that was matched and scored: HTML stripped, entities unescaped,
    # whitespace collapsed; for a feed item, title and body joined.
    text = models.TextField()
    # The text was longer than EARSHOT_MENTION_TEXT_MAX_CHARS and was cut there (README
    # "Reliability and security"): matching, scoring and display all see the cut text.
    is_text_truncated = models.BooleanField(default=False, db_default=False)
    language = models.CharField(max_length=20, blank=True)
    published_at = models.DateTimeField()
    fetched_at = models.DateTimeField(default=timezone.now)
    # Where it was posted: hackernews, reddit, mastodon, bluesky, web, or what a webhook says.
    platform = models.CharField(max_length=32, blank=True)
    # Threads: the parent's and the conversation root's external ids at the platform.
    in_reply_to = models.CharField(max_length=255, blank=True)
    thread_id = models.CharField(max_length=255, blank=True)
    # Reach and engagement as of the mention (None = the source does not say).
    author_followers = models.PositiveBigIntegerField(null=True, blank=True)
    like_count = models.PositiveBigIntegerField(null=True, blank=True)
    reply_count = models.PositiveBigIntegerField(null=True, blank=True)
    repost_count = models.PositiveBigIntegerField(null=True, blank=True)
    # Plain VADER's scores as vaderSentiment gives them, for every text whatever its language
    # (export_mentions' contract: compound and label).
    neg = models.FloatField()
    neu = models.FloatField()
    pos = models.FloatField()
    compound = models.FloatField()
    label = models.CharField(max_length=8, choices=Label.choices)
    # Earshot's own score (issue 13): the scorer named below (EARSHOT_SENTIMENT_SCORER), or
    # "unscored" with no compound when the mention's language is one it does not handle
    # (EARSHOT_SCORED_LANGUAGES). What the queue, routing, standing and the rollups mean by
    # "our score"; read it through our_compound / our_label (or our_compound_sql()).
    # Lazy rule for rows stored before these columns (no rewrite of a big table): an empty
    # earshot_label means Earshot's score *is* plain VADER's (it was the only scorer then).
    earshot_compound = models.FloatField(null=True, blank=True)
    earshot_label = models.CharField(
        max_length=8, choices=EarshotLabel.choices, blank=True, default="", db_default=""
    )
    # Which scorer (listening.sentiment) produced Earshot's score, and its version: labels of
    # a later model can be told from VADER's, and re-scored.
    # The database defaults describe every writer before this column: VADER 3.3.2.
    scorer_name = models.CharField(max_length=40, default="vader", db_default="vader")
    scorer_version = models.CharField(max_length=40, default="3.3.2", db_default="3.3.2")

    class Meta:
        constraints = [
            # Exactly once: a re-fetch, a retried task or a duplicate delivery inserts nothing.
            models.UniqueConstraint(
                fields=["source", "external_id"], name="mention_unique_source_item"
            ),
        ]
        indexes = [
            # Source detail / admin: newest mentions of one source.
            models.Index(fields=["source", "-published_at"], name="mention_source_pub_idx"),
            # Admin and "test this query": the newest mentions overall.
            models.Index(fields=["-published_at"], name="mention_pub_idx"),
            # No (label, published_at) index: every sentiment filter reads the brand's
            # effective label on MentionMatch (match_brand_label_idx); Mention.label is plain
            # VADER's, filtered only by the admin, and the index cost every insert a write.
            # Grouping a conversation (the queue's cases join a thread's case).
            models.Index(
                fields=["source", "thread_id"],
                name="mention_thread_idx",
                condition=~models.Q(thread_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id}"

    @property
    def our_label(self) -> str:
        """Earshot's label: positive, neutral, negative or unscored (see earshot_label)."""
        return self.earshot_label or self.label

    @property
    def our_compound(self) -> float | None:
        """Earshot's compound; None for an unscored mention (see earshot_label)."""
        return self.earshot_compound if self.earshot_label else self.compound

    @property
    def is_scored(self) -> bool:
        return self.our_label != UNSCORED

    @property
    def our_label_text(self) -> str:
        return label_text(self.our_label)


def our_compound_sql(prefix: str = "") -> models.Case:
    """Mention.our_compound in SQL (NULL for an unscored mention); ``prefix`` reaches the
    mention through a relation, e.g. "mention__"."""
    return models.Case(
        models.When(**{f"{prefix}earshot_label": ""}, then=models.F(f"{prefix}compound")),
        default=models.F(f"{prefix}earshot_compound"),
        output_field=models.FloatField(),
    )


class MentionSearch(models.Model):
    """A mention's full-text search document: ``to_tsvector('simple', text)``, with the GIN
    index the explorer's search reads (PostgreSQL only; SQLite searches by substring).

    Kept behind ingest, not in its transaction (listening.search): a database trigger queues
    every new mention's id in MentionSearchPending, and a periodic task turns the queue into
    these rows. Until then a queued mention is still found: the search also reads the queue's
    few rows and parses their text on the fly."""

    mention = models.OneToOneField(
        Mention, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    document = SearchVectorField()

    def __str__(self) -> str:
        return f"search document of mention {self.mention_id}"


class MentionSearchPending(models.Model):
    """The ids of mentions whose MentionSearch row is still to be written (a trigger fills
    it on PostgreSQL; listening.search empties it). No foreign key: a row whose mention has
    been deleted meanwhile is simply dropped when its turn comes."""

    mention_id = models.BigIntegerField(primary_key=True)

    def __str__(self) -> str:
        return f"mention {self.mention_id} waiting for its search document"


class MentionMatch(models.Model):
    """A mention counted for a brand: one row per brand whose query the mention matched.

    A post that matches two brands ("Acme beats Globex") is stored once and counted for both.
    published_at is copied from the mention so that per-brand lists and rollups filter and
    sort on one index without a join.

    label is the brand's **effective label**, the one rule for every label shown or counted
    (queue, case, author standing, mention lists, exports, rollups): Earshot's label
    (Mention.our_label, "unscored" for a language its scorer does not handle) as ingest
    stored it, until an agent corrects it for this brand; then the latest correction's
    (engagement.services.sentiment_correct keeps it). Mention.label stays plain VADER's.
    """

    # Served by match_unique_brand (mention, brand) and match_brand_pub_idx (brand, ...): no
    # single-column index of their own (one write fewer each per stored match).
    mention = models.ForeignKey(
        Mention, on_delete=models.CASCADE, related_name="matches", db_index=False
    )
    brand = models.ForeignKey(
        Brand, on_delete=models.CASCADE, related_name="matches", db_index=False
    )
    matched_terms = models.JSONField(default=list)
    published_at = models.DateTimeField()
    # The effective label (see the docstring).
    label = models.CharField(max_length=8, choices=Mention.EarshotLabel.choices)
    # Set once the engagement queue has routed this brand's mention into a case (or decided
    # it needs none); the router sweeps the rows where it is still empty.
    routed_at = models.DateTimeField(null=True, blank=True)
    # Why routing could not place this row (it is marked routed so it never blocks the rows
    # behind it); empty for every row routed normally.
    route_error = models.TextField(blank=True, db_default="")
    # Stored by ``import_mentions --history``: routing files it into cases closed as of the
    # data (they count in care figures and follow-up, never in the live queue).
    is_history = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mention", "brand"], name="match_unique_brand"),
        ]
        indexes = [
            # Brand mention lists and exports, newest first / since a date.
            models.Index(fields=["brand", "-published_at"], name="match_brand_pub_idx"),
            # Brand mention lists filtered by sentiment.
            models.Index(fields=["brand", "label", "-published_at"], name="match_brand_label_idx"),
            # The router's sweep: matches not yet routed, oldest first.
            models.Index(
                fields=["published_at"],
                name="match_unrouted_idx",
                condition=models.Q(routed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand_id}<-{self.mention_id}"

    @property
    def label_text(self) -> str:
        """The effective label as shown: "not scored (language)" for unscored."""
        return label_text(self.label)


class FetchLog(models.Model):
    """One fetch of one source: what came back, what was stored and what went wrong."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="fetch_logs")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    items_seen = models.PositiveIntegerField(default=0)
    items_new = models.PositiveIntegerField(default=0)
    items_duplicate = models.PositiveIntegerField(default=0)
    # Items that matched no brand's query: seen, not stored.
    items_unmatched = models.PositiveIntegerField(default=0)
    # Empty when the fetch succeeded; otherwise a short class (timeout, too_large, ...).
    error_class = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    # Problems that did not stop the fetch (an ill-formed feed that still parsed).
    warning = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["source", "-started_at"], name="fetchlog_source_idx"),
            # Admin filter "failed fetches".
            models.Index(
                fields=["-started_at"],
                name="fetchlog_failed_idx",
                condition=~models.Q(error_class=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} @ {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def is_success(self) -> bool:
        # An unfinished fetch is running or was killed (issue 9): neither is a success.
        return self.finished_at is not None and not self.error_class


# --- Rollups (issue 12): what the dashboard's charts read instead of scanning mentions -------
#
# Kept by listening.rollups: incremented in the same transaction as the batch insert, moved
# between labels by a correction, rebuilt from MentionMatch/Mention by ``rebuild_rollups``.
# Each row covers one UTC time cell of ``span`` minutes starting at bucket_start: a quarter-hour
# (15), an hour (60) or a day (1440); every mention is counted once at each span its table keeps.
# Quarter-hours make any local day exact (every UTC offset in use is a multiple of 15 minutes:
# India +5:30, Nepal +5:45, DST changes); hours and days keep a long range cheap to read: a
# local day is read as the UTC day nearest to it, corrected by the hours and quarter-hours
# between the two midnights (listening.rollups explains the arithmetic). Every rollup is keyed
# by source too, so deleting a source or a brand takes its rows with it (CASCADE) and the
# numbers stay exact without a recount. Django does that cascade, not the database: the
# foreign keys have no database constraint, since checking three of them for every row
# tripled the cost of an upsert (rollups are derived data; rebuild_rollups recounts them).
_ROLLUP_FK = {
    "on_delete": models.CASCADE,
    "related_name": "+",
    "db_constraint": False,
    "db_index": False,
}


class RollupSpan(models.IntegerChoices):
    QUARTER_HOUR = 15, "quarter-hour"
    HOUR = 60, "hour"
    DAY = 1440, "day"


class MentionRollup(models.Model):
    """Per brand x span x UTC cell x source x platform x effective label x language: mentions,
    reach and engagement (the volume, sentiment, reach and breakdown charts). All three spans."""

    # The key, and the charts' index: brand, span, then a time range. It is the primary key
    # (no id column, no second index to keep on every upsert).
    pk = models.CompositePrimaryKey(
        "brand", "span", "bucket_start", "source", "platform", "label", "language"
    )
    brand = models.ForeignKey(Brand, **_ROLLUP_FK)
    span = models.PositiveSmallIntegerField(choices=RollupSpan.choices)
    bucket_start = models.DateTimeField()
    source = models.ForeignKey(Source, **_ROLLUP_FK)
    platform = models.CharField(max_length=32)
    # The effective label (MentionMatch.label), "unscored" included.
    label = models.CharField(max_length=8, choices=Mention.EarshotLabel.choices)
    # Mention.language ("" when the source gives none).
    language = models.CharField(max_length=20)
    mentions = models.BigIntegerField(default=0)
    # Sum of Mention.author_followers (a mention whose source does not say counts 0).
    reach = models.BigIntegerField(default=0)
    # Sum of likes + replies + reposts (unknown counts 0).
    engagement = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return (
            f"{self.brand_id}@{self.bucket_start:%Y-%m-%d %H:%M}/{self.span}m {self.label}:"
            f" {self.mentions}"
        )


class AuthorRollup(models.Model):
    """Per brand x span x UTC cell x source x author: mentions, positive and negative
    (effective labels), mentions that asked about buying, the largest follower count seen and
    the latest mention's key (the authors tables and the funnel). Quarter-hours and days only:
    distinct authors and maxima cannot be subtracted, so a range reads whole UTC days inside
    it and quarter-hours at its two ends."""

    pk = models.CompositePrimaryKey("brand", "span", "bucket_start", "source", "author")
    brand = models.ForeignKey(Brand, **_ROLLUP_FK)
    span = models.PositiveSmallIntegerField(choices=RollupSpan.choices)
    bucket_start = models.DateTimeField()
    source = models.ForeignKey(Source, **_ROLLUP_FK)
    author = models.ForeignKey(Author, **_ROLLUP_FK)
    mentions = models.BigIntegerField(default=0)
    positive = models.BigIntegerField(default=0)
    negative = models.BigIntegerField(default=0)
    # Mentions that asked about buying (listening.rollups.asks_about_buying).
    buying = models.BigIntegerField(default=0)
    reach_max = models.BigIntegerField(default=0)
    # The author's latest mention in the cell and its effective label in one number:
    # microseconds since 1970 x 4 + the label's code (listening.rollups.latest_key), so the
    # latest over many cells is a plain max().
    latest_key = models.BigIntegerField(default=-(2**63))

    class Meta:
        indexes = [
            # One author's figures over a range (the authors tables' rows, answered authors in
            # the funnel, the author page) without reading every author of the range.
            models.Index(
                fields=["brand", "author", "span", "bucket_start"], name="authorrollup_author_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand_id}@{self.bucket_start:%Y-%m-%d %H:%M}/{self.span}m {self.author_id}"


class TermRollup(models.Model):
    """Per brand x span x UTC cell x source x term: how many mentions carry it (top terms and
    hashtags). Terms are the brand's matched terms and the text's hashtags, lowercased, at
    most listening.rollups.TERMS_PER_MENTION per mention. Quarter-hours and days: terms are
    the most rows a batch writes, and are read over a few ranges only (quarter-hours tile the
    stretch between a range's end and its nearest UTC midnight)."""

    pk = models.CompositePrimaryKey("brand", "span", "bucket_start", "source", "term")
    brand = models.ForeignKey(Brand, **_ROLLUP_FK)
    span = models.PositiveSmallIntegerField(choices=RollupSpan.choices)
    bucket_start = models.DateTimeField()
    source = models.ForeignKey(Source, **_ROLLUP_FK)
    term = models.CharField(max_length=100)
    mentions = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return (
            f"{self.brand_id}@{self.bucket_start:%Y-%m-%d %H:%M}/{self.span}m {self.term}:"
            f" {self.mentions}"
        )


class RollupGeneration(models.Model):
    """How many times a brand's AuthorRollup changed: the dashboard caches the figures that
    read every author of a range (top authors, the funnel) under this number, so they are
    computed once per change and range (dashboard.selectors). Bumped after each commit
    that changes the brand's author cells (listening.rollups)."""

    brand = models.OneToOneField(
        Brand,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    generation = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.brand_id}: {self.generation}"


# --- Learned sentiment models (issue 13, part 3) ------------------------------------------


class SentimentModel(models.Model):
    """A sentiment model learned from one brand's corrections, and how it did.

    Trained in a worker (engagement.learning) from the brand's latest correction of each
    mention: a stratified fifth is held back, the rest trains listening.sentiment.learned's
    model, and both the model and the care-aware scorer label the held-back part. The brand
    switches to it only if it beats the care scorer there on macro-F1 (else ``rejected``,
    with the reason). At most one model per brand is ``active``; a brand without one uses
    the default scorer (EARSHOT_SENTIMENT_SCORER). An active model labels only its brand's
    matches (MentionMatch.label, corrections win): Mention.earshot_* stays the default
    scorer's, since a mention can match several brands.
    """

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        # Validated and better than the care scorer, not (yet) switched to.
        TRAINED = "trained", "Trained"
        ACTIVE = "active", "Active"
        REJECTED = "rejected", "Rejected"
        # Was active; replaced by a later model or rolled back. Can be activated again.
        RETIRED = "retired", "Retired"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        LEARNED = "learned", "Learned from corrections"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="sentiment_models")
    # 1, 2, 3... per brand, in the order the trainings started.
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.LEARNED)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRAINING)
    # Why rejected or failed (empty otherwise).
    status_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    trained_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # The corrections it learned from (latest per mention): how many trained it, how many
    # were held back to validate it, and the newest one's time (the next training is due
    # once EARSHOT_LEARN_EVERY corrections are newer than this).
    training_size = models.PositiveIntegerField(default=0)
    held_back_size = models.PositiveIntegerField(default=0)
    corrections_until = models.DateTimeField(null=True, blank=True)
    # {"negative": n, "neutral": n, "positive": n} of the training part.
    label_counts = models.JSONField(default=dict, blank=True)
    # Primary language subtags it labels: the care scorer's (EARSHOT_SCORED_LANGUAGES) and
    # any other the brand corrected enough of and the model passed on (see engagement.learning).
    languages = models.JSONField(default=list, blank=True)
    # Validation on the held-back corrections: {"model": figures, "care": figures,
    # "languages": {code: figures}}, each figures = accuracy, macro_f1, f1 per class, size.
    figures = models.JSONField(default=dict, blank=True)
    # The same two macro-F1s as columns, for the admin's list and ordering.
    model_macro_f1 = models.FloatField(null=True, blank=True)
    care_macro_f1 = models.FloatField(null=True, blank=True)
    # listening.sentiment.learned.model_dumps(); empty until trained. Only bytes this
    # application wrote (they are unpickled).
    data = models.BinaryField(blank=True, default=b"", editable=False)
    # The model could not be loaded where it was to be used (scikit-learn upgraded, say):
    # its brand's matches took the default scorer's label, and the next training is due.
    load_error = models.TextField(blank=True)

    class Meta:
        ordering = ["brand", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "version"], name="sentimentmodel_version"),
            # The brand's scorer is one model or the default, never two.
            models.UniqueConstraint(
                fields=["brand"],
                name="sentimentmodel_one_active",
                condition=models.Q(status="active"),
            ),
        ]
        # Ingest's per-batch look-up of the active models of the batch's brands is served
        # by sentimentmodel_one_active (a partial unique index on brand).

    def __str__(self) -> str:
        return f"{self.brand} sentiment model v{self.version} ({self.status})"


class SentimentRescore(models.Model):
    """One background rescoring of a brand's matches after its scorer changed (a model
    activated, or rolled back to an earlier one or to the default scorer).

    Batches walk the brand's MentionMatch rows by id up to ``last_id`` (the highest id when
    the switch committed; later rows are labelled by ingest with the new scorer), writing
    the new scorer's label where no correction exists; the rollups and author standing
    follow in each batch's transaction (engagement.learning.sentiment_rescore_batch).
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        # A later switch of the same brand started its own rescoring, which covers all.
        SUPERSEDED = "superseded", "Superseded"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    # The scorer switched to: a model, or None for the default scorer.
    model = models.ForeignKey(
        SentimentModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    # Keyset pagination: the last MentionMatch id done, and the last id to do.
    cursor_id = models.BigIntegerField(default=0)
    last_id = models.BigIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    # Of those done, how many changed label; in how many batches (task runs).
    changed = models.PositiveIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["brand", "-started_at"], name="rescore_brand_idx")]

    def __str__(self) -> str:
        return f"{self.brand} rescoring: {self.reason} ({self.status})"
