"""Everything the insights app sends to the channel layer. Called only from services,
inside ``transaction.on_commit`` so nobody hears of a change that was rolled back."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from sentiment_admin import realtime

logger = logging.getLogger(__name__)


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


def _group_send_many(groups, payload: dict) -> None:
    seen: set[str] = set()
    for group in groups:
        if group not in seen:
            seen.add(group)
            try:
                _group_send(group, payload)
            except Exception:  # the layer being full must not break the scoring pipeline
                logger.exception("could not send %s to %s", payload.get("type"), group)


def broadcast_alert(*, payload: dict, staff_ids) -> None:
    """``alert.raised`` / ``alert.recovered``: to the staff it concerns and to monitors."""
    groups = [realtime.staff_group(s) for s in staff_ids]
    groups.append(realtime.conversation_group(payload["conversation"]))
    _group_send_many(groups, payload)


def broadcast_notification_created(*, payloads_by_staff: dict) -> None:
    """``notification.created``: one per recipient row, to that supervisor's sockets only."""
    for staff_id, payload in payloads_by_staff.items():
        _group_send_many([realtime.staff_group(staff_id)], payload)


def broadcast_notification_acknowledged(*, payload: dict, staff_ids) -> None:
    _group_send_many([realtime.staff_group(s) for s in staff_ids], payload)
