"""Everything the insights app sends to the channel layer. Called only from services,
inside ``transaction.on_commit`` so nobody hears of a change that was rolled back."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from sentiment_admin import realtime


def _group_send(group: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(group, payload)


def broadcast_settings_changed(obj) -> None:
    _group_send(
        realtime.INSIGHTS_GROUP,
        {
            "type": realtime.SETTINGS_CHANGED,
            "monitoring_enabled": obj.monitoring_enabled,
            "representative_threshold": obj.representative_threshold,
            "supervisor_threshold": obj.supervisor_threshold,
        },
    )
