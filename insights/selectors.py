"""Queries about the sentiment policy. Read-only."""

from __future__ import annotations

from dataclasses import dataclass

from insights.models import QueueSentimentOverride, SentimentSettings, SettingsAuditEntry


def sentiment_settings_get() -> SentimentSettings:
    """The organisation's settings row, created with the spec's defaults on first use."""
    obj, _created = SentimentSettings.objects.get_or_create(pk=SentimentSettings.SINGLETON_PK)
    return obj


@dataclass(frozen=True)
class EffectiveThresholds:
    representative: int
    supervisor: int
    representative_inherited: bool
    supervisor_inherited: bool


def effective_thresholds(*, queue_id: int | None, org: SentimentSettings | None = None) -> EffectiveThresholds:
    """The queue's override where set, else the organisation default (per threshold)."""
    org = org or sentiment_settings_get()
    override = None
    if queue_id is not None:
        override = QueueSentimentOverride.objects.filter(queue_id=queue_id).first()
    rep = override.representative_threshold if override else None
    sup = override.supervisor_threshold if override else None
    return EffectiveThresholds(
        representative=org.representative_threshold if rep is None else rep,
        supervisor=org.supervisor_threshold if sup is None else sup,
        representative_inherited=rep is None,
        supervisor_inherited=sup is None,
    )


def settings_audit_list(*, limit: int = 50):
    return SettingsAuditEntry.objects.select_related("actor")[:limit]
