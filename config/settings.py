"""Settings, all read from the environment (django-environ).

With no configuration at all Stratus runs in development mode on SQLite with a
Celery broker that keeps its messages in a local folder, so `make run` needs no
server. `STRATUS_ENV=production` switches on the hardened defaults and requires
the secrets to be given. Every variable is listed, with a comment, in `.env.example`.
"""

from pathlib import Path

import environ
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Development state: broker folders, mail files, graphsim's data (one stack per folder).
VAR_DIR = Path(env.str("STRATUS_VAR_DIR", default="") or BASE_DIR / "var")

STRATUS_ENV = env.str("STRATUS_ENV", default="development")
PRODUCTION = STRATUS_ENV == "production"
if STRATUS_ENV not in {"development", "production"}:
    raise environ.ImproperlyConfigured("STRATUS_ENV must be 'development' or 'production'")

# Development defaults are fixed strings so that a fresh clone runs; production has none.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me-in-production-0123456789"
_DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZHV="

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env.str("SECRET_KEY") if PRODUCTION else env.str("SECRET_KEY", _DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# `make run` serves on RUN_PORT; links and Microsoft's redirect URI must name that port
# unless BASE_URL says otherwise (an empty BASE_URL counts as unset).
RUN_PORT = env.int("RUN_PORT", default=8000)
BASE_URL = env.str("BASE_URL", default="") or f"http://127.0.0.1:{RUN_PORT}"

# Keys for secrets at rest (MultiFernet): the first encrypts, every one decrypts.
FIELD_ENCRYPTION_KEYS = (
    env.list("FIELD_ENCRYPTION_KEYS")
    if PRODUCTION
    else env.list("FIELD_ENCRYPTION_KEYS", default=[_DEV_FIELD_KEY])
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "csp",
    # Second factors (directory.mfa): TOTP apps and one-time recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "audit",
    "directory",
    "m365bridge",
    "webhooks",
    "ops",
    "scim",
    "workers",
]

MIDDLEWARE = [
    "ops.middleware.OpsMiddleware",  # first: probes skip host checks and the https redirect
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "directory.middleware.NoStoreMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Sets request.user.is_verified(): whether this session passed a second factor.
    "django_otp.middleware.OTPMiddleware",
    # Events recorded during a request name the API or SCIM key it came with, if any.
    "audit.context.KeyContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web, worker and scheduler write one SQLite file at once in development. IMMEDIATE
    # takes the write lock at BEGIN, so a transaction that read first never fails with
    # "database is locked" when it starts writing (a lock upgrade skips the busy timeout);
    # WAL lets readers go on during a write; `timeout` is the busy wait in seconds.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "directory.User"
AUTHENTICATION_BACKENDS = ["directory.auth.EmailBackend"]
LOGIN_URL = "console:login"

PASSWORD_HASHERS = [
    # Verifies every argon2 hash whatever its cost, and upgrades others at sign-in.
    "directory.hashers.StratusArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Our own policy (directory.passwords) governs every password; Django's validators are not used.
AUTH_PASSWORD_VALIDATORS = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded files (profile photos) go through Django's storage API: files under
# MEDIA_ROOT by default, any storage backend with STRATUS_FILE_STORAGE. They are never
# served from a public URL: the console and portal views check who may see them.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {
        "BACKEND": env.str(
            "STRATUS_FILE_STORAGE", default="django.core.files.storage.FileSystemStorage"
        )
    },
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Profile photos (I5): what an upload must be (Microsoft 365 takes at most 4 MB).
STRATUS_PHOTO_MAX_BYTES = env.int("STRATUS_PHOTO_MAX_BYTES", default=4 * 1024 * 1024)
STRATUS_PHOTO_MIN_SIDE = env.int("STRATUS_PHOTO_MIN_SIDE", default=48)
STRATUS_PHOTO_MAX_SIDE = env.int("STRATUS_PHOTO_MAX_SIDE", default=4096)

# Redis is used for the shared Graph write budget and as the production broker.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": 3600}
)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
from workers.schedule import CELERY_BEAT_SCHEDULE  # noqa: E402,F401

# Email: SMTP in production (EMAIL_URL), files under var/mail in development.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Stratus <no-reply@stratus.localhost>")
# "worker": emails leave from a Celery task after commit, retried while the mail server
# fails (directory.emails). "inline": sent once from the committing process (tests).
EMAIL_DELIVERY = env.str("EMAIL_DELIVERY", default="worker")
if EMAIL_DELIVERY not in ("worker", "inline"):
    raise environ.ImproperlyConfigured("EMAIL_DELIVERY must be 'worker' or 'inline'")
# Seconds an SMTP connection may hang before the try counts as failed (and is retried).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# Lifetimes of emailed links, in seconds: password reset (single-use) and activation.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)
ACTIVATION_TIMEOUT = env.int("ACTIVATION_TIMEOUT", default=7 * 24 * 3600)

# Microsoft 365 (see m365bridge). Production points at Microsoft; development at graphsim.
M365_CLIENT_ID = env.str("M365_CLIENT_ID", default="")
M365_CLIENT_SECRET = env.str("M365_CLIENT_SECRET", default="")
M365_LOGIN_URL = env.str("M365_LOGIN_URL", default="https://login.microsoftonline.com")
M365_GRAPH_URL = env.str("M365_GRAPH_URL", default="https://graph.microsoft.com")
M365_CA_BUNDLE = env.str("M365_CA_BUNDLE", default="")
# graphsim only: the time scale of its tenants, so the shared write budget refills as
# much faster as graphsim's quota windows are shorter. Always 1 against Microsoft.
M365_GRAPH_TIME_SCALE = env.float("M365_GRAPH_TIME_SCALE", default=1.0)
# Writes per 5 min this deployment may use of the application-wide quota (Microsoft's
# 70,000 for all tenants of the app registration, shared fairly): lower it when two
# deployments share one registration (or for a scaled benchmark). Empty: all of it.
M365_APP_WRITE_QUOTA = env.int("M365_APP_WRITE_QUOTA", default=None)
# How long a worker's claim on Microsoft 365 sync work holds; a dead worker's work is
# taken over after it (must outlast the slowest $batch, write-budget waits included).
M365_SYNC_LEASE_SECONDS = env.int("M365_SYNC_LEASE_SECONDS", default=300)
# $batch requests one sync task keeps on the wire at once (m365bridge.sync.runner).
M365_SYNC_IN_FLIGHT = env.int("M365_SYNC_IN_FLIGHT", default=4)
# Reconcile (P5): the per-tenant lease a run renews page by page (a dead worker's run
# is taken over after it), and the clock skew allowed between Stratus's password push
# and Microsoft's lastPasswordChangeDateTime before a change counts as drift.
M365_RECONCILE_LEASE_SECONDS = env.int("M365_RECONCILE_LEASE_SECONDS", default=120)
M365_PASSWORD_DRIFT_GRACE_SECONDS = env.int("M365_PASSWORD_DRIFT_GRACE_SECONDS", default=2)
# An import job's lease: a dead worker's import is taken over this long after its last chunk.
M365_IMPORT_LEASE_SECONDS = env.int("M365_IMPORT_LEASE_SECONDS", default=120)
# Hours a password set before its user was bound (or kept from an unbind) stays
# encrypted for a bind or rebind to push; deleted after.
M365_PASSWORD_RETAIN_HOURS = env.int("M365_PASSWORD_RETAIN_HOURS", default=72)
# Safety (m365bridge README): the mass-deprovision brake's window, and when owners are
# told that sync stopped (changes failing this long, or the client secret expiring soon).
M365_BRAKE_WINDOW_MINUTES = env.int("M365_BRAKE_WINDOW_MINUTES", default=10)
M365_SYNC_ALERT_MINUTES = env.int("M365_SYNC_ALERT_MINUTES", default=60)
M365_CLIENT_SECRET_EXPIRES_AT = env.str("M365_CLIENT_SECRET_EXPIRES_AT", default="")
M365_SECRET_WARN_DAYS = env.int("M365_SECRET_WARN_DAYS", default=14)
# How often the secret's end date is read from Microsoft (m365bridge.secret_expiry).
M365_SECRET_READ_HOURS = env.int("M365_SECRET_READ_HOURS", default=24)
# The error-rate alert (m365bridge.health): more than this share of the changes recorded
# in the window refused by Microsoft, once at least this many were recorded.
M365_ERROR_RATE_PERCENT = env.int("M365_ERROR_RATE_PERCENT", default=20)
M365_ERROR_RATE_MINUTES = env.int("M365_ERROR_RATE_MINUTES", default=15)
M365_ERROR_RATE_MIN_CHANGES = env.int("M365_ERROR_RATE_MIN_CHANGES", default=10)

# Webhooks (see README, "Webhooks"): how long a failing delivery is retried, the longest
# wait between tries, how long a worker's claim on an endpoint holds, and how many days
# the delivery log keeps finished deliveries.
WEBHOOK_RETRY_HOURS = env.int("WEBHOOK_RETRY_HOURS", default=24)
WEBHOOK_RETRY_MAX_SECONDS = env.int("WEBHOOK_RETRY_MAX_SECONDS", default=600)
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=120)
WEBHOOK_LOG_DAYS = env.int("WEBHOOK_LOG_DAYS", default=30)

# The name authenticator apps show next to the account (directory.mfa).
OTP_TOTP_ISSUER = "Stratus"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "directory.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["directory.api.permissions.IsOrganizationAdmin"],
    "DEFAULT_PARSER_CLASSES": ["directory.api.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "directory.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "directory.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stratus API",
    "DESCRIPTION": (
        "Users, groups, events and Microsoft 365 tenants of one organization.\n\n"
        "Authentication: an organization API key, `Authorization: Bearer stk_...` (created "
        "and revoked in the console). The console's own session also works, with its CSRF "
        "token. Admins and owners may use all of the API, helpdesk and read-only members "
        "part of it, members none (403). A key is read-write or read-only and may be "
        "limited to areas (users, groups, Microsoft 365, events): a write with a read-only "
        "key, or a call outside its areas, is 403. A key never has more rights than its "
        "creator has now; it stops (401) when it expires, is revoked, or its creator is "
        "removed. Writes made with a key are recorded in the event log as the key's "
        "creator, and name the key (`api_key_id`, `api_key`).\n\n"
        "Rate limits: each key and each client address may make a number of requests a "
        "minute (600 and 1,200 by default); over it the answer is 429 `throttled` with a "
        "`Retry-After` header in seconds.\n\n"
        "Errors: every error has one shape, "
        '`{"error": {"code": "...", "message": "...", "fields": {"field": ["..."]}}}`. '
        "Invalid input is 400 with code `invalid` (we chose 400 over 422) and `fields` naming "
        "each bad field; 401 no or bad key (`not_authenticated`); 403 not allowed "
        "(`permission_denied`, `not_allowed`); 404 no such object in your organization "
        "(`not_found`; another organization's objects are 404 too); 405 "
        "`method_not_allowed`; 409 conflicts (`email_taken` — emails are unique across the "
        "whole service, case-insensitively — and `group_name_taken`); 415 "
        "`unsupported_media_type` (send JSON).\n\n"
        "Lists are paged: `page` and `page_size` (at most 500); the answer has `count`, "
        "`next`, `previous` and `results`. Passwords and keys are never returned."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Mirrored users and groups share their import statuses (issue 12): one enum.
    "ENUM_NAME_OVERRIDES": {"ImportStatusEnum": "m365bridge.models.MirroredUser.STATUSES"},
}

# API and SCIM rate limits (directory.ratelimit): requests per window for each key and
# for each client address that sends a key; over it, 429 with Retry-After. The counts
# live in Redis (REDIS_URL), so every process shares them.
API_RATE_LIMIT_PER_KEY = env.int("API_RATE_LIMIT_PER_KEY", default=600)
API_RATE_LIMIT_PER_ADDRESS = env.int("API_RATE_LIMIT_PER_ADDRESS", default=1200)
API_RATE_WINDOW_SECONDS = env.int("API_RATE_WINDOW_SECONDS", default=60)

# Self-service sign-ups allowed per client address in each window (directory/signup.py).
SIGNUP_RATE_LIMIT = env.int("SIGNUP_RATE_LIMIT", default=5)
SIGNUP_RATE_WINDOW_SECONDS = env.int("SIGNUP_RATE_WINDOW_SECONDS", default=3600)

# How many reverse proxies in front of Stratus append to X-Forwarded-For (0: none).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): only Stratus's own static files run or style a
# page, with no inline script, handler or style attribute anywhere (templates keep
# theirs in static/). Forms may post only here, or be redirected to Microsoft's
# sign-in (connecting a tenant), which browsers check against form-action too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_NONE],
        "script-src": [CSP_SELF],
        "style-src": [CSP_SELF],
        "img-src": [CSP_SELF, "data:"],
        "font-src": [CSP_SELF],
        "connect-src": [CSP_SELF],
        "manifest-src": [CSP_SELF],
        "form-action": [CSP_SELF, M365_LOGIN_URL],
        "frame-ancestors": [CSP_NONE],
        "base-uri": [CSP_NONE],
    },
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"

# Operations (see README, "Operations"). The bearer token /metrics wants (without one,
# /metrics is open in development and refused in production); the port a worker machine
# serves its own metrics on (0: off); prometheus-client's multiprocess folder.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")

# Logs: `plain` text or `json` (one object a line); both are redacted (ops.logs).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise environ.ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "ops.logs.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "ops.logs.JsonFormatter"},
    },
    # Emailed account tokens never reach a log line (config/logredact.py).
    "filters": {"redact_tokens": {"()": "config.logredact.RedactAccountTokens"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own loggers (the development server's access log, "Not Found: <path>")
        # write through the redacting handler only, instead of Django's default one.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
