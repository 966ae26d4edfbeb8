"""The embedded default: SQLite, in-memory channel layer, in-process scoring. No setup needed."""

from sentiment_admin.env import env_bool

from .base import *  # noqa: F401,F403

DEBUG = env_bool("DJANGO_DEBUG", True)
DEMO_TRAFFIC = env_bool("DEMO_TRAFFIC", True)

# WhiteNoise serves from the finders here; the folder only has to exist.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
