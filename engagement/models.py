"""The support-response queue: care settings, cases, replies, and what followed. Who may do
what per brand (memberships, roles) and the audit log are in brands."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from brands.models import Brand
from listening.models import Author, Mention, MentionMatch


class CareSettings(models.Model):
    """Per-brand rules for the queue: what needs an answer, SLAs, windows."""

    brand = models.OneToOneField(Brand, on_delete=models.CASCADE, related_name="care")
    # Whether the brand's customers are answered at all. Off for a brand that is only watched
    # (someone's competitor): its mentions are stored, scored and counted, but open no case.
    care_enabled = models.BooleanField(
        "answer this brand's customers",
        default=True,
        help_text="Off for a brand you only watch, such as a competitor: its mentions are "
        "still listened to and counted, but open no case in the queue.",
    )
    # What needs an answer: negative mentions at or below this compound, questions, and
    # mentions that address one of the brand's own handles.
    negative_threshold = models.FloatField(default=-0.05)
    answer_questions = models.BooleanField(default=True)
    answer_addressed = models.BooleanField(default=True)
    # SLA targets, in minutes.
    first_response_minutes = models.PositiveIntegerField(default=60)
    resolution_minutes = models.PositiveIntegerField(default=24 * 60)
    # A resolved case reopens when its author comes back negative within this window.
    reopen_window_hours = models.PositiveIntegerField(default=72)
    # After the first reply, later mentions of the author are watched this long.
    followup_days = models.PositiveIntegerField(default=14)

    class Meta:
        verbose_name = "care settings"
        verbose_name_plural = "care settings"

    def __str__(self) -> str:
        return f"Care settings of {self.brand}"


class Tag(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["brand", "name"], name="tag_unique_name")]

    def __str__(self) -> str:
        return self.name


class AutoTagRule(models.Model):
    """Mentions matching query get tag when their case is opened or joined."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="auto_tag_rules")
    query = models.TextField()
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="rules")

    def __str__(self) -> str:
        return f"{self.query} -> {self.tag}"


def sla_overdue(case, now) -> bool:
    """Whether a case (or a queue row with the same fields) is past its SLA at `now`:
    first response late, or, once answered, resolution late. selectors/queue.py overdue_q is the
    same rule as a filter."""
    if case.status not in Case.OPEN_STATUSES:
        return False
    if case.first_response_at is None and case.first_response_due:
        return case.first_response_due < now
    return bool(case.resolution_due and case.resolution_due < now)


class Case(models.Model):
    """What one author says to or about one brand, worked as one conversation."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        OPEN = "open", "Open"
        WAITING = "waiting", "Waiting on customer"
        RESOLVED = "resolved", "Resolved"

    class Kind(models.TextChoices):
        # Needs an answer: the main queue.
        CARE = "care", "Needs an answer"
        # Positive, needs no answer: thank, like, share.
        ADVOCATE = "advocate", "Advocate"

    class Outcome(models.TextChoices):
        PENDING = "", "Watching"
        CONVERTED = "converted", "Converted"
        IMPROVED = "improved", "Improved"
        UNCHANGED = "unchanged", "Unchanged"
        WORSENED = "worsened", "Worsened"
        NO_FURTHER_WORD = "no_further_word", "No further word"

    # The statuses of a case still being worked: every one but resolved. Filters spell it
    # status IN (...) so the partial indexes below (whose conditions repeat the list, as a
    # Meta cannot see it) serve them; a test keeps the two in step.
    OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING)

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="cases")
    author = models.ForeignKey(
        Author, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CARE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    # The conversation the case was opened in (see CaseMention.conversation; a case holds
    # every conversation it joined, this is the first).
    thread_id = models.CharField(max_length=255, blank=True)
    # The customer post that made the case need an answer (the default reply target, the
    # post priority explains) and its time: first response is the first brand answer after it.
    answer_target = models.ForeignKey(
        Mention, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    needs_answer_at = models.DateTimeField(null=True, blank=True)
    # Filed by ``import_mentions --history``: closed as of its data, never in the live queue;
    # one without a first response is "no answer, imported".
    is_history = models.BooleanField(default=False, db_default=False)
    subject = models.TextField(blank=True)
    # Priority: a score to sort by, and the parts that explain it (shown on the case).
    priority = models.FloatField(default=0.0)
    priority_band = models.CharField(max_length=8, default="low")
    priority_parts = models.JSONField(default=dict, blank=True)
    # Similar requests: the same normalised text, or a shared key phrase on the same day.
    similarity_key = models.CharField(max_length=64, blank=True)
    # "<day>:<key phrase>" of the first mention, e.g. "2026-11-23:battery drain" (see
    # engagement/similarity.py for how the phrase is chosen); empty when it has none.
    phrase_key = models.CharField(max_length=120, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_mention_at = models.DateTimeField(default=timezone.now)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    reopened_count = models.PositiveIntegerField(default=0)
    first_response_due = models.DateTimeField(null=True, blank=True)
    resolution_due = models.DateTimeField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="cases")
    # Follow-up: the author's tone before and after the first reply.
    followup_until = models.DateTimeField(null=True, blank=True)
    compound_before = models.FloatField(null=True, blank=True)
    compound_after = models.FloatField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=Outcome.choices, default=Outcome.PENDING, blank=True
    )

    class Meta:
        indexes = [
            # The queue: a brand's cases of one kind and status, highest priority first.
            models.Index(fields=["brand", "kind", "status", "-priority"], name="case_queue_idx"),
            # The queue's default view: one brand's open cases of a tab, highest priority
            # first, read in order straight from the index (LIMIT 50, no sort of the table).
            # The condition is spelled exactly as the queue selector filters.
            models.Index(
                fields=["brand", "kind", "-priority", "opened_at", "id"],
                name="case_open_priority_idx",
                condition=Q(status__in=["new", "open", "waiting"]),
            ),
            # Similar requests on the case page: one brand's open cases sharing a key,
            # highest priority first (selectors' similar_cases, one read per key).
            models.Index(
                fields=["brand", "kind", "similarity_key", "-priority", "opened_at"],
                name="case_similar_open_idx",
                condition=Q(status__in=["new", "open", "waiting"]),
            ),
            models.Index(
                fields=["brand", "kind", "phrase_key", "-priority", "opened_at"],
                name="case_phrase_open_idx",
                condition=Q(status__in=["new", "open", "waiting"]) & ~Q(phrase_key=""),
            ),
            # "Next case": the highest-priority unclaimed open case.
            models.Index(
                fields=["brand", "-priority"],
                name="case_unclaimed_idx",
                condition=Q(assignee__isnull=True) & ~Q(status="resolved"),
            ),
            # "Mine" and assignee filters.
            models.Index(fields=["assignee", "status"], name="case_assignee_idx"),
            # Joining a new mention to the author's open case, or the thread's case.
            models.Index(fields=["brand", "author", "status"], name="case_author_idx"),
            models.Index(
                fields=["brand", "thread_id"],
                name="case_thread_idx",
                condition=~Q(thread_id=""),
            ),
            # Overdue filter and counts.
            models.Index(
                fields=["brand", "first_response_due"],
                name="case_due_idx",
                condition=Q(first_response_at__isnull=True),
            ),
            # Similar requests.
            models.Index(fields=["brand", "similarity_key"], name="case_similar_idx"),
            models.Index(
                fields=["brand", "phrase_key"],
                name="case_phrase_idx",
                condition=~Q(phrase_key=""),
            ),
            # Sort by age.
            models.Index(fields=["brand", "opened_at"], name="case_age_idx"),
            # The minutely priority refresh pages through unresolved cases by id.
            models.Index(
                fields=["id"],
                name="case_unresolved_idx",
                condition=~Q(status="resolved"),
            ),
            # Follow-up sweep.
            models.Index(
                fields=["followup_until"],
                name="case_followup_idx",
                condition=Q(outcome=""),
            ),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk} ({self.brand})"

    @property
    def is_overdue(self) -> bool:
        return sla_overdue(self, timezone.now())


class CaseMention(models.Model):
    """A mention in a case's conversation (each mention is in at most one case per brand)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="case_mentions")
    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="case_links")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    # A mention by one of the brand's own handles: the brand's answer on the platform.
    is_brand_reply = models.BooleanField(default=False)
    # The conversation the post belongs to: its thread id, else the conversation of the post
    # it replies to (in_reply_to walked to a post already in a case), else its own id.
    conversation = models.CharField(max_length=255, blank=True, db_default="")
    # The mention's id at the platform (Mention.external_id), so a later post's in_reply_to
    # finds the post it answers among the brand's cases with one index read.
    external_id = models.CharField(max_length=255, blank=True, db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mention", "brand"], name="casemention_unique")
        ]
        indexes = [
            models.Index(fields=["case", "mention"], name="casemention_case_idx"),
            models.Index(
                fields=["brand", "conversation"],
                name="casemention_conv_idx",
                condition=~Q(conversation=""),
            ),
            models.Index(
                fields=["brand", "external_id"],
                name="casemention_extid_idx",
                condition=~Q(external_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mention_id} in case {self.case_id}"


class WaitingBrandReply(models.Model):
    """A brand's post that answers a customer post not stored yet (backfill pages out of order,
    an export with the brand's posts first). It waits, at most until ``waits_until``, and is
    linked as the case's answer when the post it answers arrives."""

    match = models.OneToOneField(MentionMatch, on_delete=models.CASCADE, related_name="+")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="+")
    in_reply_to = models.CharField(max_length=255, blank=True)
    thread_id = models.CharField(max_length=255, blank=True)
    waits_until = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["brand", "in_reply_to"],
                name="waitingreply_parent_idx",
                condition=~Q(in_reply_to=""),
            ),
            models.Index(
                fields=["brand", "thread_id"],
                name="waitingreply_thread_idx",
                condition=~Q(thread_id=""),
            ),
            models.Index(fields=["waits_until"], name="waitingreply_until_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.mention_id} waiting for {self.in_reply_to or self.thread_id}"


class Reply(models.Model):
    """An agent's answer on a case: sent through the connector, or marked as sent by hand."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        MANUAL = "manual", "Replied on platform"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="replies")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The customer's post it answers (the case's latest when the agent wrote it); delivery
    # posts under it. Null for a case with no customer post, or once that post is deleted.
    in_reply_to = models.ForeignKey(
        Mention, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Reply {self.pk} on case {self.case_id} ({self.status})"


class Note(models.Model):
    """An internal note on a case, never sent."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Note {self.pk} on case {self.case_id}"


class SavedReply(models.Model):
    """A reply template of a brand; {author_name}, {author_handle}, {brand}, {agent_name}."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="saved_replies")
    title = models.CharField(max_length=120)
    body = models.TextField()

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "saved replies"
        constraints = [
            models.UniqueConstraint(fields=["brand", "title"], name="savedreply_unique_title")
        ]

    def __str__(self) -> str:
        return self.title


class SentimentCorrection(models.Model):
    """An agent's correction of a mention's label, kept beside the scores (never over them).

    original_label and original_compound are Earshot's at the time (Mention.our_label and
    our_compound: "unscored" and None for a language its scorer does not handle; plain
    VADER's for corrections made before Earshot had a score of its own, which was VADER's)."""

    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="corrections")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="corrections")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    original_label = models.CharField(max_length=8)
    original_compound = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=8, choices=Mention.Label.choices)
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["brand", "-created_at"], name="correction_brand_idx")]

    def __str__(self) -> str:
        return f"{self.mention_id}: {self.original_label} -> {self.label}"


class AuthorStanding(models.Model):
    """Advocate or detractor status of an author towards a brand, kept current on arrival."""

    class Standing(models.TextChoices):
        ADVOCATE = "advocate", "Advocate"
        DETRACTOR = "detractor", "Detractor"
        NEUTRAL = "neutral", "Neutral"

    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="standings")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="standings")
    standing = models.CharField(max_length=16, choices=Standing.choices, default="neutral")
    positive_count = models.PositiveIntegerField(default=0)
    negative_count = models.PositiveIntegerField(default=0)
    mention_count = models.PositiveIntegerField(default=0)
    # Of mention_count, those Earshot did not score (their language): left out of the shares.
    unscored_count = models.PositiveIntegerField(default=0, db_default=0)
    # Sum of Earshot's compounds of the scored ones.
    compound_sum = models.FloatField(default=0.0)
    last_mention_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["author", "brand"], name="standing_unique")]
        indexes = [models.Index(fields=["brand", "standing"], name="standing_brand_idx")]

    def __str__(self) -> str:
        return f"{self.author_id} is {self.standing} of {self.brand_id}"


class CasePresence(models.Model):
    """Who is looking at (or typing on) a case right now; rows older than a minute are stale."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="presence")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    is_typing = models.BooleanField(default=False)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "user"], name="presence_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} on case {self.case_id}"
