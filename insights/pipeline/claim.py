"""Claim: which stored customer messages are still pending, and the texts to score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from conversations.models import Message, ScoringStatus, Sender
from insights import rules
from insights.privacy import mask_personal_data
from insights.selectors import sentiment_settings_get


@dataclass(frozen=True)
class ScoringJob:
    message_id: int
    conversation_id: int
    text: str
    language_hint: str | None


@dataclass(frozen=True)
class ScoringOptions:
    multilingual: bool
    base_language: str


def pending_message_ids(*, limit: int = 10_000, older_than_seconds: float | None = None) -> list[int]:
    """Customer messages stored but never scored (crash recovery), oldest first."""
    qs = Message.objects.filter(scoring_status=ScoringStatus.PENDING, sender=Sender.CUSTOMER)
    if older_than_seconds:
        qs = qs.filter(created_at__lt=timezone.now() - timedelta(seconds=older_than_seconds))
    return list(qs.order_by("created_at", "id").values_list("id", flat=True)[:limit])


def scoring_claim(message_ids: Sequence[int]) -> tuple[list[ScoringJob], ScoringOptions]:
    """Load what is still pending; skip it instead when monitoring is off or opted out."""
    org = sentiment_settings_get()
    options = ScoringOptions(multilingual=org.multilingual_enabled, base_language=org.base_language or "en")
    messages = list(
        Message.objects.filter(
            pk__in=list(message_ids), scoring_status=ScoringStatus.PENDING, sender=Sender.CUSTOMER
        )
        .select_related("conversation")
        .order_by("conversation_id", "seq")
    )
    skip = [
        m.pk
        for m in messages
        if not rules.should_score(
            monitoring_enabled=org.monitoring_enabled, opted_out=m.conversation.scoring_opt_out
        )
    ]
    if skip:
        Message.objects.filter(pk__in=skip, scoring_status=ScoringStatus.PENDING).update(
            scoring_status=ScoringStatus.SKIPPED
        )
    skipped = set(skip)
    jobs = [
        ScoringJob(
            message_id=m.pk,
            conversation_id=m.conversation_id,
            text=mask_personal_data(m.text).strip(),
            language_hint=m.conversation.language or None,
        )
        for m in messages
        if m.pk not in skipped
    ]
    return jobs, options
