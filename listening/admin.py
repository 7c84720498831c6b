import contextvars
from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from brands.admin import URL_FIELDS_ASSUME_HTTPS, BrandScopedAdmin, BrandScopedInline
from brands.models import Brand
from brands.permissions import Action, scoped
from listening.forms import BrandAdminForm, QueryTestForm, SourceAdminForm
from listening.models import Author, FetchLog, Mention, MentionMatch, Source
from listening.outside import web_url
from listening.query import MatchDocument
from listening.rollups import mentions_delete
from listening.selectors import mentions_recent
from listening.services import FETCH_INTERRUPTED, webhook_credentials

QUERY_TEST_SAMPLE = 500
# How much of a source's last error the sources list shows; the rest is on hover and on the
# source's page.
SHORT_ERROR_CHARS = 160


@admin.register(Brand)
class BrandAdmin(BrandScopedAdmin, admin.ModelAdmin):
    brand_path = "pk"
    form = BrandAdminForm
    list_display = ("name", "query", "source_count", "created_at")
    search_fields = ("name", "query")
    filter_horizontal = ("competitors",)
    change_list_template = "admin/listening/brand/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_source_count=Count("sources"))

    def has_add_permission(self, request):
        # A new workspace is a superuser's job, and so is deleting one.
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description="sources", ordering="_source_count")
    def source_count(self, obj):
        return obj._source_count

    def get_urls(self):
        custom = [
            path(
                "test-query/",
                self.admin_site.admin_view(self.test_query_view),
                name="listening_brand_test_query",
            )
        ]
        return custom + super().get_urls()

    def test_query_view(self, request):
        """Paste a query, see which of the newest stored mentions it matches."""
        form = QueryTestForm(request.GET or None)
        results, sample_size = None, 0
        if form.is_valid():
            recent = mentions_recent(limit=QUERY_TEST_SAMPLE)
            if not request.user.is_superuser:
                # A brand admin tests against their brands' mentions only.
                recent = scoped(
                    recent.model.objects.order_by("-published_at", "-id"),
                    request.user,
                    Action.CONFIGURE,
                    "matches__brand",
                ).select_related("author", "source")[:QUERY_TEST_SAMPLE]
            sample = list(recent)
            sample_size = len(sample)
            results = []
            for mention in sample:
                author = mention.author
                doc = MatchDocument(
                    mention.text,
                    author=f"{author.handle} {author.display_name}" if author else "",
                    url=mention.url,
                    lang=mention.language,
                )
                terms = form.compiled.match(doc)
                if terms:
                    results.append((mention, terms))
        context = {
            **self.admin_site.each_context(request),
            "title": "Test a keyword query",
            "opts": self.model._meta,
            "form": form,
            "results": results,
            "sample_size": sample_size,
            "sample_limit": QUERY_TEST_SAMPLE,
        }
        return TemplateResponse(request, "admin/listening/brand/test_query.html", context)


def fetch_outcome(log: FetchLog) -> str:
    """What a fetch came to, as admin shows it: an unfinished poll is running until the poll
    task's hard time limit has passed, and interrupted after (its worker was killed)."""
    from listening.tasks import POLL_TIME_LIMIT

    if log.error_class:
        return format_html('<span class="status-bad">{}</span>', log.error_class)
    if log.finished_at is None:
        limit = timedelta(seconds=POLL_TIME_LIMIT)
        if log.source.is_live or log.started_at > timezone.now() - limit:
            return format_html('<span class="status-muted">{}</span>', "running")
        return format_html('<span class="status-bad">{}</span>', FETCH_INTERRUPTED)
    if log.warning:
        return format_html('<span class="status-warn">{}</span>', "ok, with warning")
    return "ok"


class FetchLogInline(BrandScopedInline, admin.TabularInline):
    brand_path = "source__brand"
    model = FetchLog
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-started_at",)
    fields = (
        "started_at",
        "outcome",
        "http_status",
        "items_seen",
        "items_new",
        "items_duplicate",
        "error_class",
        "error_message",
        "warning",
    )
    readonly_fields = fields
    show_change_link = True

    @admin.display(description="outcome")
    def outcome(self, obj):
        return fetch_outcome(obj)

    def get_queryset(self, request):
        # The admin inline cannot slice; the change page shows the newest fetches only.
        qs = super().get_queryset(request)
        ids = qs.order_by("-started_at").values_list("pk", flat=True)[:20]
        return qs.filter(pk__in=list(ids))


# The request of the change page being built: the webhook's delivery URL is absolute, and a
# read-only field is given the object only. A context variable, not an attribute: one
# ModelAdmin serves every thread.
_change_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "source_admin_request", default=None
)

# What the user sets; the rest of a source is its state, written by polling.
_SOURCE_SETTINGS = ("brand", "kind", "name", "url", "config", "save_anyway")
_SOURCE_SCHEDULE = ("poll_interval", "backfill_days", "is_enabled")
_SOURCE_HEALTH = (
    "health",
    "last_polled_at",
    "last_success_at",
    "last_error",
    "last_error_at",
    "consecutive_failures",
    "next_poll_at",
    "backfill_status",
)
_SOURCE_INTERNAL = ("cursor", "etag", "last_modified", "created_at")


@admin.register(Source)
class SourceAdmin(BrandScopedAdmin, admin.ModelAdmin):
    form = SourceAdminForm
    audit_redacted_fields = ("config",)
    # Fits a 1,600 px screen beside the app sidebar: "disabled" and the failure count are in
    # the health column, the backfill progress under it; the error wraps (issue 11).
    list_display = (
        "name_or_url",
        "brand",
        "kind_code",
        "health",
        "last_success_at",
        "next_poll_at",
        "short_error",
    )
    list_filter = ("kind", "is_enabled", "brand")
    search_fields = ("name", "url")
    list_select_related = ("brand",)
    actions = ["poll_now", "reset_backoff"]
    inlines = [FetchLogInline]

    class Media:
        css = {"all": ["earshot/admin_sources.css"]}

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": _SOURCE_SETTINGS}),
            ("Schedule", {"fields": _SOURCE_SCHEDULE}),
        ]
        if obj is None:
            # A new source has no state yet: nothing internal on the add form.
            return fieldsets
        if obj.kind == Source.Kind.WEBHOOK:
            fieldsets.insert(1, ("Webhook delivery", {"fields": ("delivery",)}))
        return [
            *fieldsets,
            ("Health", {"fields": _SOURCE_HEALTH}),
            ("Internal state", {"classes": ("collapse",), "fields": _SOURCE_INTERNAL}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("delivery", *_SOURCE_HEALTH, *_SOURCE_INTERNAL)

    def get_inlines(self, request, obj):
        # Fetches once there are some; a new source has none.
        if obj is None or not FetchLog.objects.filter(source=obj).exists():
            return []
        return super().get_inlines(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        token = _change_request.set(request)
        try:
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if isinstance(response, TemplateResponse):
                # Rendered here, while the read-only fields can still see the request.
                response.render()
            return response
        finally:
            _change_request.reset(token)

    def save_model(self, request, obj, form, change):
        if not change and obj.kind == Source.Kind.WEBHOOK and not obj.token:
            obj.token, obj.secret = webhook_credentials()
        super().save_model(request, obj, form, change)
        check = getattr(form, "check", None)
        if check is None:
            return
        if check.is_ok:
            self.message_user(request, check.message, messages.INFO)
        else:
            self.message_user(request, f"Saved anyway. {check.message}", messages.WARNING)

    @admin.display(description="delivery URL")
    def delivery(self, obj):
        if obj.kind != Source.Kind.WEBHOOK or not obj.token:
            return "-"
        path = reverse("hooks:receive", args=[obj.token])
        request = _change_request.get()
        url = request.build_absolute_uri(path) if request is not None else path
        return format_html(
            "POST to <code>{}</code>, signed with the HMAC-SHA256 secret <code>{}</code> "
            "(see README, Signed webhooks).",
            url,
            obj.secret,
        )

    @admin.display(description="kind", ordering="kind")
    def kind_code(self, obj):
        # The short code ("rss"); the long label, which wraps into four lines, on hover.
        return format_html('<span title="{}">{}</span>', obj.get_kind_display(), obj.kind)

    @admin.display(description="source", ordering="name")
    def name_or_url(self, obj):
        return format_html('<span class="source-name">{}</span>', str(obj))

    @admin.display(description="health")
    def health(self, obj):
        state = self._health_state(obj)
        if not obj.backfill_status:
            return state
        return format_html(
            '{}<br><span class="status-muted source-backfill">{}</span>',
            state,
            obj.backfill_status,
        )

    @staticmethod
    def _health_state(obj):
        if not obj.is_enabled:
            return format_html('<span class="status-muted">{}</span>', "disabled")
        if obj.consecutive_failures == 0:
            if obj.last_success_at is None:
                return "not polled yet"
            return format_html('<span class="status-ok">{}</span>', "healthy")
        state = "backing off" if obj.next_poll_at > timezone.now() else "failing"
        return format_html(
            '<span class="status-bad">{} ({} failure{})</span>',
            state,
            obj.consecutive_failures,
            "" if obj.consecutive_failures == 1 else "s",
        )

    @admin.display(description="last error")
    def short_error(self, obj):
        error = obj.last_error
        if not error:
            return ""
        shown = (error[:SHORT_ERROR_CHARS] + "…") if len(error) > SHORT_ERROR_CHARS else error
        # The cell wraps inside its column (admin_sources.css); the whole error is the title.
        return format_html('<span class="source-error" title="{}">{}</span>', error, shown)

    @admin.action(description="Poll selected sources now")
    def poll_now(self, request, queryset):
        from listening.tasks import source_poll_task

        ids = list(queryset.values_list("pk", flat=True))
        for source_id in ids:
            source_poll_task.delay(source_id)
        self.message_user(request, f"Queued a poll of {len(ids)} source(s).", messages.SUCCESS)

    @admin.action(description="Reset backoff (poll at the next dispatch)")
    def reset_backoff(self, request, queryset):
        count = queryset.update(next_poll_at=timezone.now())
        self.message_user(request, f"{count} source(s) will be polled at the next dispatch.")


@admin.register(FetchLog)
class FetchLogAdmin(BrandScopedAdmin, admin.ModelAdmin):
    brand_path = "source__brand"
    list_display = (
        "started_at",
        "source",
        "http_status",
        "items_seen",
        "items_new",
        "items_duplicate",
        "items_unmatched",
        "outcome",
        "error_message",
    )
    list_filter = ("error_class", "source__brand", "source")
    list_select_related = ("source",)
    date_hierarchy = "started_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="outcome", ordering="error_class")
    def outcome(self, obj):
        return fetch_outcome(obj)


class MentionMatchInline(BrandScopedInline, admin.TabularInline):
    model = MentionMatch
    extra = 0
    can_delete = False
    # route_error says why the queue could not place the mention for that brand (issue 9).
    fields = ("brand", "matched_terms", "routed_at", "route_error")
    readonly_fields = fields


class RouteFailedFilter(admin.SimpleListFilter):
    """Mentions that routing marked with an error instead of placing them in the queue."""

    title = "routing"
    parameter_name = "route_failed"

    def lookups(self, request, model_admin):
        return [("yes", "could not be routed")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(matches__route_error__gt="").distinct()
        return queryset


class RollupsKeptOnDelete:
    """Between BrandScopedAdmin (which audits the delete) and ModelAdmin: a mention deleted
    here goes through listening.rollups.mentions_delete, so the dashboard's rollups recount
    its quarter-hours instead of counting a mention that is gone."""

    def delete_model(self, request, obj):
        mentions_delete(mention_ids=[obj.pk])


@admin.register(Mention)
class MentionAdmin(BrandScopedAdmin, RollupsKeptOnDelete, admin.ModelAdmin):
    brand_path = "matches__brand"
    brand_path_is_multi = True
    list_display = (
        "published_at",
        "short_text",
        "author",
        "language",
        "earshot",
        "vader_compound",
        "source",
        "link",
    )
    list_filter = (
        "label",
        "language",
        "source__kind",
        "matches__brand",
        "source",
        RouteFailedFilter,
    )
    search_fields = ("text", "external_id")
    list_select_related = ("author", "source")
    date_hierarchy = "published_at"
    inlines = [MentionMatchInline]
    show_full_result_count = False
    # In words, not the boolean icon: the mention page has no image at all, so a stranger's
    # text that became an <img> stands out (tests/listening/test_admin_browser.py).
    exclude = ("is_text_truncated",)
    readonly_fields = ("text_cut",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="text cut")
    def text_cut(self, obj):
        return "yes: longer than the stored text cap" if obj.is_text_truncated else "no"

    @admin.display(description="Earshot")
    def earshot(self, obj):
        """Earshot's label and compound (issue 13); "not scored (language)" when unscored."""
        compound = obj.our_compound
        if compound is None:
            return obj.our_label_text
        return f"{obj.our_label_text} {compound:+.3f}"

    @admin.display(description="vader compound", ordering="compound")
    def vader_compound(self, obj):
        return obj.compound

    @admin.display(description="text")
    def short_text(self, obj):
        return (obj.text[:140] + "…") if len(obj.text) > 140 else obj.text

    @admin.display(description="link")
    def link(self, obj):
        # Mention URLs come from strangers: only web_url's, and never passing our referrer on.
        url = web_url(obj.url)
        if not url:
            return ""
        return format_html(
            '<a href="{}" rel="noopener noreferrer nofollow" target="_blank">open</a>', url
        )


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    formfield_overrides = URL_FIELDS_ASSUME_HTTPS
    list_display = ("handle", "display_name", "platform", "followers", "updated_at")
    list_filter = ("platform",)
    search_fields = ("handle", "display_name")
