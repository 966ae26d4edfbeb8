"""Settings for the test suite: the same database/channel-layer switches as production
(DATABASE_URL, REDIS_URL), fast hashing, no demo traffic."""

import copy

from .base import *  # noqa: F401,F403

DEBUG = False
DEMO_TRAFFIC = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PRESENCE_OFFLINE_GRACE_SECONDS = 0.2
# The webhook tests run their receivers on 127.0.0.1; the refusal itself is tested with it off.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
# Throttle counters live in this process (tests/conftest.py empties them before every test).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The browser tests' server starts many chats from 127.0.0.1; the throttle's own tests set it.
CHAT_STARTS_PER_ADDRESS = 1000

# WhiteNoise serves from the finders here; the folder only has to exist.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405

# The test database is dropped at the end of the run, which PostgreSQL refuses while a
# connection kept open by asgiref's thread in the test process still uses it: connections
# close after each use here, without the pool. The processes that the live tests start keep
# production's database settings (tests/fault_settings.py); the pool's and the persistent
# connections' own behaviour is tested in tests/sentiment_admin/test_database_connections.py.
PRODUCTION_DATABASE = copy.deepcopy(DATABASES["default"])  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
