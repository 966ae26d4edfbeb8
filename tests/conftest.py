from __future__ import annotations

import pytest

from tests.conversations.factories import PASSWORD


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def login(client):
    """Log a staff member's user into the Django test client."""

    def _login(staff):
        client.force_login(staff.user)
        return client

    return _login


@pytest.fixture(autouse=True)
def _empty_throttles():
    """Throttle counters live in the cache: every test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fresh_settings_copy():
    """The process's copy of the organisation's settings: a test's rolled-back rows must not
    outlive it."""
    from insights.selectors import sentiment_settings_cache_clear

    sentiment_settings_cache_clear()
    yield
    sentiment_settings_cache_clear()
