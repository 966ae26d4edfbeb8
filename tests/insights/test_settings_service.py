import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError

from insights.levels import RepresentativeThreshold, SupervisorThreshold
from insights.models import SentimentSettings, SettingsAuditEntry
from insights.selectors import effective_thresholds, sentiment_settings_get
from insights.services.settings import queue_override_set, sentiment_settings_update
from sentiment_admin import realtime
from tests.conversations.factories import AdminFactory, QueueFactory

pytestmark = pytest.mark.django_db


def test_defaults_follow_the_spec_monitoring_and_multilingual_on():
    settings_obj = sentiment_settings_get()
    assert settings_obj.monitoring_enabled is True
    assert settings_obj.multilingual_enabled is True
    assert settings_obj.representative_threshold == RepresentativeThreshold.SLIGHTLY_NEGATIVE
    assert settings_obj.supervisor_threshold == SupervisorThreshold.NEGATIVE
    assert SentimentSettings.objects.count() == 1


def test_update_audits_each_changed_field_with_old_and_new_values():
    admin = AdminFactory()
    sentiment_settings_update(
        actor=admin.user, monitoring_enabled=False, representative_threshold=-3, supervisor_threshold=-2
    )
    entries = {e.field: e for e in SettingsAuditEntry.objects.all()}
    # supervisor_threshold was already Negative: not a change, not audited.
    assert set(entries) == {
        "Monitor real-time customer sentiment",
        "Show alerts when a customer's sentiment decreases to or below",
    }
    toggle = entries["Monitor real-time customer sentiment"]
    assert (toggle.old_value, toggle.new_value, toggle.actor) == ("Yes", "No", admin.user)
    threshold = entries["Show alerts when a customer's sentiment decreases to or below"]
    assert (threshold.old_value, threshold.new_value) == ("Slightly negative", "Very negative")
    assert sentiment_settings_get().updated_by == admin.user


def test_saving_without_changes_writes_no_audit():
    admin = AdminFactory()
    sentiment_settings_update(actor=admin.user, representative_threshold=-1)
    assert SettingsAuditEntry.objects.count() == 0


@pytest.mark.parametrize("bad", [5, -4, 1, "x", None])
def test_out_of_range_threshold_is_rejected_and_nothing_changes(bad):
    admin = AdminFactory()
    with pytest.raises(ValidationError):
        sentiment_settings_update(actor=admin.user, representative_threshold=bad)
    assert sentiment_settings_get().representative_threshold == -1
    assert SettingsAuditEntry.objects.count() == 0


def test_unknown_setting_is_rejected():
    with pytest.raises(ValidationError):
        sentiment_settings_update(actor=AdminFactory().user, colour="blue")


def test_queue_without_override_inherits_the_organisation_default():
    queue = QueueFactory()
    eff = effective_thresholds(queue_id=queue.pk)
    assert (eff.representative, eff.supervisor) == (-1, -2)
    assert eff.representative_inherited and eff.supervisor_inherited


def test_queue_override_applies_per_threshold_and_follows_later_org_changes():
    admin = AdminFactory()
    queue = QueueFactory()
    queue_override_set(actor=admin.user, queue=queue, representative_threshold=-3, supervisor_threshold=None)
    sentiment_settings_update(actor=admin.user, supervisor_threshold=-1)
    eff = effective_thresholds(queue_id=queue.pk)
    assert eff.representative == -3 and not eff.representative_inherited
    assert eff.supervisor == -1 and eff.supervisor_inherited
    assert SettingsAuditEntry.objects.filter(scope=f"Queue: {queue.name}").count() == 1


def test_queue_override_can_turn_alerts_off_for_one_queue():
    admin = AdminFactory()
    queue, other = QueueFactory(), QueueFactory()
    queue_override_set(actor=admin.user, queue=queue, representative_threshold=0, supervisor_threshold=0)
    assert effective_thresholds(queue_id=queue.pk).representative == 0
    assert effective_thresholds(queue_id=other.pk).representative == -1


def test_settings_change_is_announced_on_the_channel_layer_only_after_commit(
    django_capture_on_commit_callbacks,
):
    layer = get_channel_layer(realtime.SCREENS_LAYER)
    admin = AdminFactory()  # created first: creating staff schedules its own access events
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sentiment_settings_update(actor=admin.user, representative_threshold=-2)
    assert len(callbacks) == 1  # nothing is sent inside the transaction

    async def announce_and_listen():
        # Listening and sending on one loop: Redis pub/sub only delivers to a subscription
        # that exists when the event is published.
        channel = await layer.new_channel()
        await layer.group_add(realtime.INSIGHTS_GROUP, channel)
        try:
            await sync_to_async(callbacks[0])()
            return await asyncio.wait_for(layer.receive(channel), timeout=5)
        finally:
            await layer.group_discard(realtime.INSIGHTS_GROUP, channel)

    event = async_to_sync(announce_and_listen)()
    assert event["type"] == realtime.SETTINGS_CHANGED
    assert event["representative_threshold"] == -2
