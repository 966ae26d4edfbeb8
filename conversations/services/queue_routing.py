"""Queue routing: which representative gets a waiting conversation, and when.

A conversation *waits* while it is ongoing and no representative has it. It is offered to the
next eligible representative of its queue:

- when it starts (``conversation_create``: the chat page, the REST API and demo traffic alike);
- when a representative of its queue becomes Available (``presence_set``);
- when a representative frees capacity (a conversation of theirs closes or moves away);
- when it is transferred to a queue without a representative.

Eligible: a representative of the queue (the role; supervisors are assigned by hand only), who
is Available and holds fewer ongoing conversations than their ``capacity``. Fair: fewest ongoing
conversations first, then the longest idle (since their last assignment or since they became
Available, whichever is later), then the lowest id (``representative_rank``, a pure function).
Waiting conversations are served oldest first.

"Take next" (``conversation_take_next``) lets a representative take the oldest waiting
conversation of their queues, whatever their presence and capacity: they asked for it.

Every hand-over moves the right screens (``conversation_changes_announce``): the new
representative gets ``conversation.assigned``, a representative who lost it
``conversation.removed``, monitors re-check their access (``conversation.access_changed``), the
queues' supervisors ``conversation.updated``, and the customers of the queues concerned
``chat.updated`` (waiting with their place in the queue, with an agent, or ended). The alert
state follows the conversation (``insights.services.alerts.alerts_handover``), and the
notifications of a conversation that closed or left a queue are resolved
(``notifications_resolve``).

Locking (PostgreSQL): the conversation row is locked before it changes hands; a
representative's row is locked while their capacity is filled, and skipped (``skip_locked``)
when another transaction is filling it already, so two routings never wait for each other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from conversations import events, frames
from conversations.models import Conversation, ConversationStatus, Presence, Role, StaffMember
from conversations.selectors import (
    queue_positions,
    representative_load,
    routing_candidates,
    waiting_conversations,
)
from insights import for_conversations
from sentiment_admin import realtime

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------- the rule (pure)


@dataclass(frozen=True)
class Candidate:
    staff_id: int
    load: int
    capacity: int
    idle_since: dt.datetime | None  # None: never assigned nor made Available (idle the longest)


def representative_rank(candidates: Iterable[Candidate]) -> list[int]:
    """Staff ids of the candidates with free capacity (``load < capacity``), the one to offer
    the next conversation to first: fewest ongoing conversations, then idle the longest, then
    the lowest id."""
    free = [c for c in candidates if c.load < c.capacity]
    free.sort(key=lambda c: (c.load, c.idle_since or _NEVER, c.staff_id))
    return [c.staff_id for c in free]


def idle_since(staff: StaffMember) -> dt.datetime | None:
    """Since when the representative waits for work: their last assignment, or when they
    became Available if that is later."""
    moments = [m for m in (staff.last_routed_at, staff.presence_changed_at) if m is not None]
    return max(moments) if moments else None


# --------------------------------------------------------------------------- hand-over


def conversation_for_update(conversation: Conversation | int) -> Conversation:
    pk = conversation if isinstance(conversation, int) else conversation.pk
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("queue", "customer", "representative__user")
        .get(pk=pk)
    )


def conversation_reloaded(pk: int) -> Conversation:
    return Conversation.objects.select_related("queue", "customer", "representative__user").get(pk=pk)


def conversation_changes_announce(conv: Conversation, *, old_rep_id: int | None, old_queue_id: int) -> None:
    """After commit, tell everyone whose screen the change moves (see the module docstring).
    Payloads are built now, inside the transaction."""
    payload = frames.conversation_payload(conv)
    new_rep_id = conv.representative_id
    queue_id = conv.queue_id
    pk = conv.pk
    customer_payloads = {pk: frames.chat_payload(conv, position=None)}
    for affected_queue in {old_queue_id, queue_id}:
        positions = queue_positions(affected_queue)
        waiting = {
            c.pk: c for c in waiting_conversations([affected_queue]).select_related("representative__user")
        }
        for waiting_pk, place in positions.items():
            customer_payloads[waiting_pk] = frames.chat_payload(waiting[waiting_pk], position=place)

    def after_commit() -> None:
        if old_rep_id != new_rep_id or old_queue_id != queue_id:
            events.broadcast_conversation_access_changed(conversation_id=pk)
        removed_groups = []
        if old_rep_id and old_rep_id != new_rep_id:
            removed_groups.append(realtime.staff_group(old_rep_id))
        if old_queue_id != queue_id:
            removed_groups.append(realtime.queue_group(old_queue_id))
        if removed_groups:
            events.broadcast_conversation_removed(conversation_id=pk, groups=removed_groups)
        if (new_rep_id and new_rep_id != old_rep_id) or old_queue_id != queue_id:
            events.broadcast_conversation_assigned(
                conversation_id=pk, queue_id=queue_id, representative_id=new_rep_id
            )
        events.broadcast_conversation_updated(payload=payload)
        events.broadcast_chat_updated(customer_payloads.values())

    transaction.on_commit(after_commit)
    for_conversations.alerts_handover(
        conversation=conv,
        representative_changed=new_rep_id != old_rep_id,
        queue_changed=queue_id != old_queue_id,
    )
    if conv.status == ConversationStatus.CLOSED:
        for_conversations.notifications_resolve(conversation=conv, reason=for_conversations.RESOLVED_CLOSED)
    elif queue_id != old_queue_id:
        for_conversations.notifications_resolve(
            conversation=conv, reason=for_conversations.RESOLVED_MOVED, queue_id=old_queue_id
        )


def conversation_hand_over(conv: Conversation, *, representative: StaffMember) -> Conversation:
    """Give a locked conversation to a representative (it becomes Active) and announce it.
    The caller holds the transaction and has checked who may have it."""
    old_rep_id, old_queue_id = conv.representative_id, conv.queue_id
    now = timezone.now()
    conv.representative = representative
    conv.status = ConversationStatus.ACTIVE
    conv.accepted_at = conv.accepted_at or now
    conv.save(update_fields=["representative", "status", "accepted_at"])
    StaffMember.objects.filter(pk=representative.pk).update(last_routed_at=now)
    conv = conversation_reloaded(conv.pk)
    conversation_changes_announce(conv, old_rep_id=old_rep_id, old_queue_id=old_queue_id)
    return conv


def _is_waiting(conv: Conversation) -> bool:
    return conv.representative_id is None and conv.status != ConversationStatus.CLOSED


# --------------------------------------------------------------------------- routing


@transaction.atomic
def conversation_route(*, conversation: Conversation | int) -> StaffMember | None:
    """Offer a waiting conversation to the next eligible representative of its queue.
    Returns who got it, or None (it keeps waiting)."""
    conv = conversation_for_update(conversation)
    if not _is_waiting(conv):
        return None
    ranked = representative_rank(
        Candidate(staff_id=rep.pk, load=rep.load, capacity=rep.capacity, idle_since=idle_since(rep))
        for rep in routing_candidates(conv.queue_id)
    )
    for staff_id in ranked:
        # Another transaction filling this representative's capacity holds their row: skip.
        rep = StaffMember.objects.select_for_update(skip_locked=True).filter(pk=staff_id).first()
        if rep is None or rep.presence != Presence.AVAILABLE or representative_load(staff_id) >= rep.capacity:
            continue
        conversation_hand_over(conv, representative=rep)
        return rep
    return None


@transaction.atomic
def representative_fill(*, staff: StaffMember | int) -> list[int]:
    """An Available representative gets the oldest waiting conversations of their queues, up
    to their capacity. Returns the ids of the conversations they got."""
    staff_id = staff if isinstance(staff, int) else staff.pk
    rep = StaffMember.objects.select_for_update().filter(pk=staff_id).first()
    if rep is None or rep.role != Role.REPRESENTATIVE or rep.presence != Presence.AVAILABLE:
        return []
    free = rep.capacity - representative_load(staff_id)
    if free <= 0:
        return []
    queue_ids = list(rep.queues.values_list("pk", flat=True))
    # Fair to the others too: a conversation only waits while nobody else eligible has room
    # (conversation_route gave it away otherwise), so whoever frees capacity is first in line.
    got: list[int] = []
    waiting = list(waiting_conversations(queue_ids).values_list("pk", flat=True)[: free * 4 + 10])
    for pk in waiting:
        if len(got) >= free:
            break
        conv = (
            Conversation.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("queue", "customer", "representative__user")
            .filter(pk=pk)
            .first()
        )
        if conv is None or not _is_waiting(conv):
            continue
        conversation_hand_over(conv, representative=rep)
        got.append(pk)
    return got


@transaction.atomic
def conversation_take_next(*, staff: StaffMember) -> Conversation | None:
    """ "Take next": the oldest waiting conversation of the representative's queues is theirs,
    whatever their presence and capacity. None when nothing waits."""
    queue_ids = list(staff.queues.values_list("pk", flat=True))
    for pk in waiting_conversations(queue_ids).values_list("pk", flat=True)[:20]:
        conv = (
            Conversation.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("queue", "customer", "representative__user")
            .filter(pk=pk)
            .first()
        )
        if conv is None or not _is_waiting(conv):
            continue
        return conversation_hand_over(conv, representative=staff)
    return None


def capacity_freed(*, staff_id: int | None) -> None:
    """A representative's conversation closed or moved away: fill their capacity again."""
    if staff_id:
        representative_fill(staff=staff_id)


def queue_route(*, queue_id: int) -> int:
    """Offer every waiting conversation of a queue, oldest first, until nobody can take one.
    Returns how many were assigned."""
    assigned = 0
    for pk in list(waiting_conversations([queue_id]).values_list("pk", flat=True)):
        if conversation_route(conversation=pk) is None:
            break
        assigned += 1
    return assigned
