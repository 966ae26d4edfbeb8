"""Everything the conversations app sends to the channel layer.

Services call these ``broadcast_*`` functions inside ``transaction.on_commit`` (never
directly), so nobody hears of a change that was rolled back. Payloads are built by
``conversations.frames`` (the services' while the transaction is still open, passed in as plain
dicts), so sending does no database work. Group names and event types come from
``sentiment_admin.realtime``; the payload fields are the contract in ``docs/events.md``.

Sending goes through ``sentiment_admin.broadcast``: ``message.created`` is scheduled on the
event loop without waiting (``group_send_soon``), in order per conversation
(``realtime.conversation_order``); the rarer events wait for their sends.
"""

from __future__ import annotations

from collections.abc import Iterable

from conversations import frames
from sentiment_admin import realtime
from sentiment_admin.broadcast import group_send_many, group_send_soon

# --- broadcasts (called inside transaction.on_commit) ---------------------------------------


def broadcast_message_created(
    *, payload: dict, customer_payload: dict | None, representative_id: int | None
) -> None:
    """A stored message: to its staff audience, and to the customer for replies. Scheduled,
    not waited for; a screen that misses it catches up by sequence number."""
    order = realtime.conversation_order(payload["conversation"])
    group_send_soon(
        realtime.conversation_audience(
            conversation_id=payload["conversation"],
            queue_id=payload["queue"],
            representative_id=representative_id,
        ),
        payload,
        order_key=order,
    )
    if customer_payload is not None:
        group_send_soon([realtime.customer_group(payload["conversation"])], customer_payload, order_key=order)


def broadcast_conversation_updated(*, payload: dict, extra_groups: Iterable[str] = ()) -> None:
    groups = realtime.conversation_audience(
        conversation_id=payload["conversation"],
        queue_id=payload["queue"],
        representative_id=payload["representative"],
    )
    group_send_many([*groups, *extra_groups], payload)


def broadcast_conversation_assigned(
    *, conversation_id: int, queue_id: int, representative_id: int | None
) -> None:
    """To the new representative (all their sessions) and to the queue's supervisors."""
    payload = frames.assigned_payload(
        conversation_id=conversation_id, queue_id=queue_id, representative_id=representative_id
    )
    groups = realtime.conversation_audience(
        conversation_id=conversation_id, queue_id=queue_id, representative_id=representative_id
    )
    group_send_many(groups, payload)


def broadcast_conversation_removed(*, conversation_id: int, groups: Iterable[str]) -> None:
    """To a representative who lost the conversation (or a queue it left)."""
    group_send_many(groups, frames.removed_frame(conversation_id))


def broadcast_conversation_access_changed(*, conversation_id: int) -> None:
    """Server-internal: monitor sockets of the conversation check they may still see it.
    Sent before the hand-over's other events, so a socket that may not hears none of them."""
    group_send_many(
        [realtime.conversation_group(conversation_id)],
        frames.conversation_access_event(conversation_id),
    )


def broadcast_presence_changed(*, staff_id: int, presence: str, label: str, name: str) -> None:
    payload = frames.presence_payload(staff_id=staff_id, presence=presence, label=label, name=name)
    group_send_many([realtime.staff_group(staff_id), realtime.PRESENCE_GROUP], payload)


def broadcast_staff_access_changed(*, staff_ids: Iterable[int], signed_out_session: str = "") -> None:
    """To every socket of these staff members: re-check access now. ``signed_out_session`` is
    the digest (``session_digest``) of a session that was just signed out."""
    payload = frames.staff_access_event(signed_out_session=signed_out_session)
    group_send_many([realtime.staff_access_group(staff_id) for staff_id in staff_ids], payload)


def broadcast_chat_updated(payloads: Iterable[dict]) -> None:
    """To each customer's chat sockets: their conversation's ``chat.updated``."""
    for payload in payloads:
        group_send_many([realtime.customer_group(payload["conversation"])], payload)
