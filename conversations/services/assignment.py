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
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from conversations import events, frames
from conversations.models import Conversation, ConversationStatus, Queue, Role, StaffMember
from insights.services.alerts import alerts_handover
from sentiment_admin import realtime


def _locked(conversation: Conversation | int) -> Conversation:
    pk = conversation if isinstance(conversation, int) else conversation.pk
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("queue", "customer", "representative__user")
        .get(pk=pk)
    )


def _reload(pk: int) -> Conversation:
    return Conversation.objects.select_related("queue", "customer", "representative__user").get(pk=pk)


def _announce(conv: Conversation, *, old_rep_id: int | None, old_queue_id: int) -> None:
    payload = frames.conversation_payload(conv)
    new_rep_id = conv.representative_id
    queue_id = conv.queue_id
    pk = conv.pk

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
            events.broadcast_conversation_assigned(conversation_id=pk, queue_id=queue_id, representative_id=new_rep_id)
        events.broadcast_conversation_updated(payload=payload)

    transaction.on_commit(after_commit)
    alerts_handover(
        conversation=conv,
        representative_changed=new_rep_id != old_rep_id,
        queue_changed=queue_id != old_queue_id,
    )


def _check_representative(representative: StaffMember) -> None:
    if representative.role != Role.REPRESENTATIVE and representative.role != Role.SUPERVISOR:
        raise ValidationError("Conversations are assigned to representatives (or supervisors).")


@transaction.atomic
def conversation_assign(*, conversation: Conversation | int, representative: StaffMember) -> Conversation:
    """Give the conversation to a representative (it becomes Active)."""
    _check_representative(representative)
    conv = _locked(conversation)
    if conv.status == ConversationStatus.CLOSED:
        raise ValidationError("A closed conversation cannot be assigned.")
    old_rep_id, old_queue_id = conv.representative_id, conv.queue_id
    conv.representative = representative
    conv.status = ConversationStatus.ACTIVE
    conv.accepted_at = conv.accepted_at or timezone.now()
    conv.save(update_fields=["representative", "status", "accepted_at"])
    conv = _reload(conv.pk)
    _announce(conv, old_rep_id=old_rep_id, old_queue_id=old_queue_id)
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
    conv = _locked(conversation)
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
    conv = _reload(conv.pk)
    _announce(conv, old_rep_id=old_rep_id, old_queue_id=old_queue_id)
    return conv


@transaction.atomic
def conversation_close(*, conversation: Conversation | int) -> Conversation:
    conv = _locked(conversation)
    if conv.status == ConversationStatus.CLOSED:
        return conv
    conv.status = ConversationStatus.CLOSED
    conv.closed_at = timezone.now()
    conv.save(update_fields=["status", "closed_at"])
    conv = _reload(conv.pk)
    _announce(conv, old_rep_id=conv.representative_id, old_queue_id=conv.queue_id)
    return conv
