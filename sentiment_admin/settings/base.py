"""Settings shared by every environment. Infrastructure comes from the environment;
policy (thresholds, toggles) lives in the database and is edited on the Insights page."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from sentiment_admin import realtime
from sentiment_admin.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    redis_pubsub_prefix,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "embedded-mode-insecure-key-do-not-use-in-production")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "conversations",
    "insights",
    "insights.chatwoot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "sentiment_admin.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "sentiment_admin.middleware.InvalidInputMiddleware",
    "sentiment_admin.middleware.LoginThrottleMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sentiment_admin.urls"
ASGI_APPLICATION = "sentiment_admin.asgi.application"

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
                "conversations.context_processors.staff",
            ],
        },
    },
]

# --- Database: SQLite embedded by default, DATABASE_URL for PostgreSQL -----------------
VAR_DIR = Path(env_str("SENTIMENT_VAR_DIR", str(BASE_DIR / "var")))
DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
# Persistent connections: every database_sync_to_async call closes a connection older than
# CONN_MAX_AGE, and at 0 each customer message paid a new PostgreSQL backend (fork, auth,
# set_config) and a scoring worker one per step, which held the center at ~47 msg/s on 2 cores
# (docs/benchmarks.md). Health checks replace a connection that the server dropped. A request
# served by Daphne closes its own at its end (sentiment_admin/connections.py).
# DB_POOL=1: Django's psycopg 3 pool per process instead, at most DB_POOL_MAX_SIZE connections
# (then CONN_MAX_AGE is 0). Off by default: a pool checkout per database_sync_to_async call
# cost the web processes 8-20% more CPU per message (and up to 7% of the throughput) at 30 msg/s on
# 2 cores (docs/benchmarks.md, "Connection pool and per-request connections").
DB_POOL_MIN_SIZE = env_int("DB_POOL_MIN_SIZE", 2)
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
# Seconds a request waits for a free connection before it fails (psycopg_pool.PoolTimeout).
DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 10.0)
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 300)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_health_checks=True)}
DB_POOL = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DB_POOL", False)
if DB_POOL:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections (Django requires 0)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": DB_POOL_MIN_SIZE,
        "max_size": max(DB_POOL_MIN_SIZE, DB_POOL_MAX_SIZE),
        "timeout": DB_POOL_TIMEOUT,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = DB_CONN_MAX_AGE
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Websocket consumers and the scoring thread write concurrently: WAL plus a busy
    # timeout keeps SQLite from failing with "database is locked" under the demo load.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layers: in-memory embedded by default, REDIS_URL for channels_redis -------
# Two aliases (sentiment_admin.realtime names them): "default" carries the scoring workers' channel,
# "screens" the sockets' fan-out. SCREENS_LAYER=pubsub (default) puts the fan-out on Redis
# pub/sub; "list" keeps it on the list layer, as every process of a deployment must agree.
REDIS_URL = env_str("REDIS_URL")
CHANNELS_PREFIX = env_str("CHANNELS_PREFIX", "sentiment")
CHANNELS_CAPACITY = env_int("CHANNELS_CAPACITY", 1000)
SCREENS_LAYER = env_choice("SCREENS_LAYER", "pubsub", ("pubsub", "list"))
if REDIS_URL:
    _list_layer = {
        # channels_redis that reports a send dropped by a full channel (sentiment_admin.layers).
        "BACKEND": "sentiment_admin.layers.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": CHANNELS_PREFIX,
            "capacity": CHANNELS_CAPACITY,
            "expiry": 60,
        },
    }
    _pubsub_layer = {
        # channels_redis pub/sub that tells sockets which may have missed frames to catch up.
        "BACKEND": "sentiment_admin.layers.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": redis_pubsub_prefix(CHANNELS_PREFIX, REDIS_URL),
            "capacity": CHANNELS_CAPACITY,
        },
    }
    CHANNEL_LAYERS = {
        realtime.WORKERS_LAYER: _list_layer,
        realtime.SCREENS_LAYER: _pubsub_layer if SCREENS_LAYER == "pubsub" else _list_layer,
    }
else:
    # Channels' in-memory layer that reports a send dropped by a full channel (sentiment_admin.layers).
    CHANNEL_LAYERS = {
        realtime.WORKERS_LAYER: {"BACKEND": "sentiment_admin.layers.InMemoryChannelLayer"},
        realtime.SCREENS_LAYER: {"BACKEND": "sentiment_admin.layers.InMemoryChannelLayer"},
    }

# --- Auth -----------------------------------------------------------------------------
# --- Cache (throttle counters): Redis with REDIS_URL so every process shares them -------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CHANNELS_PREFIX + "-cache",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Throttles (README, "Security") -------------------------------------------------------
# Failed sign-ins (the center's login and Django admin's) per username and per client address.
LOGIN_FAILURES_PER_USERNAME = env_int("LOGIN_FAILURES_PER_USERNAME", 5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900)
# Anonymous chats started from the chat page per client address.
CHAT_STARTS_PER_ADDRESS = env_int("CHAT_STARTS_PER_ADDRESS", 10)
CHAT_START_WINDOW_SECONDS = env_int("CHAT_START_WINDOW_SECONDS", 3600)
# Frames per socket and minute.
SOCKET_CATCH_UPS_PER_MINUTE = env_int("SOCKET_CATCH_UPS_PER_MINUTE", 120)
SOCKET_PINGS_PER_MINUTE = env_int("SOCKET_PINGS_PER_MINUTE", 30)

# Websocket Origins allowed instead of the socket's own origin (sentiment_admin.origin); set it
# when a proxy changes the scheme, host or port, e.g. "https://center.example.com".
WEBSOCKET_ALLOWED_ORIGINS = env_list("WEBSOCKET_ALLOWED_ORIGINS", [])

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Sentiment engine ------------------------------------------------------------------
SENTIMENT_MODEL = env_str("SENTIMENT_MODEL", "bundled")
SENTIMENT_MODEL_DIR = env_str(
    "SENTIMENT_MODEL_DIR", str(Path.home() / ".cache" / "sentiment-center" / "models")
)
# "int8": calibrated int8 linears (a message scores the same alone or in any batch); "fp32": exact.
SENTIMENT_PRECISION = env_str("SENTIMENT_PRECISION", "int8")
SENTIMENT_MAX_BATCH = env_int("SENTIMENT_MAX_BATCH", 32)
SENTIMENT_MAX_BATCH_TOKENS = env_int("SENTIMENT_MAX_BATCH_TOKENS", 1024)
SENTIMENT_BATCH_WINDOW_MS = env_int("SENTIMENT_BATCH_WINDOW_MS", 20)
# One: two torch threads on cores other processes use spin while they wait for each other (on
# 2 cores the embedded center fell from 40 msg/s to 8 with two); raise it where a scoring
# process has cores of its own (docs/benchmarks.md).
SENTIMENT_TORCH_THREADS = env_int("SENTIMENT_TORCH_THREADS", 1)
# "inprocess": a scoring thread inside each Daphne process (embedded default).
# "worker": messages go to the Channels "sentiment-scoring" channel, served by
# `manage.py runworker sentiment-scoring` processes (needs the Redis channel layer).
SENTIMENT_SCORING_MODE = env_str("SENTIMENT_SCORING_MODE", "worker" if REDIS_URL else "inprocess")
# How long a process that claimed pending messages scores them alone: longer than a batch
# takes, short enough that a crashed claimer's messages are soon taken over by another.
SENTIMENT_SCORING_LEASE_SECONDS = env_float("SENTIMENT_SCORING_LEASE_SECONDS", 30.0)

# --- Conversation limits ---------------------------------------------------------------
MESSAGE_MAX_CHARS = env_int("MESSAGE_MAX_CHARS", 4000)
CUSTOMER_RATE_LIMIT_PER_MINUTE = env_int("CUSTOMER_RATE_LIMIT_PER_MINUTE", 30)
PRESENCE_OFFLINE_GRACE_SECONDS = env_float("PRESENCE_OFFLINE_GRACE_SECONDS", 10.0)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
# Webhooks POST only to public addresses unless this is set (a receiver on a private network).
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)
# A webhook event is tried up to this many times, the n-th retry after
# WEBHOOK_RETRY_BASE_SECONDS * 4^(n-1) seconds (at most 15 minutes): 1 s, 4 s, 16 s, 64 s, ...
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 1.0)

# --- Outbox sender (webhook events, calls to Chatwoot; insights.sender) -----------------------
# At most this many deliveries in flight per process; a claimed row is leased to its sender
# for OUTBOX_LEASE_SECONDS (longer than any send takes), and due rows (retries, and rows a
# stopped process left leased) are looked for at least every OUTBOX_SWEEP_SECONDS.
OUTBOX_SENDER_CONCURRENCY = env_int("OUTBOX_SENDER_CONCURRENCY", 4)
OUTBOX_LEASE_SECONDS = env_float("OUTBOX_LEASE_SECONDS", 120.0)
OUTBOX_SWEEP_SECONDS = env_float("OUTBOX_SWEEP_SECONDS", 10.0)

# --- Demo traffic ------------------------------------------------------------------------
DEMO_TRAFFIC = env_bool("DEMO_TRAFFIC", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
