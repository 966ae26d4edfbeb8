"""The demo's back-filled history (``insights.demo_history``) feeds the historical dashboard."""

from __future__ import annotations

import pytest

from conversations.services.demo import demo_data_load
from insights.demo_history import demo_history_load

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("clock", ["2026-11-26T02:26:00+00:00", "2026-11-26T21:30:00+00:00"])
def test_history_backfill_feeds_the_dashboard_once(clock, monkeypatch):
    """Five days back-filled are five days on the dashboard, early in the morning as at night."""
    import datetime as dt

    from django.utils import timezone

    from insights.dashboard import DashboardFilters, dashboard_build
    from tests.conversations.factories import AdminFactory

    fixed = dt.datetime.fromisoformat(clock)
    monkeypatch.setattr(timezone, "now", lambda: fixed)
    demo_data_load()
    created = demo_history_load(days=5)
    assert created >= 5 * 6
    assert demo_history_load(days=5) == 0  # idempotent
    board = dashboard_build(AdminFactory(), DashboardFilters.default())
    assert board.conversation_count == created
    assert len(board.over_time) == 5
    assert board.start_end[0].conversations == created
