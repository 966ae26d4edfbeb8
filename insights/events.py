"""Everything the insights app sends to the channel layer. Called only from services,
inside ``transaction.on_commit`` so nobody hears of a change that was rolled back."""

from __future__ import annotations

from insights import frames
from sentiment_admin import realtime
from sentiment_admin.broadcast import group_send_many


def broadcast_settings_changed(obj) -> None:
    group_send_many([realtime.INSIGHTS_GROUP], frames.settings_changed_payload(obj))


def broadcast_conversation_scored(*, payload: dict, representative_id: int | None) -> bool:
    """To the staff audience and the integrations' event streams. True when every group got
    it; the scoring outbox keeps it until then."""
    return group_send_many(
        [
            *realtime.conversation_audience(
                conversation_id=payload["conversation"],
                queue_id=payload["queue"],
                representative_id=representative_id,
            ),
            realtime.INTEGRATIONS_GROUP,
        ],
        payload,
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
