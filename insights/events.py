"""Everything the insights app sends to the channel layer. Called only from services,
inside ``transaction.on_commit`` so nobody hears of a change that was rolled back."""

from __future__ import annotations

from sentiment_admin import realtime
from sentiment_admin.broadcast import group_send_many


def broadcast_settings_changed(obj) -> None:
    group_send_many(
        [realtime.INSIGHTS_GROUP],
        {
            "type": realtime.SETTINGS_CHANGED,
            "monitoring_enabled": obj.monitoring_enabled,
            "representative_threshold": obj.representative_threshold,
            "supervisor_threshold": obj.supervisor_threshold,
        },
    )


def broadcast_alert(*, payload: dict, staff_ids) -> None:
    """``alert.raised`` / ``alert.recovered``: to the staff it concerns, to monitors and to the
    integrations' event streams."""
    groups = [realtime.staff_group(s) for s in staff_ids]
    groups.append(realtime.conversation_group(payload["conversation"]))
    groups.append(realtime.INTEGRATIONS_GROUP)
    group_send_many(groups, payload)


def broadcast_notification_created(*, payloads_by_staff: dict) -> None:
    """``notification.created``: one per recipient row, to that supervisor's sockets only."""
    for staff_id, payload in payloads_by_staff.items():
        group_send_many([realtime.staff_group(staff_id)], payload)


def broadcast_notification_acknowledged(*, payload: dict, staff_ids) -> None:
    group_send_many([realtime.staff_group(s) for s in staff_ids], payload)
