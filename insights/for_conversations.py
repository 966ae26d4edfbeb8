"""What the conversations app may ask of insights: the one door between the two apps.

``insights`` builds on ``conversations`` (queues, staff, customers, messages, ingest, chat):
it scores, alerts, notifies and reports on them. ``conversations`` names insights only here
and in ``insights.levels`` (the shared 7-level vocabulary), so the arrows run one way.

Scoring
    ``should_score(conversation)``      stored as ``pending`` (True) or ``skipped``
    ``settings_changed_heard()``        ``settings.changed`` reached this process
    ``scoring_enqueue(message_ids, conversation_id=)``
                                        hand stored messages to the pipeline (after commit)
Frames and pages
    ``scored_catch_up(conversation=, messages=, after_seq=)``
                                        the ``conversation.scored`` frames of a catch-up, by seq
    ``alert_state_frame(conversation_id)``  the ``alert.state`` frame closing a staff catch-up
    ``unacknowledged_notifications(staff)``  a supervisor's open notifications (Ongoing page)
    ``snoozed_until(staff)``            {conversation id: until} of the supervisor's running snoozes
    ``alert_summary(conversation)``     ``alert_state`` and ``last_alert`` of the REST detail
    ``language_name(code)``             ``sr-Latn`` → "Serbian (Latin)", for frames and pages
Assignment
    ``alerts_handover(conversation=, representative_changed=, queue_changed=)``
                                        the alert state follows a hand-over (in its transaction)
    ``notifications_resolve(conversation=, reason=RESOLVED_CLOSED | RESOLVED_MOVED, queue_id=)``
                                        a closed or moved conversation's notifications are done
Staff actions (websocket frames and REST endpoints)
    ``notification_acknowledge(notification_id=, staff=)``  raises ``NotificationNotFound``
    ``conversation_snooze(staff=, conversation=, minutes=)``
Set-up
    ``sentiment_settings_get()``        the organisation's settings row (created on first use;
                                        every staff page says when monitoring is off)
"""

from __future__ import annotations

from insights import rules
from insights.frames import alert_state_frame, alert_summary, scored_catch_up
from insights.models import NotificationRecipient
from insights.pipeline.runtime import scoring_enqueue
from insights.scoring.language import language_name
from insights.selectors import (
    sentiment_settings_cache_clear,
    sentiment_settings_cached,
    sentiment_settings_get,
    snoozed_until,
    unacknowledged_notifications,
)
from insights.services.alerts import (
    RESOLVED_CLOSED,
    RESOLVED_MOVED,
    alerts_handover,
    conversation_snooze,
    notification_acknowledge,
    notifications_resolve,
)

NotificationNotFound = NotificationRecipient.DoesNotExist


def should_score(conversation) -> bool:
    """Whether a new customer message of ``conversation`` is scored: monitoring is on and the
    conversation did not opt out (the same rule the pipeline's claim applies, afresh). The
    settings as this process last read them: ``sentiment_settings_cached``."""
    return rules.should_score(
        monitoring_enabled=sentiment_settings_cached().monitoring_enabled,
        opted_out=conversation.scoring_opt_out,
    )


def settings_changed_heard() -> None:
    """A ``settings.changed`` event reached this process: read the settings again."""
    sentiment_settings_cache_clear()


__all__ = [
    "RESOLVED_CLOSED",
    "RESOLVED_MOVED",
    "NotificationNotFound",
    "alert_state_frame",
    "alert_summary",
    "alerts_handover",
    "conversation_snooze",
    "language_name",
    "notification_acknowledge",
    "notifications_resolve",
    "scored_catch_up",
    "scoring_enqueue",
    "sentiment_settings_get",
    "settings_changed_heard",
    "should_score",
    "snoozed_until",
    "unacknowledged_notifications",
]
