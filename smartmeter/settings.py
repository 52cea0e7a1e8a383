"""Settings for smartmeter, read from the environment (see .env.example).

Defaults suit a laptop: SQLite under var/, the SQL readings store, an in-memory
channel layer and mails written to files. Production must set SECRET_KEY,
ALLOWED_HOSTS and DEBUG=False; unsafe combinations refuse to start.
"""

import os
import secrets
from datetime import timedelta
from decimal import Decimal
from email.utils import formataddr
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from devices.identity import TopicPrefixes

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

# Keys that were published (a default of earlier versions): refused in production whoever sets them.
PUBLISHED_SECRET_KEYS = frozenset({"insecure-development-key-change-me"})

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -----------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
VERSION = env.str("SMARTMETER_VERSION", default="0.1.0")


def local_secret_key(path: Path) -> str:
    """The key of this checkout for local runs: made once, at random, into `path` (mode 0600), then reused.

    Written to a temporary file and linked into place, so processes starting together
    (`make run` starts several) all end up with the one key that won.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            scratch.unlink()
    return path.read_text().strip()


def check_production_safety(*, debug: bool, secret_key: str, allowed_hosts: list[str]) -> None:
    """Refuse to run a production configuration that would be unsafe."""
    if debug:
        return
    problems = []
    if not secret_key or secret_key in PUBLISHED_SECRET_KEYS or len(secret_key) < 32:
        problems.append("SECRET_KEY must be set to a unique value of at least 32 characters")
    if not allowed_hosts:
        problems.append("ALLOWED_HOSTS must list the host names this site is served under")
    if problems:
        raise ImproperlyConfigured("Refusing to start with DEBUG=False: " + "; ".join(problems) + ".")


SECRET_KEY = env.str("SECRET_KEY", default="")
check_production_safety(debug=DEBUG, secret_key=SECRET_KEY, allowed_hosts=ALLOWED_HOSTS)
if not SECRET_KEY:  # development only (production refused above): never a key from the repository
    SECRET_KEY = local_secret_key(Path(env.str("SECRET_KEY_FILE", default=str(VAR_DIR / "secret-key"))))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "channels",
    "accounts",
    "devices",
    "readings",
    "billing",
    "dashboard",
    "ops",
    "devtools",
]

MIDDLEWARE = [
    "ops.middleware.ClientAddressMiddleware",
    "ops.middleware.RequestIdMiddleware",
    "ops.middleware.HealthProbeMiddleware",
    "ops.middleware.RequestMetricsMiddleware",
    "ops.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "smartmeter.urls"
WSGI_APPLICATION = "smartmeter.wsgi.application"
ASGI_APPLICATION = "smartmeter.asgi.application"

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

# --- Databases --------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'smartmeter.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the consumer and the worker share one file. IMMEDIATE
    # transactions take the write lock up front, so a writer waits out `timeout`
    # instead of failing at once with "database is locked" when upgrading a read.
    # synchronous=FULL syncs the WAL on every commit: the consumer acknowledges a
    # reading to the broker once its batch commits, so a commit must survive a power
    # cut (with NORMAL the last commits can vanish then), as PostgreSQL's do.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
        }
    )
else:
    # 0 = a connection per request. Under daphne (ASGI) every request may run in a thread of
    # its own, so persistent connections pile up until PostgreSQL refuses clients ("too many
    # clients" under bench/load.py). Long-running commands keep theirs regardless.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Readings go to MongoDB when MONGODB_URI is set, else to the SQL store above.
MONGODB_URI = env.str("MONGODB_URI", default="")
MONGODB_READINGS_COLLECTION = env.str("MONGODB_READINGS_COLLECTION", default="readings")

# --- Auth -------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:meters"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation ---------------------------------------------------

LANGUAGE_CODE = "en-in"
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Kolkata")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Request limits (ops.request_limits; docs/reliability.md#hostile-api-input) ---------

# Bodies over this answer 413 before they are read. The largest legitimate API body is a
# tariff (a few slabs: well under 10 KiB); 1 MiB leaves a hundredfold margin.
REQUEST_MAX_BODY_BYTES = env.int("REQUEST_MAX_BODY_BYTES", default=1024 * 1024)
# The admin's own limit (its forms, and imports or uploads added later): larger, never unlimited,
# since the body arrives before the login check. Form fields stay under DATA_UPLOAD_MAX_MEMORY_SIZE.
REQUEST_MAX_BODY_BYTES_ADMIN = env.int("REQUEST_MAX_BODY_BYTES_ADMIN", default=20 * 1024 * 1024)
# JSON nested deeper than this answers 400 (Python's parser would raise RecursionError).
REQUEST_MAX_JSON_DEPTH = 64

# --- REST API ---------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, plus the per-user token generation check that makes access tokens revocable.
        "accounts.authentication.RevocableJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's three, with JSON refusing deep nesting (ops.parsers).
    "DEFAULT_PARSER_CLASSES": [
        "ops.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "smartmeter.pagination.HeaderPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "smartmeter.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Rates come from RATELIMIT_API / RATELIMIT_PDF below (ops.ratelimits).
    "DEFAULT_THROTTLE_CLASSES": ["ops.ratelimits.ApiUserRateThrottle", "ops.ratelimits.PdfDownloadThrottle"],
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Each refresh returns a new refresh token and blacklists the one used, so a stolen
    # refresh token works at most once (docs/operations.md#api-tokens).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "smartmeter API",
    "DESCRIPTION": "Smart meter registry, readings, tariffs, bills and invoices.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents the shared {"detail"} error answers (401, 404, 429, ...).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "ops.openapi.add_error_responses"],
    # Meters and invoices both have a "status"; name their enums apart.
    "ENUM_NAME_OVERRIDES": {
        "DeviceStatusEnum": "devices.models.Device.Status",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
    },
    # Swagger UI from our own static files: the docs page works without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"  # only the API is meant for other origins
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Cache, channels, tasks -------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
        # Rate-limit counters, shared by every process (atomic INCR).
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "smartmeter-rl",
        },
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # The default capacity of 100 silently drops group messages under load.
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 5000, "expiry": 10},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "smartmeter",
        },
        # Per process: without Redis each process counts rate limits on its own.
        "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "smartmeter-rl"},
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}}

# Rate limits (ops.ratelimits): "<count>/<period>" with period s, m, h or d; empty = off.
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_USE_CACHE = "ratelimit"
RATELIMIT_LOGIN = env.str("RATELIMIT_LOGIN", default="10/m")  # per client IP
RATELIMIT_LOGIN_ACCOUNT = env.str("RATELIMIT_LOGIN_ACCOUNT", default="10/15m")  # per email tried, from any address
RATELIMIT_REGISTER = env.str("RATELIMIT_REGISTER", default="10/m")  # per client IP
RATELIMIT_API = env.str("RATELIMIT_API", default="600/m")  # per user (per IP when anonymous)
RATELIMIT_PDF = env.str("RATELIMIT_PDF", default="30/m")  # invoice PDF downloads per user
RATELIMIT_PASSWORD_RESET = env.str("RATELIMIT_PASSWORD_RESET", default="5/h")  # reset emails asked for, per client IP
RATELIMIT_CLAIM = env.str("RATELIMIT_CLAIM", default="10/h")  # meter claims tried, per client IP and per account
RATELIMIT_FAIL_OPEN = env.bool("RATELIMIT_FAIL_OPEN", default=True)  # a cache outage lets requests through
# Behind a proxy the client address is in a header the proxy sets (e.g. HTTP_X_REAL_IP).
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="") or None
# How many proxies in front of the web processes append to X-Forwarded-For (0: the socket peer
# is the client). Never count one that is not there: the client writes the entries to its left.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

Q_CLUSTER = {
    "name": "smartmeter",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 1800,
    "retry": 3600,
    "max_attempts": 3,
    "catch_up": False,
    "label": "Tasks",
}

# --- MQTT and ingestion -----------------------------------------------------

MQTT_URL = env.str("MQTT_URL", default="mqtt://127.0.0.1:1883")
MQTT_CA_FILE = env.str("MQTT_CA_FILE", default="")
MQTT_CLIENT_CERT = env.str("MQTT_CLIENT_CERT", default="")
MQTT_CLIENT_KEY = env.str("MQTT_CLIENT_KEY", default="")
MQTT_CLIENT_ID = env.str("MQTT_CLIENT_ID", default="smartmeter-consumer")
# The broker address meters use (mqtts://mqtt.example.com:8883), shown to staff in the meter admin's
# "Connect this meter" panel; only its host, port and TLS are shown. Unset = MQTT_URL's.
MQTT_PUBLIC_URL = env.str("MQTT_PUBLIC_URL", default="") or MQTT_URL
# The live view's own broker account (least privilege: it may only subscribe); unset = MQTT_URL's.
LIVE_MQTT_URL = env.str("LIVE_MQTT_URL", default="")
# The dynamic security plugin's admin (mqtt://admin:password@host:1883): with it set, provisioning
# a meter creates its broker account and decommissioning disables it. Unset = an open broker
# (the embedded `make run` one), no accounts. docs/deployment.md#mqtt-credentials.
MQTT_ADMIN_URL = env.str("MQTT_ADMIN_URL", default="")
MQTT_SHARED_GROUP = env.str("MQTT_SHARED_GROUP", default="")
# Web processes subscribe to the meters their browsers watch. With a shared (Redis) channel
# layer they join one shared subscription, so each reading is fanned out once, not once per process.
LIVE_MQTT_SHARED_GROUP = env.str("LIVE_MQTT_SHARED_GROUP", default="smartmeter-live" if REDIS_URL else "")
MQTT_SESSION_EXPIRY = env.int("MQTT_SESSION_EXPIRY", default=7 * 24 * 3600)
MQTT_RECEIVE_MAXIMUM = env.int("MQTT_RECEIVE_MAXIMUM", default=2000)
INGEST_BATCH_SIZE = env.int("INGEST_BATCH_SIZE", default=1000)
INGEST_BATCH_MAX_AGE = env.float("INGEST_BATCH_MAX_AGE", default=0.5)
INGEST_BACKFILL_DAYS = env.int("INGEST_BACKFILL_DAYS", default=35)
INGEST_MAX_PAYLOAD_BYTES = 4096
DEAD_LETTER_MAX_ROWS = env.int("DEAD_LETTER_MAX_ROWS", default=10000)
# Off-the-shelf meters publish under their own first topic level(s): Tasmota tele/<id>/SENSOR, Shelly
# shelly/<id>/status/..., dsmr-reader dsmr/<id>/json (docs/ingestion.md#payload-formats).
MQTT_TASMOTA_PREFIX = env.str("MQTT_TASMOTA_PREFIX", default="tele")
MQTT_SHELLY_PREFIX = env.str("MQTT_SHELLY_PREFIX", default="shelly")
MQTT_DSMR_PREFIX = env.str("MQTT_DSMR_PREFIX", default="dsmr")
# Tasmota's `Time` has no offset: it is read in this zone (set the device's Timezone to match).
TASMOTA_TIME_ZONE = env.str("TASMOTA_TIME_ZONE", default="") or TIME_ZONE
# A Shelly sends power (em:0) and energy (emdata:0) separately: a register reading takes the power
# values of a power message from the same meter at most this many seconds apart.
SHELLY_JOIN_WINDOW_SECONDS = env.float("SHELLY_JOIN_WINDOW_SECONDS", default=60.0)
DEVICE_OFFLINE_AFTER = timedelta(seconds=env.int("DEVICE_OFFLINE_AFTER_SECONDS", default=300))
# A register step implying more than sanctioned load x this margin is implausible (docs/readings.md#reading-quality).
READING_PLAUSIBLE_MARGIN = Decimal(env.str("READING_PLAUSIBLE_MARGIN", default="1.5"))

# --- Billing ----------------------------------------------------------------

BILLING_TIME_ZONE = env.str("BILLING_TIME_ZONE", default=TIME_ZONE)
INVOICE_DUE_DAYS = env.int("INVOICE_DUE_DAYS", default=15)
# A month closes on a reading at or after its end; a meter without one by then is billed an
# estimate. docs/billing.md#closing-reads.
BILLING_CLOSING_READ_GRACE = timedelta(hours=env.int("BILLING_CLOSING_READ_GRACE_HOURS", default=72))
BILLING_ESTIMATE_LOOKBACK_DAYS = env.int("BILLING_ESTIMATE_LOOKBACK_DAYS", default=90)
# The dashboard projects this month's bill only once its readings span this many days
# (billing.projection; docs/dashboard.md#the-projection); before that it says there is not enough data.
PROJECTION_MIN_DAYS = env.int("PROJECTION_MIN_DAYS", default=3)
if not 1 <= PROJECTION_MIN_DAYS <= 27:
    raise ImproperlyConfigured("PROJECTION_MIN_DAYS must be between 1 and 27 (a month needs days left to project).")
# Bills held for review instead of sent: docs/billing.md#review-before-sending.
BILLING_REVIEW_SPIKE_FACTOR = Decimal(env.str("BILLING_REVIEW_SPIKE_FACTOR", default="3"))
BILLING_REVIEW_SPIKE_MIN_KWH = Decimal(env.str("BILLING_REVIEW_SPIKE_MIN_KWH", default="50"))
BILLING_REVIEW_ESTIMATES_IN_A_ROW = env.int("BILLING_REVIEW_ESTIMATES_IN_A_ROW", default=3)
# Collections: docs/billing.md#collections. A late-payment surcharge is charged on a new invoice for
# charges more than LATE_FEE_GRACE_DAYS past due (at the new invoice's tariff late_fee_rate a month).
LATE_FEE_GRACE_DAYS = env.int("LATE_FEE_GRACE_DAYS", default=0)
# Payment reminders: before the due date (due within N days), after it (N days overdue), final notice.
REMINDER_BEFORE_DUE_DAYS = env.int("REMINDER_BEFORE_DUE_DAYS", default=3)
REMINDER_AFTER_DUE_DAYS = env.int("REMINDER_AFTER_DUE_DAYS", default=1)
REMINDER_FINAL_NOTICE_DAYS = env.int("REMINDER_FINAL_NOTICE_DAYS", default=30)
REMINDER_STATEMENT_MONTHS = env.int("REMINDER_STATEMENT_MONTHS", default=6)
# Accounts with a charge open this many days past due are listed for a disconnection notice; the
# letter gives the customer DISCONNECTION_NOTICE_PERIOD_DAYS to pay (nothing is switched off here).
DISCONNECTION_NOTICE_DAYS = env.int("DISCONNECTION_NOTICE_DAYS", default=60)
DISCONNECTION_NOTICE_PERIOD_DAYS = env.int("DISCONNECTION_NOTICE_PERIOD_DAYS", default=15)
if not (
    min(LATE_FEE_GRACE_DAYS, REMINDER_BEFORE_DUE_DAYS, DISCONNECTION_NOTICE_PERIOD_DAYS) >= 0
    and 1 <= REMINDER_AFTER_DUE_DAYS < REMINDER_FINAL_NOTICE_DAYS
    and REMINDER_STATEMENT_MONTHS >= 1
    and DISCONNECTION_NOTICE_DAYS >= 1
):
    raise ImproperlyConfigured(
        "Collections settings: the day counts cannot be negative, and "
        "1 <= REMINDER_AFTER_DUE_DAYS < REMINDER_FINAL_NOTICE_DAYS, REMINDER_STATEMENT_MONTHS >= 1, "
        "DISCONNECTION_NOTICE_DAYS >= 1."
    )
_prefix_problems = TopicPrefixes(
    tasmota=MQTT_TASMOTA_PREFIX, shelly=MQTT_SHELLY_PREFIX, dsmr=MQTT_DSMR_PREFIX
).problems()
if _prefix_problems:
    raise ImproperlyConfigured("MQTT topic prefixes: " + "; ".join(_prefix_problems) + ".")
# django-q2 reads cron schedules in this zone: "00:05 on the 1st" is billing-local time.
Q_CLUSTER["time_zone"] = BILLING_TIME_ZONE
# Bank statement uploads (docs/billing.md#bank-statement-import): larger files are refused whole.
BANK_IMPORT_MAX_ROWS = env.int("BANK_IMPORT_MAX_ROWS", default=50_000)
BANK_IMPORT_MAX_BYTES = env.int("BANK_IMPORT_MAX_BYTES", default=10_000_000)
UTILITY_NAME = env.str("UTILITY_NAME", default="Smartmeter Power Distribution Ltd.")
UTILITY_ADDRESS = env.str("UTILITY_ADDRESS", default="1 Grid Road, Bengaluru 560001")
UTILITY_EMAIL = env.str("UTILITY_EMAIL", default="billing@smartmeter.example")
UTILITY_GSTIN = env.str("UTILITY_GSTIN", default="")
# How customers pay (docs/billing.md#paying-by-upi, #how-customers-pay); each is shown only when set.
# The UPI address is printed with a QR code on every bill with something to pay and on the "How to pay"
# page. A development run (DEBUG) uses a demo address; production none until one is set.
UTILITY_UPI_VPA = env.str("UTILITY_UPI_VPA", default="smartmeter@upi" if DEBUG else "")
UTILITY_BANK_ACCOUNT = env.str("UTILITY_BANK_ACCOUNT", default="")  # account number for bank transfers
UTILITY_BANK_IFSC = env.str("UTILITY_BANK_IFSC", default="")

# --- Email ------------------------------------------------------------------

EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
# formataddr quotes the display name: "Ltd." unquoted is an invalid address to SMTP servers.
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=formataddr((UTILITY_NAME, UTILITY_EMAIL)))
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Operations -------------------------------------------------------------

METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Addresses (or CIDR networks) that may read /metrics without the token; direct connections only.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
# Every process (web, consumer, worker) writes its metrics here; /metrics sums them.
# Must be set before prometheus_client is imported, hence here. Empty = single process.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "prometheus"))
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
else:  # prometheus_client treats a set-but-empty variable as "files in the current directory"
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
# /health: the consumer's heartbeat must be younger than this; probes of other stores time out after.
HEALTH_CONSUMER_MAX_AGE = env.int("HEALTH_CONSUMER_MAX_AGE", default=90)
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=3.0)
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "ops.logging.RequestIdFilter"},
        "redact_secrets": {"()": "ops.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "plain": {"()": "ops.logging.PlainFormatter"},
        "json": {
            "()": "ops.logging.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger", "asctime": "time"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One access line per request comes from ops.middleware; daphne's own is redundant.
        "django.server": {"level": "WARNING"},
        "smartmeter.audit": {"level": "INFO"},
    },
}

# --- Security (production) --------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Every page: scripts, styles, images and sockets from this site only; no inline script or style,
# no plugins, no framing (docs/deployment.md#content-security-policy).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health$"]  # load-balancer probes speak plain HTTP
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
