"""Retention: clear sentiment data older than the organisation's retention setting.

    ./manage.py purge_sentiment             # apply SentimentSettings.retention_days
    ./manage.py purge_sentiment --dry-run   # only count what would be cleared
    ./manage.py purge_sentiment --days 30   # a one-off shorter window (never longer than needed)

What "sentiment data" means here, for everything older than the cut-off:
- customer messages: score, level, confidence, probabilities, model version and scoring time
  are cleared and the message is marked "not scored" (skipped), so no worker scores it again;
  the text of the transcript itself is kept (transcripts have their own retention);
- conversations whose last activity is older than the cut-off: their aggregate score, level,
  start level and trend are cleared;
- alerts and supervisor notifications (with their webhook delivery records), and corrections.

A retention of 0 days keeps sentiment data forever (purging is off); run it from cron daily.

The purge works in small transactions of ``PURGE_BATCH`` rows, so on SQLite (one writer at a
time) customer messages keep being stored while a large purge runs; run again, it picks up
where an interrupted run stopped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations.models import Conversation, Message, ScoringStatus, Sender, Trend
from insights.models import (
    NotificationRecipient,
    SentimentAlert,
    SentimentCorrection,
    WebhookDelivery,
    WebhookEvent,
)
from insights.selectors import sentiment_settings_get

_SCORED_STATES = (ScoringStatus.SCORED, ScoringStatus.PENDING, ScoringStatus.NOT_SCORED, ScoringStatus.FAILED)
PURGE_BATCH = 500


@dataclass(frozen=True)
class PurgeCounts:
    messages: int
    conversations: int
    alerts: int
    notifications: int
    webhook_deliveries: int
    webhook_events: int
    corrections: int


def _messages(cutoff: datetime):
    has_data = (
        Q(scoring_status__in=_SCORED_STATES)
        | Q(sentiment_score__isnull=False)
        | Q(sentiment_level__isnull=False)
        | Q(probabilities__isnull=False)
    )
    return Message.objects.filter(created_at__lt=cutoff, sender=Sender.CUSTOMER).filter(has_data)


def _conversations(cutoff: datetime):
    return (
        Conversation.objects.annotate(last_activity=Coalesce("last_message_at", "created_at"))
        .filter(last_activity__lt=cutoff)
        .filter(
            Q(sentiment_score__isnull=False)
            | Q(sentiment_level__isnull=False)
            | Q(start_sentiment_level__isnull=False)
            | ~Q(sentiment_trend=Trend.STEADY)
        )
    )


def _in_batches(queryset, change, *, batch: int) -> None:
    """Apply ``change(pks)`` to the rows of ``queryset``, ``batch`` rows per transaction, until
    none is left (each batch takes its rows out of ``queryset``)."""
    while True:
        with transaction.atomic():
            pks = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch])
            if not pks:
                return
            change(pks)


def sentiment_data_purge(*, cutoff: datetime, dry_run: bool = False, batch: int = PURGE_BATCH) -> PurgeCounts:
    """Clear every piece of sentiment data created before ``cutoff``, ``batch`` rows per
    transaction; returns what was (or would be) cleared."""
    messages = _messages(cutoff)
    conversations = _conversations(cutoff)
    alerts = SentimentAlert.objects.filter(created_at__lt=cutoff)
    corrections = SentimentCorrection.objects.filter(created_at__lt=cutoff)
    webhook_events = WebhookEvent.objects.filter(created_at__lt=cutoff)  # their bodies carry scores
    counts = PurgeCounts(
        messages=messages.count(),
        conversations=conversations.count(),
        alerts=alerts.count(),
        notifications=NotificationRecipient.objects.filter(alert__in=alerts).count(),
        webhook_deliveries=WebhookDelivery.objects.filter(alert__in=alerts).count(),
        webhook_events=webhook_events.count(),
        corrections=corrections.count(),
    )
    if dry_run:
        return counts
    # Corrections point at messages, alerts at messages and conversations: delete them first.
    _in_batches(corrections, lambda pks: SentimentCorrection.objects.filter(pk__in=pks).delete(), batch=batch)
    _in_batches(webhook_events, lambda pks: WebhookEvent.objects.filter(pk__in=pks).delete(), batch=batch)
    # Deleting an alert cascades to its notification recipients and webhook deliveries.
    _in_batches(alerts, lambda pks: SentimentAlert.objects.filter(pk__in=pks).delete(), batch=batch)
    _in_batches(
        messages,
        lambda pks: Message.objects.filter(pk__in=pks).update(
            scoring_status=ScoringStatus.SKIPPED,
            sentiment_score=None,
            sentiment_level=None,
            confidence=None,
            probabilities=None,
            model_version="",
            scoring_error="",
            scored_at=None,
        ),
        batch=batch,
    )
    _in_batches(
        conversations,
        lambda pks: Conversation.objects.filter(pk__in=pks).update(
            sentiment_score=None,
            sentiment_level=None,
            start_sentiment_level=None,
            sentiment_trend=Trend.STEADY,
        ),
        batch=batch,
    )
    return counts


class Command(BaseCommand):
    help = "Clear sentiment data older than the retention setting (Insights page). Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only report what would be cleared.")
        parser.add_argument(
            "--days", type=int, default=None, help="Override the retention in days for this run (>= 1)."
        )

    def handle(self, *args, dry_run: bool = False, days: int | None = None, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        retention = days if days is not None else sentiment_settings_get().retention_days
        if not retention:
            self.stdout.write("Retention is 0 days (keep forever): nothing purged.")
            return
        cutoff = timezone.now() - timedelta(days=retention)
        counts = sentiment_data_purge(cutoff=cutoff, dry_run=dry_run)
        summary = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in asdict(counts).items())
        verb = "Would clear" if dry_run else "Cleared"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} sentiment data older than {retention} days ({cutoff:%Y-%m-%d %H:%M} UTC): {summary}."
            )
        )
