"""The JSON frames the insights app sends (``docs/events.md``), built in one place so that live
events, the outbox's resends and catch-up replies are identical: ``conversation.scored``,
``alert.raised`` / ``alert.recovered`` / ``alert.state``, ``notification.created``,
``notification.acknowledged`` and ``settings.changed``. Payloads are built while the service's transaction is open;
``insights.events`` sends them after commit."""

from __future__ import annotations

from conversations.models import ScoringStatus, Sender
from insights import rules
from insights.levels import level_fields, level_label
from insights.models import AlertAudience, AlertKind, NotificationRecipient, SentimentAlert
from insights.scoring.language import language_name
from insights.selectors import alert_states, alerts_holding, recent_scored
from sentiment_admin import realtime


def not_scored_reason(message) -> str:
    """Why a customer message has no sentiment ("" when it has one): shown with "Not scored"."""
    if message.scoring_status == ScoringStatus.FAILED:
        return message.scoring_error or "The scorer failed on this message."
    if message.scoring_status == ScoringStatus.NOT_SCORED:
        if message.language:
            return f"The language is not supported: {language_name(message.language)}."
        return "The language could not be told."
    return ""


def scored_payload(message, *, conversation_score, conversation_level, trend) -> dict:
    """``conversation.scored`` for one customer message and the conversation after it; for a
    message that got no sentiment (language not supported, or the scorer failed on it),
    ``supported`` is false and ``reason`` says why."""
    return {
        "type": realtime.CONVERSATION_SCORED,
        "conversation": message.conversation_id,
        "queue": message.conversation.queue_id,
        "seq": message.seq,
        "score": message.sentiment_score,
        **level_fields(message.sentiment_level),
        "confidence": message.confidence,
        "language": message.language,
        "language_name": language_name(message.language),
        "supported": message.scoring_status == ScoringStatus.SCORED,
        "scoring_status": message.scoring_status,
        "reason": not_scored_reason(message),
        "trend": trend,
        "conversation_score": conversation_score,
        **level_fields(conversation_level, prefix="conversation_"),
    }


# The customer messages that get a ``conversation.scored``: those the scorer has answered for.
ANNOUNCED_STATUSES = (ScoringStatus.SCORED, ScoringStatus.NOT_SCORED, ScoringStatus.FAILED)


def scored_payload_as_of(message) -> dict:
    """``conversation.scored`` for a message stored earlier, with the conversation's sentiment
    as it was right after it (the same frame a catch-up replays). ``message.conversation``
    must be loaded."""
    sentiment = rules.conversation_sentiment(
        [s for s, _ in recent_scored(message.conversation_id, message.seq)]
    )
    return scored_payload(
        message, conversation_score=sentiment.score, conversation_level=sentiment.level, trend=sentiment.trend
    )


def scored_catch_up(*, conversation, messages, after_seq: int) -> dict[int, dict]:
    """The ``conversation.scored`` frame of each customer message of ``messages`` that the
    scorer answered for (scored, or not scored with a reason), in seq order, all after
    ``after_seq``, by seq, with the conversation's sentiment as it was after that message."""
    scores = [s for s, _ in recent_scored(conversation.pk, after_seq)]
    frames: dict[int, dict] = {}
    for message in messages:
        if message.sender != Sender.CUSTOMER:
            continue
        if message.scoring_status == ScoringStatus.SCORED:
            scores.append(message.sentiment_score)
        if message.scoring_status in ANNOUNCED_STATUSES:
            sentiment = rules.conversation_sentiment(scores)
            frames[message.seq] = scored_payload(
                message,
                conversation_score=sentiment.score,
                conversation_level=sentiment.level,
                trend=sentiment.trend,
            )
    return frames


def alert_payload(alert: SentimentAlert, *, seq: int | None) -> dict:
    """``alert.raised`` or ``alert.recovered``."""
    kind = AlertKind.THRESHOLD if alert.kind == AlertKind.RECOVERED else alert.kind
    return {
        "type": realtime.ALERT_RECOVERED if alert.kind == AlertKind.RECOVERED else realtime.ALERT_RAISED,
        "alert": alert.pk,
        "conversation": alert.conversation_id,
        "seq": seq,
        "audience": alert.audience,
        "kind": str(kind),
        **level_fields(alert.level),
        "threshold": alert.threshold,
        "threshold_label": level_label(alert.threshold) if alert.threshold else "Off",
        "delivered": alert.delivered,
        "created_at": alert.created_at.isoformat(),
    }


def alert_state_payload(*, conversation_id: int, alerts: list[SentimentAlert]) -> dict:
    """``alert.state``: every alert of the conversation that still holds (one per audience at
    most), sent on catch-up and after a hand-over, so a screen shows what it missed and drops
    what recovered meanwhile. An empty list means no alert holds."""
    return {
        "type": realtime.ALERT_STATE,
        "conversation": conversation_id,
        "alerts": [alert_payload(a, seq=a.message.seq if a.message_id else None) for a in alerts],
    }


def alert_state_frame(conversation_id: int) -> dict:
    """``alert.state`` for one conversation as it is now (catch-up, staff only)."""
    return alert_state_payload(
        conversation_id=conversation_id, alerts=alerts_holding([conversation_id]).get(conversation_id, [])
    )


def notification_payload(recipient: NotificationRecipient, alert: SentimentAlert, conversation) -> dict:
    """``notification.created`` for one supervisor's row."""
    rep = conversation.representative
    return {
        "type": realtime.NOTIFICATION_CREATED,
        "notification": recipient.pk,
        "alert": alert.pk,
        "conversation": conversation.pk,
        "queue": conversation.queue_id,
        "queue_name": conversation.queue.name,
        "customer": conversation.customer.name,
        "customer_ref": conversation.customer.short_reference,
        "representative": rep.display_name if rep else "",
        "representative_id": conversation.representative_id,
        **level_fields(alert.level),
        "kind": alert.kind,
        "threshold": alert.threshold,
        "created_at": alert.created_at.isoformat(),
    }


def notification_acknowledged_payload(
    row: NotificationRecipient, *, conversation_id: int, by=None, resolved=None
) -> dict:
    """``notification.acknowledged``: who acknowledged a supervisor's notification, and when;
    or, with ``resolved`` ("closed" / "moved") and nobody, that it has nothing left to act on."""
    payload = {
        "type": realtime.NOTIFICATION_ACKNOWLEDGED,
        "notification": row.pk,
        "alert": row.alert_id,
        "conversation": conversation_id,
        "by": by.pk if by is not None else None,
        "by_name": by.display_name if by is not None else "",
        "acknowledged_at": row.acknowledged_at.isoformat(),
    }
    if resolved is not None:
        payload["resolved"] = resolved
    return payload


def alert_summary(conversation) -> dict:
    """A conversation's alert state for the REST API: ``alert_state`` per audience (raised or
    clear) and its ``last_alert`` (or None)."""
    raised = alert_states([conversation.pk]).get(conversation.pk, set())
    last = SentimentAlert.objects.filter(conversation=conversation).order_by("-created_at", "-id").first()
    last_alert = None
    if last is not None:
        last_alert = {
            "alert": last.pk,
            "audience": last.audience,
            "kind": last.kind,
            **level_fields(last.level),
            "threshold": last.threshold,
            "created_at": last.created_at.isoformat() if last.created_at else None,
        }
    return {
        "alert_state": {
            audience: ("raised" if audience in raised else "clear") for audience in AlertAudience.values
        },
        "last_alert": last_alert,
    }


def settings_changed_payload(obj) -> dict:
    """``settings.changed``: what every staff screen needs to know of the organisation's settings."""
    return {
        "type": realtime.SETTINGS_CHANGED,
        "monitoring_enabled": obj.monitoring_enabled,
        "representative_threshold": obj.representative_threshold,
        "supervisor_threshold": obj.supervisor_threshold,
    }
