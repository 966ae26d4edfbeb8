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
