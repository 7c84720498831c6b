from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from brands.admin import BrandScopedAdmin, BrandScopedInline
from brands.models import Brand
from brands.permissions import Action, scoped
from listening.connectors.registry import CONNECTORS, connector_for
from listening.forms import BrandAdminForm, QueryTestForm, SourceAdminForm
from listening.models import Author, FetchLog, Mention, MentionMatch, Source
from listening.outside import web_url
from listening.query import MatchDocument
from listening.selectors import mentions_recent
from listening.services import FETCH_INTERRUPTED, webhook_credentials

QUERY_TEST_SAMPLE = 500


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


@admin.register(Source)
class SourceAdmin(BrandScopedAdmin, admin.ModelAdmin):
    form = SourceAdminForm
    audit_redacted_fields = ("config",)
    list_display = (
        "__str__",
        "brand",
        "kind",
        "is_enabled",
        "health",
        "last_success_at",
        "consecutive_failures",
        "next_poll_at",
        "backfill_status",
        "short_error",
    )
    list_filter = ("kind", "is_enabled", "brand")
    search_fields = ("name", "url")
    list_select_related = ("brand",)
    readonly_fields = (
        "delivery",
        "last_polled_at",
        "last_success_at",
        "last_error",
        "last_error_at",
        "consecutive_failures",
        "cursor",
        "backfill_status",
        "etag",
        "last_modified",
        "created_at",
    )
    actions = ["poll_now", "reset_backoff"]
    inlines = [FetchLogInline]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "config":
            field.help_text = "Options as JSON. " + "; ".join(
                f"{kind}: {', '.join(o.name for o in connector.config_fields)}"
                for kind, connector in ((k, connector_for(k)) for k in CONNECTORS)
                if connector.config_fields
            )
        elif db_field.name == "url":
            field.help_text = "Feed URL or API endpoint; " + "; ".join(
                f"{kind}: {connector_for(kind).url_help}" for kind in CONNECTORS
            )
        return field

    def save_model(self, request, obj, form, change):
        if not change and obj.kind == Source.Kind.WEBHOOK and not obj.token:
            obj.token, obj.secret = webhook_credentials()
        super().save_model(request, obj, form, change)

    @admin.display(description="webhook delivery")
    def delivery(self, obj):
        if obj.kind != Source.Kind.WEBHOOK or not obj.token:
            return "-"
        return format_html(
            "POST <code>/hooks/{}/</code>, signed with HMAC-SHA256 secret <code>{}</code>",
            obj.token,
            obj.secret,
        )

    @admin.display(description="health")
    def health(self, obj):
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
        return (obj.last_error[:120] + "…") if len(obj.last_error) > 120 else obj.last_error

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


@admin.register(Mention)
class MentionAdmin(BrandScopedAdmin, admin.ModelAdmin):
    brand_path = "matches__brand"
    brand_path_is_multi = True
    list_display = ("published_at", "short_text", "author", "label", "compound", "source", "link")
    list_filter = ("label", "source__kind", "matches__brand", "source", RouteFailedFilter)
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
    list_display = ("handle", "display_name", "platform", "followers", "updated_at")
    list_filter = ("platform",)
    search_fields = ("handle", "display_name")
