"""Settings for the test suite: the same database/channel-layer switches as production
(DATABASE_URL, REDIS_URL), fast hashing, no demo traffic."""

from .base import *  # noqa: F401,F403

DEBUG = False
DEMO_TRAFFIC = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PRESENCE_OFFLINE_GRACE_SECONDS = 0.2

# WhiteNoise serves from the finders here; the folder only has to exist.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
