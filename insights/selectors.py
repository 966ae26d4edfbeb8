"""Queries about the sentiment policy. Read-only."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from conversations.models import ConversationStatus, Message, ScoringStatus, Sender
from insights import rules
from insights.levels import level_label
from insights.models import (
    AlertKind,
    ConversationSnooze,
    NotificationRecipient,
    OutboxStatus,
    QueueSentimentOverride,
    SentimentAlert,
    SentimentSettings,
    SettingsAuditEntry,
    WebhookDelivery,
    WebhookEvent,
)


def sentiment_settings_get() -> SentimentSettings:
    """The organisation's settings row, created with the spec's defaults on first use."""
    obj, _created = SentimentSettings.objects.get_or_create(pk=SentimentSettings.SINGLETON_PK)
    return obj


# Ingest reads the settings for every customer message (a statement of its own, in the web
# process's one database thread); a copy of them per process, at most this old, saves it.
# Cleared in this process when they are saved, and in every process with a staff socket when
# ``settings.changed`` reaches it; other processes see a change within this age. The claim
# reads them afresh, so a message stored ``pending`` just after monitoring was turned off is
# still skipped there.
SETTINGS_CACHE_SECONDS = 2.0
_settings_cached: tuple[float, SentimentSettings] | None = None


def sentiment_settings_cached() -> SentimentSettings:
    """The organisation's settings as this process last read them (at most
    ``SETTINGS_CACHE_SECONDS`` ago). For reading only."""
    global _settings_cached
    cached = _settings_cached
    now = time.monotonic()
    if cached is not None and now - cached[0] < SETTINGS_CACHE_SECONDS:
        return cached[1]
    obj = sentiment_settings_get()
    _settings_cached = (now, obj)
    return obj


def sentiment_settings_cache_clear(**_signal) -> None:
    global _settings_cached
    _settings_cached = None


@dataclass(frozen=True)
class EffectiveThresholds:
    representative: int
    supervisor: int
    representative_inherited: bool
    supervisor_inherited: bool


def effective_thresholds(
    *, queue_id: int | None, org: SentimentSettings | None = None
) -> EffectiveThresholds:
    """The queue's override where set, else the organisation default (per threshold)."""
    org = org or sentiment_settings_get()
    override = None
    if queue_id is not None:
        override = QueueSentimentOverride.objects.filter(queue_id=queue_id).first()
    return _thresholds(org, override)


def effective_thresholds_for_queues(
    queue_ids: Iterable[int], *, org: SentimentSettings | None = None
) -> dict[int, EffectiveThresholds]:
    """``effective_thresholds`` of several queues in one query (a scoring batch's)."""
    org = org or sentiment_settings_get()
    wanted = set(queue_ids)
    overrides = {o.queue_id: o for o in QueueSentimentOverride.objects.filter(queue_id__in=wanted)}
    return {queue_id: _thresholds(org, overrides.get(queue_id)) for queue_id in wanted}


def _thresholds(org: SentimentSettings, override: QueueSentimentOverride | None) -> EffectiveThresholds:
    rep = override.representative_threshold if override else None
    sup = override.supervisor_threshold if override else None
    return EffectiveThresholds(
        representative=org.representative_threshold if rep is None else rep,
        supervisor=org.supervisor_threshold if sup is None else sup,
        representative_inherited=rep is None,
        supervisor_inherited=sup is None,
    )


def _last_crossings(conversation_ids: Iterable[int]):
    """Each conversation's last crossing or recovery per audience, in one windowed query."""
    return (
        SentimentAlert.objects.filter(
            conversation_id__in=list(conversation_ids), kind__in=[AlertKind.THRESHOLD, AlertKind.RECOVERED]
        )
        .annotate(
            recency=Window(
                RowNumber(),
                partition_by=[F("conversation_id"), F("audience")],
                order_by=[F("created_at").desc(), F("id").desc()],
            )
        )
        .filter(recency=1)
    )


def alert_states(conversation_ids: Iterable[int]) -> dict[int, set[str]]:
    """The alert state machine's state, for several conversations in one query: for each, the
    audiences whose last crossing is unrecovered."""
    last_crossings = _last_crossings(conversation_ids).values_list("conversation_id", "audience", "kind")
    states: dict[int, set[str]] = {}
    for conversation_id, audience, kind in last_crossings:
        if kind == AlertKind.THRESHOLD:
            states.setdefault(conversation_id, set()).add(audience)
    return states


def webhook_deliveries_recent(*, limit: int = 20):
    """The last webhook attempts, newest first (the Integrations page)."""
    return WebhookDelivery.objects.select_related("alert", "message")[:limit]


@dataclass(frozen=True)
class WebhookOutboxSummary:
    """The webhook outbox for the Integrations page: what waits for a retry, what was given up."""

    waiting: int
    next_attempt_at: object  # datetime | None
    given_up: int
    last_given_up: list[WebhookEvent]
    max_attempts: int


def webhook_outbox_summary(*, last: int = 5) -> WebhookOutboxSummary:
    pending = WebhookEvent.objects.filter(status=OutboxStatus.PENDING)
    failed = WebhookEvent.objects.filter(status=OutboxStatus.FAILED)
    return WebhookOutboxSummary(
        waiting=pending.count(),
        next_attempt_at=pending.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first(),
        given_up=failed.count(),
        last_given_up=list(failed.order_by("-created_at", "-id")[:last]),
        max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
    )


def alerts_holding(conversation_ids: Iterable[int]) -> dict[int, list[SentimentAlert]]:
    """The alerts that still hold, for several conversations in one query: per conversation,
    for each audience whose last crossing is unrecovered, that crossing (with its message)."""
    last_crossings = _last_crossings(conversation_ids).values_list("pk", "kind")
    holding_ids = [pk for pk, kind in last_crossings if kind == AlertKind.THRESHOLD]
    holding: dict[int, list[SentimentAlert]] = {}
    for alert in (
        SentimentAlert.objects.filter(pk__in=holding_ids).select_related("message").order_by("audience")
    ):
        holding.setdefault(alert.conversation_id, []).append(alert)
    return holding


def settings_audit_list(*, limit: int = 50):
    return SettingsAuditEntry.objects.select_related("actor")[:limit]


@dataclass(frozen=True)
class ThresholdReach:
    """For one alert threshold, the share (%) of each kind of held-out customer message that
    reaches it, as the bundled model measured it when it was trained."""

    threshold: str
    outraged: float | None
    dissatisfied: float | None
    calm_report: float | None
    neutral: float | None


def threshold_reach_guide() -> tuple[int, list[ThresholdReach]] | None:
    """(messages measured, one row per threshold from Slightly negative to Very negative), from
    the bundled model's head.json; None for another model or weights without the figures."""
    from insights.scoring.weights_meta import read_head_meta

    if settings.SENTIMENT_MODEL != "bundled":
        return None
    holdout = read_head_meta().get("intensity_holdout") or {}
    reach = holdout.get("threshold_reach")
    if not isinstance(reach, dict):
        return None
    rows = []
    for threshold in (-1, -2, -3):  # JSON keys are strings
        shares = reach.get(str(threshold)) or {}
        rows.append(ThresholdReach(level_label(threshold), *(shares.get(str(g)) for g in (-3, -2, -1, 0))))
    return int(holdout.get("messages") or 0), rows


def unacknowledged_notifications(staff, *, limit: int = 30) -> list[NotificationRecipient]:
    """A supervisor's notifications not yet acknowledged, of conversations still open, newest first."""
    return list(
        NotificationRecipient.objects.filter(staff=staff, acknowledged_at__isnull=True)
        .exclude(alert__conversation__status=ConversationStatus.CLOSED)  # nothing left to act on
        .select_related(
            "alert__conversation__customer",
            "alert__conversation__queue",
            "alert__conversation__representative__user",
        )
        .order_by("-alert__created_at")[:limit]
    )


def snoozed_until(staff, *, now=None) -> dict[int, datetime]:
    """{conversation id: until} of the conversations this supervisor has snoozed, still running."""
    now = now or timezone.now()
    return dict(
        ConversationSnooze.objects.filter(staff=staff, until__gt=now).values_list("conversation_id", "until")
    )


# --- the scored tail of a conversation: what its sentiment is made of ---------------------------


def recent_scored(conversation_id: int, up_to_seq: int) -> list[tuple[float, int]]:
    """(score, level) of the conversation's last ``rules.AGGREGATE_WINDOW`` scored customer
    messages up to ``up_to_seq``, oldest first: what its sentiment after that message is made of."""
    rows = list(
        Message.objects.filter(
            conversation_id=conversation_id,
            sender=Sender.CUSTOMER,
            scoring_status=ScoringStatus.SCORED,
            seq__lte=up_to_seq,
        )
        .order_by("-seq")
        .values_list("sentiment_score", "sentiment_level")[: rules.AGGREGATE_WINDOW]
    )
    rows.reverse()
    return rows


def scored_tails(conversation_ids: Iterable[int]) -> dict[int, list[tuple[int, float, int]]]:
    """(seq, score, level) of each conversation's last ``rules.AGGREGATE_WINDOW`` scored
    customer messages, oldest first, in one query: the state a scoring batch continues from."""
    rows = (
        Message.objects.filter(
            conversation_id__in=list(conversation_ids),
            sender=Sender.CUSTOMER,
            scoring_status=ScoringStatus.SCORED,
        )
        .annotate(recency=Window(RowNumber(), partition_by=F("conversation_id"), order_by=F("seq").desc()))
        .filter(recency__lte=rules.AGGREGATE_WINDOW)
        .order_by("conversation_id", "seq")
        .values_list("conversation_id", "seq", "sentiment_score", "sentiment_level")
    )
    tails: dict[int, list[tuple[int, float, int]]] = {}
    for conversation_id, seq, score, level in rows:
        tails.setdefault(conversation_id, []).append((seq, score, level))
    return tails
