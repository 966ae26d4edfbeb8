"""Everything the insights app sends to the channel layer. Called only from services,
inside ``transaction.on_commit`` so nobody hears of a change that was rolled back."""

from __future__ import annotations

from collections.abc import Callable

from insights import frames
from sentiment_admin import realtime
from sentiment_admin.broadcast import group_send_many, group_send_soon


def broadcast_settings_changed(obj) -> None:
    group_send_many([realtime.INSIGHTS_GROUP], frames.settings_changed_payload(obj))


def _scored_groups(payload: dict, representative_id: int | None) -> list[str]:
    return [
        *realtime.conversation_audience(
            conversation_id=payload["conversation"],
            queue_id=payload["queue"],
            representative_id=representative_id,
        ),
        realtime.INTEGRATIONS_GROUP,
    ]


def broadcast_conversation_scored(*, payload: dict, representative_id: int | None) -> bool:
    """To the staff audience and the integrations' event streams. True when every group got
    it; the scoring outbox keeps it until then."""
    return group_send_many(_scored_groups(payload, representative_id), payload)


def broadcast_conversation_scored_soon(
    *, payload: dict, representative_id: int | None, on_delivered: Callable[[], None]
) -> None:
    """Like ``broadcast_conversation_scored``, scheduled in the conversation's order without
    waiting; ``on_delivered`` runs once every group got it (the outbox clears it then)."""
    group_send_soon(
        _scored_groups(payload, representative_id),
        payload,
        order_key=realtime.conversation_order(payload["conversation"]),
        on_delivered=on_delivered,
    )


def broadcast_alert(*, payload: dict, staff_ids) -> None:
    """``alert.raised`` / ``alert.recovered``: to the staff it concerns, to monitors and to the
    integrations' event streams. Scheduled in the conversation's order, not waited for (the
    alert's own outboxes carry it to integrations and sinks)."""
    groups = [realtime.staff_group(s) for s in staff_ids]
    groups.append(realtime.conversation_group(payload["conversation"]))
    groups.append(realtime.INTEGRATIONS_GROUP)
    group_send_soon(groups, payload, order_key=realtime.conversation_order(payload["conversation"]))


def broadcast_notification_created(*, payloads_by_staff: dict, conversation_id: int) -> None:
    """``notification.created``: one per recipient row, to that supervisor's sockets only;
    scheduled after the alert's own frame."""
    for staff_id, payload in payloads_by_staff.items():
        group_send_soon(
            [realtime.staff_group(staff_id)], payload, order_key=realtime.conversation_order(conversation_id)
        )


def broadcast_notification_acknowledged(*, payload: dict, staff_ids) -> None:
    group_send_many([realtime.staff_group(s) for s in staff_ids], payload)
