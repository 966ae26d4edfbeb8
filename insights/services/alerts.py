"""Representative alerts and supervisor notifications.

``alerts_evaluate`` runs inside the scoring transaction, after the conversation's sentiment
was recomputed. The rules (threshold, one alert per crossing, sharp drop, the supervisor gate)
are the pure functions of ``insights.rules``; this module only gathers their inputs, stores
alerts with their recipients and announces them after commit.

Delivery:
- representative audience → ``alert.raised`` / ``alert.recovered`` to the representative's
  sockets and to monitors of the conversation (undelivered when nobody is assigned);
- supervisor audience → one ``NotificationRecipient`` row and one ``notification.created`` per
  eligible supervisor (Available or Busy, assigned to the queue, not snoozed on that
  conversation), plus ``alert.raised`` / ``alert.recovered`` to them and to monitors. With no
  eligible supervisor the alert is stored with ``delivered=False`` for the dashboard.
- a webhook event, when the organisation configured one, stored with the alert
  (``insights.services.webhooks``) and sent by the outbox sender (``insights.sender``);
- every registered alert sink (``insights.alert_sinks``, e.g. the Chatwoot adapter).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, Message, Role, ScoringStatus, Sender, StaffMember
from insights import events, frames, rules
from insights.alert_sinks import alert_sinks_notify
from insights.models import (
    AlertAudience,
    AlertKind,
    ConversationSnooze,
    NotificationRecipient,
    SentimentAlert,
    SentimentSettings,
)
from insights.selectors import EffectiveThresholds, alert_states, effective_thresholds, sentiment_settings_get
from insights.services.webhooks import webhook_alert_enqueue
from sentiment_admin.inputs import InvalidInput, parse_int

MAX_SNOOZE_MINUTES = 24 * 60


class SupervisorRoster:
    """Every supervisor with their queues, and the snoozes of a set of conversations, read once
    and asked per alert: a scoring batch raises an alert for about one message in two (the
    bench's), and reading them per alert was a quarter of a worker's database thread. The gate
    itself stays ``rules.supervisor_eligible``; the query decides nothing (an organisation has
    tens of supervisors)."""

    def __init__(self, conversation_ids: Iterable[int]) -> None:
        self.conversation_ids = set(conversation_ids)
        self._supervisors: list[StaffMember] | None = None
        self._snoozed: dict[int, set[int]] = {}

    def eligible(self, conversation: Conversation) -> list[StaffMember]:
        """Supervisors who get a notification for this conversation right now: those the gate
        (presence and queue) lets through, less those who snoozed the conversation."""
        if conversation.pk not in self.conversation_ids:
            raise ValueError(f"conversation {conversation.pk} is not on this roster")
        if self._supervisors is None:
            self._read()
        snoozed = self._snoozed.get(conversation.pk, set())
        return [
            s
            for s in self._supervisors
            if s.pk not in snoozed
            and rules.supervisor_eligible(s.presence, [q.pk for q in s.queues.all()], conversation.queue_id)
        ]

    def _read(self) -> None:
        self._supervisors = list(
            StaffMember.objects.filter(role=Role.SUPERVISOR)
            .select_related("user")
            .prefetch_related("queues")
            .order_by("pk")
        )
        snoozes = ConversationSnooze.objects.filter(
            conversation_id__in=self.conversation_ids, until__gt=timezone.now()
        ).values_list("conversation_id", "staff_id")
        for conversation_id, staff_id in snoozes:
            self._snoozed.setdefault(conversation_id, set()).add(staff_id)


def eligible_supervisors(*, conversation: Conversation) -> list[StaffMember]:
    """Supervisors who get a notification for this conversation right now (``SupervisorRoster``)."""
    return SupervisorRoster([conversation.pk]).eligible(conversation)


def alerts_evaluate(
    *,
    conversation: Conversation,
    message: Message,
    message_levels: list[int],
    org: SentimentSettings,
    thresholds: EffectiveThresholds,
    in_alert: set[str],
    roster: SupervisorRoster | None = None,
) -> list[SentimentAlert]:
    """Apply the alert rules after ``message`` changed the conversation's sentiment.

    ``message_levels``: per-message levels of the conversation's scored customer messages,
    oldest first, ending with ``message``'s. ``thresholds``: the conversation's queue's.
    ``in_alert``: the audiences whose last crossing is unrecovered
    (``insights.selectors.alert_states``); kept up to date here, so the conversation's next
    message in the same batch sees this one's alerts.
    ``roster``: the batch's supervisors (read for this conversation alone without one).
    Must run inside the scoring transaction.
    """
    level = conversation.sentiment_level
    created: list[SentimentAlert] = []
    for audience, threshold in (
        (AlertAudience.REPRESENTATIVE, thresholds.representative),
        (AlertAudience.SUPERVISOR, thresholds.supervisor),
    ):
        action = rules.alert_transition(
            level=level,
            threshold=threshold,
            in_alert=audience in in_alert,
            score=conversation.sentiment_score,
        )
        kind = None
        alert_level = level
        if action == rules.RAISE:
            kind = AlertKind.THRESHOLD
            in_alert.add(audience)
        elif action == rules.RECOVER:
            kind = AlertKind.RECOVERED
            in_alert.discard(audience)
        elif org.sharp_drop_alerts and threshold != 0 and rules.sharp_drop(message_levels):
            kind = AlertKind.SHARP_DROP
            alert_level = message_levels[-1]
        if kind is None:
            continue
        alert = _raise(
            conversation=conversation,
            message=message,
            audience=audience,
            kind=kind,
            level=alert_level,
            threshold=threshold,
            seq=message.seq,
            org=org,
            roster=roster,
        )
        created.append(alert)
    return created


def alerts_handover(
    *, conversation: Conversation, representative_changed: bool, queue_changed: bool
) -> list[SentimentAlert]:
    """Carry the alert state to whoever now holds the conversation (``rules.handover_transition``):
    its new representative when ``representative_changed``, the new queue's supervisors when
    ``queue_changed``, under the new queue's thresholds. Must run inside the assignment
    transaction, with ``conversation`` saved and locked."""
    audiences = []
    if representative_changed and conversation.representative_id:
        audiences.append(AlertAudience.REPRESENTATIVE)
    if queue_changed:
        audiences.append(AlertAudience.SUPERVISOR)
    if not audiences or conversation.sentiment_level is None:
        return []
    org = sentiment_settings_get()
    thresholds = effective_thresholds(queue_id=conversation.queue_id, org=org)
    in_alert = alert_states([conversation.pk]).get(conversation.pk, set())
    message = (
        Message.objects.filter(
            conversation=conversation, sender=Sender.CUSTOMER, scoring_status=ScoringStatus.SCORED
        )
        .order_by("-seq")
        .first()
    )
    created = []
    for audience in audiences:
        threshold = (
            thresholds.representative if audience == AlertAudience.REPRESENTATIVE else thresholds.supervisor
        )
        action = rules.handover_transition(
            level=conversation.sentiment_level, threshold=threshold, in_alert=audience in in_alert
        )
        if action is None:
            continue
        alert = _raise(
            conversation=conversation,
            message=message,
            audience=audience,
            kind=AlertKind.THRESHOLD if action == rules.RAISE else AlertKind.RECOVERED,
            level=conversation.sentiment_level,
            threshold=threshold,
            seq=message.seq if message else None,
            org=org,
        )
        created.append(alert)
    return created


def _raise(
    *,
    conversation: Conversation,
    message: Message | None,
    audience: str,
    kind: str,
    level: int,
    threshold: int,
    seq: int | None,
    org: SentimentSettings,
    roster: SupervisorRoster | None = None,
) -> SentimentAlert:
    """Store an alert with its recipients and announce it after commit. Its recipients are
    known before it is stored (one INSERT, ``delivered`` included), and the supervisors'
    notification rows are one INSERT together."""
    if audience == AlertAudience.REPRESENTATIVE:
        supervisors: list[StaffMember] = []
        staff_ids = [conversation.representative_id] if conversation.representative_id else []
    else:
        supervisors = (roster or SupervisorRoster([conversation.pk])).eligible(conversation)
        staff_ids = [s.pk for s in supervisors]
    alert = SentimentAlert.objects.create(
        conversation=conversation,
        message=message,
        audience=audience,
        kind=kind,
        level=level,
        threshold=threshold,
        delivered=bool(staff_ids),
    )
    notifications: dict[int, dict] = {}
    if supervisors and kind != AlertKind.RECOVERED:
        rows = NotificationRecipient.objects.bulk_create(
            [NotificationRecipient(alert=alert, staff=supervisor) for supervisor in supervisors]
        )
        for supervisor, row in zip(supervisors, rows, strict=True):
            notifications[supervisor.pk] = frames.notification_payload(row, alert, conversation)
    payload = frames.alert_payload(alert, seq=seq)
    # Stored with the alert (outboxes), sent after commit by the process's outbox sender.
    alert_sinks_notify(alert=alert)
    if alert.kind in (AlertKind.THRESHOLD, AlertKind.RECOVERED, AlertKind.SHARP_DROP):
        webhook_alert_enqueue(alert=alert, org=org)

    def after_commit() -> None:
        events.broadcast_alert(payload=payload, staff_ids=staff_ids)
        if notifications:
            events.broadcast_notification_created(
                payloads_by_staff=notifications, conversation_id=conversation.pk
            )

    transaction.on_commit(after_commit)


@transaction.atomic
def notification_acknowledge(*, notification_id: int, staff: StaffMember) -> NotificationRecipient:
    """Acknowledge a notification. The recipient, another supervisor of the queue or an admin
    may do it; everyone who received the alert hears who did."""
    row = (
        NotificationRecipient.objects.select_for_update()
        .select_related("alert__conversation", "staff")
        .filter(pk=notification_id)
        .first()
    )
    if row is None:
        raise NotificationRecipient.DoesNotExist(f"No notification {notification_id}.")
    conversation = row.alert.conversation
    allowed = (
        row.staff_id == staff.pk
        or staff.role == Role.ADMIN
        or (staff.role == Role.SUPERVISOR and staff.queues.filter(pk=conversation.queue_id).exists())
    )
    if not allowed:
        raise PermissionDenied("This notification is not yours to acknowledge.")
    if row.acknowledged_at is None:
        row.acknowledged_at = timezone.now()
        row.acknowledged_by = staff
        row.save(update_fields=["acknowledged_at", "acknowledged_by"])
        staff_ids = list(
            NotificationRecipient.objects.filter(alert_id=row.alert_id).values_list("staff_id", flat=True)
        )
        if staff.pk not in staff_ids:
            staff_ids.append(staff.pk)
        payload = frames.notification_acknowledged_payload(row, conversation_id=conversation.pk, by=staff)
        transaction.on_commit(
            lambda: events.broadcast_notification_acknowledged(payload=payload, staff_ids=staff_ids)
        )
    return row


RESOLVED_CLOSED = "closed"
RESOLVED_MOVED = "moved"


def notifications_resolve(*, conversation: Conversation, reason: str, queue_id: int | None = None) -> int:
    """The conversation closed (``reason`` "closed") or left a queue ("moved", ``queue_id`` the
    queue it left): its open notifications have nothing left to act on. They are marked done
    (``acknowledged_at`` set, ``acknowledged_by`` empty: nobody acknowledged them) and every
    recipient hears ``notification.acknowledged`` with ``resolved``. Returns how many."""
    rows = NotificationRecipient.objects.filter(
        alert__conversation=conversation, acknowledged_at__isnull=True
    )
    if reason == RESOLVED_MOVED and queue_id is not None:
        # Only the old queue's supervisors: the new queue's were notified for the new queue.
        rows = rows.exclude(staff__queues__pk=conversation.queue_id)
    now = timezone.now()
    payloads = []
    for row in rows.select_for_update(of=("self",)):
        row.acknowledged_at = now
        row.save(update_fields=["acknowledged_at"])
        payloads.append(
            (
                frames.notification_acknowledged_payload(
                    row, conversation_id=conversation.pk, resolved=reason
                ),
                [row.staff_id],
            )
        )

    def after_commit() -> None:
        for payload, staff_ids in payloads:
            events.broadcast_notification_acknowledged(payload=payload, staff_ids=staff_ids)

    if payloads:
        transaction.on_commit(after_commit)
    return len(payloads)


@transaction.atomic
def conversation_snooze(
    *, staff: StaffMember, conversation: Conversation, minutes: int
) -> ConversationSnooze | None:
    """Silence notifications about one conversation for ``minutes`` (0 lifts the snooze)."""
    try:
        minutes = parse_int(minutes, "minutes", minimum=0, maximum=MAX_SNOOZE_MINUTES)
    except InvalidInput:
        raise ValidationError(f"minutes must be a whole number between 0 and {MAX_SNOOZE_MINUTES}.") from None
    if minutes == 0:
        ConversationSnooze.objects.filter(staff=staff, conversation=conversation).delete()
        return None
    snooze, _ = ConversationSnooze.objects.update_or_create(
        staff=staff,
        conversation=conversation,
        defaults={"until": timezone.now() + timedelta(minutes=minutes)},
    )
    return snooze
