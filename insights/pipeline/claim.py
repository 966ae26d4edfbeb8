"""Claim: which stored customer messages are still pending, and the texts to score.

Several processes sweep for pending messages (every Daphne process, every scoring worker), so
the same ids reach more than one of them. A process scores only what it claimed: a lease
taken by one conditional UPDATE (``Message.scoring_lease_until`` / ``scoring_claimed_by``),
which the database applies to a row for one claimer at a time, on SQLite and PostgreSQL
alike. A lease that expired (its holder crashed) is taken over by the next claimer; the
holder renews its own lease by claiming again (a retry).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
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


def this_claimer() -> str:
    """Who claims in this process: host and process id (read when claiming, not at import)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def _lease_free(now: datetime) -> Q:
    return Q(scoring_lease_until__isnull=True) | Q(scoring_lease_until__lt=now)


def pending_message_ids(
    *,
    limit: int = 10_000,
    older_than_seconds: float | None = None,
    now: datetime | None = None,
    claimer: str | None = None,
) -> list[int]:
    """Customer messages stored but never scored (crash recovery), oldest first; not those
    that a live lease says another process is scoring right now (this claimer's own are
    offered again: a runtime restarted in this process, a model that came back)."""
    now = now or timezone.now()
    qs = Message.objects.filter(
        _lease_free(now) | Q(scoring_claimed_by=claimer or this_claimer()),
        scoring_status=ScoringStatus.PENDING,
        sender=Sender.CUSTOMER,
    )
    if older_than_seconds:
        qs = qs.filter(created_at__lt=now - timedelta(seconds=older_than_seconds))
    return list(qs.order_by("created_at", "id").values_list("id", flat=True)[:limit])


def scoring_lease(
    message_ids: Sequence[int], *, claimer: str | None = None, now: datetime | None = None
) -> list[int]:
    """Lease the still-pending customer messages among ``message_ids`` that nobody else holds
    (free, expired, or already this claimer's). Returns the ids leased, in no order."""
    claimer = claimer or this_claimer()
    now = now or timezone.now()
    until = now + timedelta(seconds=settings.SENTIMENT_SCORING_LEASE_SECONDS)
    ids = list(message_ids)
    # One statement: the database takes each row's lock and re-checks the condition under it,
    # so of two claimers racing for a row exactly one sees it free.
    Message.objects.filter(
        _lease_free(now) | Q(scoring_claimed_by=claimer),
        pk__in=ids,
        scoring_status=ScoringStatus.PENDING,
        sender=Sender.CUSTOMER,
    ).update(scoring_lease_until=until, scoring_claimed_by=claimer)
    return list(
        Message.objects.filter(
            pk__in=ids,
            scoring_status=ScoringStatus.PENDING,
            scoring_claimed_by=claimer,
            scoring_lease_until=until,
        ).values_list("id", flat=True)
    )


def scoring_release(message_ids: Sequence[int], *, claimer: str | None = None) -> None:
    """Give up this claimer's lease on messages it could not score (no model here), so that
    another process may take them at once rather than after the lease."""
    Message.objects.filter(
        pk__in=list(message_ids),
        scoring_status=ScoringStatus.PENDING,
        scoring_claimed_by=claimer or this_claimer(),
    ).update(scoring_lease_until=None, scoring_claimed_by="")


def scoring_claim(
    message_ids: Sequence[int], *, claimer: str | None = None, now: datetime | None = None
) -> tuple[list[ScoringJob], ScoringOptions]:
    """Lease what is still pending and load it; skip it instead when monitoring is off or
    opted out. Messages another process holds a live lease on are left to it."""
    org = sentiment_settings_get()
    options = ScoringOptions(multilingual=org.multilingual_enabled, base_language=org.base_language or "en")
    leased = scoring_lease(message_ids, claimer=claimer, now=now)
    messages = list(
        Message.objects.filter(pk__in=leased)
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
