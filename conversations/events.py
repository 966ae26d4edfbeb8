"""Everything the conversations app sends to the channel layer.

Services call these ``broadcast_*`` functions inside ``transaction.on_commit`` (never
directly), so nobody hears of a change that was rolled back. Payloads are built by
``conversations.frames`` while the transaction is still open and passed in as plain dicts, so
sending does no database work. Group names and event types come from
``sentiment_admin.realtime``; the payload fields are the contract in ``docs/events.md``.

Sending goes through ``sentiment_admin.broadcast.group_send_many``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sentiment_admin import realtime
from sentiment_admin.broadcast import group_send_many


def conversation_audience(*, conversation_id: int, queue_id: int, representative_id: int | None) -> list[str]:
    """Staff who follow a conversation: its representative, its queue's supervisors, monitors."""
    groups = [realtime.queue_group(queue_id), realtime.conversation_group(conversation_id)]
    if representative_id:
        groups.insert(0, realtime.staff_group(representative_id))
    return groups


# --- broadcasts (called inside transaction.on_commit) ---------------------------------------


def broadcast_message_created(
    *, payload: dict, customer_payload: dict | None, representative_id: int | None
) -> None:
    """A stored message: to its staff audience, and to the customer for replies."""
    group_send_many(
        conversation_audience(
            conversation_id=payload["conversation"],
            queue_id=payload["queue"],
            representative_id=representative_id,
        ),
        payload,
    )
    if customer_payload is not None:
        group_send_many([realtime.customer_group(payload["conversation"])], customer_payload)


def broadcast_conversation_updated(*, payload: dict, extra_groups: Iterable[str] = ()) -> None:
    groups = conversation_audience(
        conversation_id=payload["conversation"],
        queue_id=payload["queue"],
        representative_id=payload["representative"],
    )
    group_send_many([*groups, *extra_groups], payload)


def broadcast_conversation_assigned(
    *, conversation_id: int, queue_id: int, representative_id: int | None
) -> None:
    """To the new representative (all their sessions) and to the queue's supervisors."""
    payload = {
        "type": realtime.CONVERSATION_ASSIGNED,
        "conversation": conversation_id,
        "queue": queue_id,
        "representative": representative_id,
    }
    groups = [realtime.queue_group(queue_id), realtime.conversation_group(conversation_id)]
    if representative_id:
        groups.insert(0, realtime.staff_group(representative_id))
    group_send_many(groups, payload)


def broadcast_conversation_removed(*, conversation_id: int, groups: Iterable[str]) -> None:
    """To a representative who lost the conversation (or a queue it left)."""
    group_send_many(groups, {"type": realtime.CONVERSATION_REMOVED, "conversation": conversation_id})


def broadcast_conversation_access_changed(*, conversation_id: int) -> None:
    """Server-internal: monitor sockets of the conversation check they may still see it.
    Sent before the hand-over's other events, so a socket that may not hears none of them."""
    group_send_many(
        [realtime.conversation_group(conversation_id)],
        {"type": realtime.CONVERSATION_ACCESS_CHANGED, "conversation": conversation_id},
    )


def broadcast_presence_changed(*, staff_id: int, presence: str, label: str, name: str) -> None:
    payload = {
        "type": realtime.PRESENCE_CHANGED,
        "staff": staff_id,
        "presence": presence,
        "label": label,
        "name": name,
    }
    group_send_many([realtime.staff_group(staff_id), realtime.PRESENCE_GROUP], payload)


def broadcast_staff_access_changed(*, staff_ids: Iterable[int], signed_out_session: str = "") -> None:
    """To every socket of these staff members: re-check access now. ``signed_out_session`` is
    the digest (``session_digest``) of a session that was just signed out."""
    payload = {"type": realtime.STAFF_ACCESS_CHANGED, "signed_out_session": signed_out_session}
    group_send_many([realtime.staff_access_group(staff_id) for staff_id in staff_ids], payload)


def broadcast_chat_updated(payloads: Iterable[dict]) -> None:
    """To each customer's chat sockets: their conversation's ``chat.updated``."""
    for payload in payloads:
        group_send_many([realtime.customer_group(payload["conversation"])], payload)
