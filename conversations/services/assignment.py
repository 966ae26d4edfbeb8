"""Assign, transfer and close conversations. Each change moves the right screens:

- the new representative gets ``conversation.assigned`` (all their sessions);
- a representative who lost the conversation gets ``conversation.removed``;
- the queue's supervisors (old and new queue on a transfer) get ``conversation.updated``
  (the old queue also gets ``conversation.removed``);
- monitor sockets of the conversation re-check, before any later event, that their staff
  member may still see it (``conversation.access_changed``); those who may not are closed;
- the alert state follows the conversation (``insights.services.alerts.alerts_handover``):
  below the threshold, its new representative is alerted at once and, on a queue change,
  the new queue's eligible supervisors are notified under the new queue's thresholds.

Authorisation (who may assign) is the caller's business; see ``conversations.api``.
Queue routing follows every change: a representative who loses a conversation gets the next
waiting one, and a conversation put back in a queue is offered to its representatives
(``conversations.services.queue_routing``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, ConversationStatus, Queue, Role, StaffMember
from conversations.services.queue_routing import (
    capacity_freed,
    conversation_changes_announce,
    conversation_for_update,
    conversation_hand_over,
    conversation_reloaded,
    conversation_route,
)


def _check_representative(representative: StaffMember) -> None:
    if representative.role != Role.REPRESENTATIVE and representative.role != Role.SUPERVISOR:
        raise ValidationError("Conversations are assigned to representatives (or supervisors).")


@transaction.atomic
def conversation_assign(*, conversation: Conversation | int, representative: StaffMember) -> Conversation:
    """Give the conversation to a representative (it becomes Active)."""
    _check_representative(representative)
    conv = conversation_for_update(conversation)
    if conv.status == ConversationStatus.CLOSED:
        raise ValidationError("A closed conversation cannot be assigned.")
    old_rep_id = conv.representative_id
    conv = conversation_hand_over(conv, representative=representative)
    if old_rep_id != representative.pk:
        capacity_freed(staff_id=old_rep_id)
    return conv


@transaction.atomic
def conversation_transfer(
    *,
    conversation: Conversation | int,
    queue: Queue | None = None,
    representative: StaffMember | None = None,
) -> Conversation:
    """Move to another queue and/or representative. A queue transfer without a representative
    puts the conversation back in the new queue, unassigned (Open)."""
    if queue is None and representative is None:
        raise ValidationError("Transfer to a queue, a representative, or both.")
    if representative is not None:
        _check_representative(representative)
    conv = conversation_for_update(conversation)
    if conv.status == ConversationStatus.CLOSED:
        raise ValidationError("A closed conversation cannot be transferred.")
    old_rep_id, old_queue_id = conv.representative_id, conv.queue_id
    fields = []
    if queue is not None and queue.pk != conv.queue_id:
        conv.queue = queue
        fields.append("queue")
        if representative is None:
            conv.representative = None
            conv.status = ConversationStatus.OPEN
            fields += ["representative", "status"]
    if representative is not None:
        conv.representative = representative
        conv.status = ConversationStatus.ACTIVE
        conv.accepted_at = conv.accepted_at or timezone.now()
        fields += ["representative", "status", "accepted_at"]
    if fields:
        conv.save(update_fields=sorted(set(fields)))
    if representative is not None:
        StaffMember.objects.filter(pk=representative.pk).update(last_routed_at=timezone.now())
    conv = conversation_reloaded(conv.pk)
    conversation_changes_announce(conv, old_rep_id=old_rep_id, old_queue_id=old_queue_id)
    if conv.representative_id is None:
        conversation_route(conversation=conv.pk)
        conv = conversation_reloaded(conv.pk)
    if old_rep_id != conv.representative_id:
        capacity_freed(staff_id=old_rep_id)
    return conv


@transaction.atomic
def conversation_close(*, conversation: Conversation | int) -> Conversation:
    conv = conversation_for_update(conversation)
    if conv.status == ConversationStatus.CLOSED:
        return conv
    conv.status = ConversationStatus.CLOSED
    conv.closed_at = timezone.now()
    conv.save(update_fields=["status", "closed_at"])
    conv = conversation_reloaded(conv.pk)
    conversation_changes_announce(conv, old_rep_id=conv.representative_id, old_queue_id=conv.queue_id)
    capacity_freed(staff_id=conv.representative_id)
    return conv
