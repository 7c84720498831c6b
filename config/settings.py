"""Earshot settings: one module, read from the environment.

Every value has a default that makes the embedded mode work on a laptop with nothing but
Python: SQLite and Celery's filesystem transport (a broker that needs no server). Production
sets DATABASE_URL and CELERY_BROKER_URL to PostgreSQL and Redis. See README "Configuration".
"""

from datetime import UTC, date, datetime, time
from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A local .env is convenient for development; production passes real environment variables.
# EARSHOT_ENV_FILE names another file, or none when empty (the deploy-check test does that).
_ENV_FILE = env.str("EARSHOT_ENV_FILE", default=str(BASE_DIR / ".env"))
if _ENV_FILE:
    environ.Env.read_env(_ENV_FILE, overwrite=False)


def _secret(name: str, default: str) -> str:
    """Read NAME, or the file NAME_FILE points to (Docker/Kubernetes secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = _secret("SECRET_KEY", "insecure-dev-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    # Refuse to start a non-debug instance with a guessable key.
    raise environ.ImproperlyConfigured("Set SECRET_KEY (or SECRET_KEY_FILE) when DEBUG is off.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "en-us"

INSTALLED_APPS = [
    # django.contrib.admin with the sign-in limiter on its login page (config/admin.py).
    "config.apps.EarshotAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_htmx",
    "csp",
    # brands at the bottom: who may do what (brands, memberships, permissions, audit, sign-in).
    "brands",
    "listening",
    "engagement",
    "tracking",
    "dashboard",
    "customers",
]
# A demo instance (dev.py run sets it). With it or DEBUG on, the demo app (demo/: sample feeds,
# stand-in APIs, load_demo) is installed, and config/urls.py routes it only then; production
# never serves the demo by accident. load_demo also creates the 'demo' superuser (known
# password) only on such an instance.
EARSHOT_DEMO = env.bool("EARSHOT_DEMO", default=False)
if DEBUG or EARSHOT_DEMO:
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Reads the session; before CSRF failures and every view, so their pages use it too.
    "dashboard.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # After WhiteNoise, which answers static files itself: those stay cacheable.
    "config.middleware.PrivatePagesMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.StaticFilesMissingMiddleware",
]

# --- HTTPS and browser security -----------------------------------------------------------
# Production defaults are the safe ones: HTTPS only, with `manage.py check --deploy` silent
# (tests/config/test_deploy.py). Anything served over plain http:// - the local demo
# (dev.py run), the test suite (config/settings_test.py), the benchmarks, a private network -
# says so with EARSHOT_PLAIN_HTTP=true, which turns off the HTTPS redirect, HSTS and secure
# cookies. Nothing turns it on by itself, not even DEBUG.
EARSHOT_PLAIN_HTTP = env.bool("EARSHOT_PLAIN_HTTP", default=False)
_HTTPS = not EARSHOT_PLAIN_HTTP
SECURE_SSL_REDIRECT = _HTTPS
SESSION_COOKIE_SECURE = _HTTPS
CSRF_COOKIE_SECURE = _HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600) if _HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# The TLS-terminating proxy's header that says the original request was https (empty: none).
# Only trust it behind a proxy that sets it on every request and drops a client's own copy.
_PROXY_SSL_HEADER = env.str("EARSHOT_PROXY_SSL_HEADER", default="X-Forwarded-Proto")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# django-csp 4. Scripts and styles come only from our own static files: no inline <script>,
# on*= handlers, <style> or style="" anywhere (templates, Python-built HTML, the admin),
# and htmx runs without eval and without its injected indicator styles (templates/base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "brands.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write to one file in embedded mode: WAL lets readers and the
    # writer proceed together, IMMEDIATE avoids "database is locked" on lock upgrades.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not :memory:, so a real Celery worker started by a test sees the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Session settings for every connection. JIT compiling cost the dashboard's aggregates
    # (tens of thousands of rows) more than it saved (90 ms of 100 measured), and the author
    # tables' hash of a 90-day range spilled to disk at the default 4 MB work_mem.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "options", env.str("EARSHOT_PG_OPTIONS", default="-c jit=off -c work_mem=32MB")
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

STATIC_URL = "static/"
# Where `collectstatic` writes (production: whitenoise serves from here, see README
# "Production: static files").
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# Front-end packages come from npm (package.json + package-lock.json, installed by dev.py or
# `npm ci`); they are served from node_modules, never copied into the repository. Listed only
# once installed: a manual install (venv + pip, no npm yet) would otherwise warn
# staticfiles.W004 on every command. Without them pages work, minus htmx's interactions; with
# DEBUG off the "earshot" system check (config/checks.py) refuses a collection without them.
NODE_MODULES_DIR = Path(env.str("EARSHOT_NODE_MODULES", default=str(BASE_DIR / "node_modules")))
STATICFILES_DIRS: list = [BASE_DIR / "static"]
if (NODE_MODULES_DIR / "htmx.org" / "dist").is_dir():
    STATICFILES_DIRS.append(("vendor/htmx", NODE_MODULES_DIR / "htmx.org" / "dist"))
if (NODE_MODULES_DIR / "chart.js" / "dist").is_dir():
    # The dashboard's charts (dashboard/templates/dashboard/base.html loads chart.umd.min.js).
    STATICFILES_DIRS.append(("vendor/chartjs", NODE_MODULES_DIR / "chart.js" / "dist"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "engagement:queue"
LOGOUT_REDIRECT_URL = "login"
# Every password check (/login/, /admin/login/, any authenticate() call) goes through the
# sign-in limiter in this backend (brands.backends, issue 9).
AUTHENTICATION_BACKENDS = ["brands.backends.LimitedModelBackend"]
# Failed sign-ins allowed per username from one client address, and per address over all
# usernames, in LOGIN_RATE_WINDOW seconds. The per-address limit spares usernames that
# signed in from that address within LOGIN_KNOWN_ADDRESS_DAYS (NAT neighbours of an
# attacker); failures from elsewhere never lock a user out of their own address.
EARSHOT_LOGIN_RATE_LIMIT = env.int("EARSHOT_LOGIN_RATE_LIMIT", default=10)
EARSHOT_LOGIN_RATE_WINDOW = env.int("EARSHOT_LOGIN_RATE_WINDOW", default=300)
EARSHOT_LOGIN_KNOWN_ADDRESS_DAYS = env.int("EARSHOT_LOGIN_KNOWN_ADDRESS_DAYS", default=90)
# Failed sign-ins are read only within EARSHOT_LOGIN_RATE_WINDOW; kept this many days for an
# admin to look into, then deleted daily (brands.tasks), as are successes older than
# EARSHOT_LOGIN_KNOWN_ADDRESS_DAYS: an attack must not grow the table without end.
EARSHOT_LOGIN_FAILURES_KEEP_DAYS = env.int("EARSHOT_LOGIN_FAILURES_KEEP_DAYS", default=7)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Celery -------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Embedded mode: messages are files under var/broker, so no broker server is needed.
    for sub in ("out", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Broadcast (pidbox) messages; kombu's default is ./control in the working directory.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redis re-delivers an unacknowledged (acks_late) task after visibility_timeout, so it
    # must exceed the slowest task's hard time limit by a wide margin.
    _visibility_timeout = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _visibility_timeout,
        # kombu sweeps for abandoned messages every interval * throttle seconds (100 s by
        # default); keep the sweep well inside a short visibility timeout.
        "unacked_restore_interval": min(10, max(1, _visibility_timeout // 2)),
        "unacked_restore_throttle": 1 if _visibility_timeout < 600 else 10,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Earshot ------------------------------------------------------------------------------
# Hosts (or host:port) that feeds may be fetched from although they resolve to private or
# loopback addresses. Empty in production; the demo and the tests name 127.0.0.1.
EARSHOT_ALLOWED_PRIVATE_HOSTS = env.list("EARSHOT_ALLOWED_PRIVATE_HOSTS", default=[])
EARSHOT_FETCH_TIMEOUT = env.float("EARSHOT_FETCH_TIMEOUT", default=20.0)
# Seconds the check of a source being saved (admin, add_source) may take in all.
EARSHOT_SOURCE_CHECK_TIMEOUT = env.float("EARSHOT_SOURCE_CHECK_TIMEOUT", default=15.0)
EARSHOT_FETCH_MAX_BYTES = env.int("EARSHOT_FETCH_MAX_BYTES", default=5 * 1024 * 1024)
EARSHOT_FETCH_MAX_REDIRECTS = env.int("EARSHOT_FETCH_MAX_REDIRECTS", default=5)
# Largest webhook delivery accepted (bytes); bigger ones get 413 before being read.
EARSHOT_WEBHOOK_MAX_BYTES = env.int("EARSHOT_WEBHOOK_MAX_BYTES", default=1024 * 1024)
# Values from outside (listening/outside.py): an item dated before this, or more than a day
# after it was fetched, is stored with its fetch time and a warning in the fetch log.
EARSHOT_PUBLISHED_EARLIEST = datetime.combine(
    date.fromisoformat(env.str("EARSHOT_PUBLISHED_EARLIEST", default="") or "1990-01-01"),
    time.min,
    tzinfo=UTC,
)
# A mention's stored text is cut here (and marked truncated): matching, scoring and the
# sentiment explanation stay bounded whatever a stranger sends.
EARSHOT_MENTION_TEXT_MAX_CHARS = env.int("EARSHOT_MENTION_TEXT_MAX_CHARS", default=40_000)
# The sentiment scorer ingest uses (listening.sentiment.SCORERS; "vader" is plain VADER);
# each mention records the scorer's name and version. Plain VADER's scores are kept beside it.
EARSHOT_SENTIMENT_SCORER = env.str("EARSHOT_SENTIMENT_SCORER", default="earshot-care")
# The languages that scorer handles (ISO 639 codes; "en" also covers "en-GB"). A mention in
# another language, given by its source or detected (listening.language), is stored
# "unscored": counted in volume and reach, left out of sentiment shares. Plain VADER's
# scores are kept for every mention whatever its language.
EARSHOT_SCORED_LANGUAGES = env.list("EARSHOT_SCORED_LANGUAGES", default=["en"])
# Threads of the sentence embedder a learned model runs on (listening/sentiment/embedding.py),
# per process: 1 beside a worker's other processes; a worker that only trains may take more.
EARSHOT_EMBED_THREADS = env.int("EARSHOT_EMBED_THREADS", default=1)
# Learning from corrections (issue 13, engagement.learning): a brand gets a model of its own
# once it has this many corrected mentions (latest correction per mention); a language other
# than EARSHOT_SCORED_LANGUAGES is learned once the brand corrected this many in it.
EARSHOT_LEARN_MIN_CORRECTIONS = env.int("EARSHOT_LEARN_MIN_CORRECTIONS", default=200)
# Train again once this many corrections are newer than the last model's.
EARSHOT_LEARN_EVERY = env.int("EARSHOT_LEARN_EVERY", default=100)
# Seconds between the looks for brands due a training (one task per due brand).
EARSHOT_LEARN_CHECK_INTERVAL = env.int("EARSHOT_LEARN_CHECK_INTERVAL", default=3600)
# Brand matches relabelled per task run when a brand's scorer changes.
EARSHOT_LEARN_RESCORE_BATCH = env.int("EARSHOT_LEARN_RESCORE_BATCH", default=2000)
# Items stored per transaction: a killed worker keeps every committed batch.
EARSHOT_STORE_BATCH_SIZE = env.int("EARSHOT_STORE_BATCH_SIZE", default=1000)
# Pages one poll may fetch before yielding the worker (a long backfill continues next poll).
EARSHOT_MAX_PAGES_PER_POLL = env.int("EARSHOT_MAX_PAGES_PER_POLL", default=10)
# How often beat looks for sources that are due; each source keeps its own interval.
EARSHOT_DISPATCH_INTERVAL = env.int("EARSHOT_DISPATCH_INTERVAL", default=30)
# After this many failures in a row a source is polled less often (doubling, capped).
EARSHOT_BACKOFF_AFTER_FAILURES = env.int("EARSHOT_BACKOFF_AFTER_FAILURES", default=3)
EARSHOT_BACKOFF_MAX_SECONDS = env.int("EARSHOT_BACKOFF_MAX_SECONDS", default=24 * 3600)

# Customers (issue 14). The loyalty panel states no difference between loyalists and the rest
# while either group has fewer customers than this.
EARSHOT_LOYALTY_MIN_GROUP = env.int("EARSHOT_LOYALTY_MIN_GROUP", default=30)
# Chicken or egg: the days before and after a customer's first answered case compared.
EARSHOT_BEFORE_AFTER_DAYS = env.int("EARSHOT_BEFORE_AFTER_DAYS", default=90)
# Largest customers or orders file the admin upload page takes (bytes); bigger files go
# through `manage.py import_customers`.
EARSHOT_CUSTOMERS_UPLOAD_MAX_BYTES = env.int(
    "EARSHOT_CUSTOMERS_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024
)
# Uploads up to this size (bytes, both files) are imported in the request and answered with
# the result; bigger ones are imported by the worker, the import page showing progress.
EARSHOT_CUSTOMERS_INLINE_BYTES = env.int("EARSHOT_CUSTOMERS_INLINE_BYTES", default=2 * 1024 * 1024)
# How often new authors are matched with customers (seconds): outside ingest's hot path.
EARSHOT_CUSTOMERS_MATCH_INTERVAL = env.int("EARSHOT_CUSTOMERS_MATCH_INTERVAL", default=60)
# Seconds between writes of the explorer's search documents for new mentions (PostgreSQL;
# listening/search.py). Mentions are found before it: only searches get slower if it lags.
EARSHOT_SEARCH_INDEX_INTERVAL = env.int("EARSHOT_SEARCH_INDEX_INTERVAL", default=5)

# Outgoing mail (the weekly report e-mail, issue 12): printed to the console log unless
# EMAIL_URL names a server in django-environ's form, e.g.
# smtp+tls://user:password@smtp.example.com:587; EMAIL_URL_FILE reads it from a file.
vars().update(environ.Env.email_url_config(_secret("EMAIL_URL", "consolemail://")))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Earshot <earshot@localhost>")
# Where users reach this instance: e-mails link to pages with it (no trailing slash).
EARSHOT_BASE_URL = env.str("EARSHOT_BASE_URL", default="http://localhost:8000").rstrip("/")
# Tracked links (issue 14, tracking/): the base of the /r/<code> links put in replies (a short
# domain routed to this instance, or this instance itself), and the UTM parameters added to
# the brand's URL on each click: name=value pairs joined with &, where {campaign}, {case} and
# {code} are filled in per link and a pair whose placeholder is empty is left out. A brand may
# set its own in admin (Tracking settings); empty here: no UTM parameters. The default names
# the link's code, not the case: the URL is public (the customer sees it), Earshot's internal
# case numbers are not, and the links CSV maps each code to its case.
EARSHOT_TRACKING_BASE_URL = env.str("EARSHOT_TRACKING_BASE_URL", default=EARSHOT_BASE_URL).rstrip(
    "/"
)
EARSHOT_TRACKING_UTM = env.str(
    "EARSHOT_TRACKING_UTM",
    default="utm_source=earshot&utm_medium=social&utm_campaign={campaign}&utm_content={code}",
)

# Quiet by design (issue 11, config/logging.py): the periodic tasks log a line only when they
# did something ("succeeded ...: 12", not the received/sent bookkeeping of every 5-second run),
# and a 403/404 is one django.request line without a traceback. Warnings and errors always pass.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "quiet_periodic_tasks": {"()": "config.logging.QuietPeriodicTasks"},
        "no_traceback_for_client_errors": {"()": "config.logging.NoTracebackForClientErrors"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        **{
            name: {"filters": ["quiet_periodic_tasks"]}
            for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
        },
        "django.request": {"filters": ["no_traceback_for_client_errors"]},
    },
}

# One schedule for every periodic job; the DatabaseScheduler copies it into the database.
# Each source has its own interval: this dispatcher hands out the sources that are due.
CELERY_BEAT_SCHEDULE = {
    "listening-dispatch-due-sources": {
        "task": "listening.tasks.sources_dispatch_due_task",
        "schedule": float(EARSHOT_DISPATCH_INTERVAL),
        "options": {"expires": float(EARSHOT_DISPATCH_INTERVAL)},
    },
    # The explorer's search documents for the mentions stored since (listening/search.py).
    "listening-index-search": {
        "task": "listening.tasks.search_index_task",
        "schedule": float(EARSHOT_SEARCH_INDEX_INTERVAL),
        "options": {"expires": float(EARSHOT_SEARCH_INDEX_INTERVAL)},
    },
    # The queue: route new mentions into cases, keep waiting-time priority current, and
    # record follow-up outcomes. Each run is idempotent; an expired run is simply skipped.
    "engagement-route-mentions": {
        "task": "engagement.tasks.mentions_route_task",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "engagement-refresh-case-priority": {
        "task": "engagement.tasks.cases_priority_refresh_task",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "engagement-evaluate-followups": {
        "task": "engagement.tasks.followups_evaluate_task",
        "schedule": 600.0,
        "options": {"expires": 600.0},
    },
    # New authors against customers' handles (customers.matching.new_authors_match).
    "customers-match-new-authors": {
        "task": "customers.tasks.new_authors_match_task",
        "schedule": float(EARSHOT_CUSTOMERS_MATCH_INTERVAL),
        "options": {"expires": float(EARSHOT_CUSTOMERS_MATCH_INTERVAL)},
    },
    # Per-brand sentiment models (issue 13): train where enough new corrections arrived.
    "engagement-learn-sentiment": {
        "task": "engagement.tasks.sentiment_models_dispatch_task",
        "schedule": float(EARSHOT_LEARN_CHECK_INTERVAL),
        "options": {"expires": float(EARSHOT_LEARN_CHECK_INTERVAL)},
    },
    # Sign-in attempts nothing reads any more (brands.signin_services.login_attempts_prune).
    "brands-prune-login-attempts": {
        "task": "brands.tasks.login_attempts_prune_task",
        "schedule": 86400.0,
        "options": {"expires": 86400.0},
    },
    # Weekly report e-mails: hourly, so each subscriber's goes out in the first hour of
    # their local Monday; a subscription gets each week once (dashboard/services.py).
    "dashboard-send-weekly-reports": {
        "task": "dashboard.tasks.weekly_reports_send_task",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
}
if "demo" in INSTALLED_APPS:
    # The demo's cases from before it was loaded are filed as history (demo/services.py), so
    # its queue starts with a few days of cases rather than 90 days of overdue ones.
    CELERY_BEAT_SCHEDULE["demo-file-history"] = {
        "task": "demo.tasks.demo_history_file_task",
        "schedule": 20.0,
        "options": {"expires": 20.0},
    }
