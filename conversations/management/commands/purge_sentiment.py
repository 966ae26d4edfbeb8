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
)
from insights.selectors import sentiment_settings_get

_SCORED_STATES = (ScoringStatus.SCORED, ScoringStatus.PENDING, ScoringStatus.NOT_SCORED)


@dataclass(frozen=True)
class PurgeCounts:
    messages: int
    conversations: int
    alerts: int
    notifications: int
    webhook_deliveries: int
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


@transaction.atomic
def sentiment_data_purge(*, cutoff: datetime, dry_run: bool = False) -> PurgeCounts:
    """Clear every piece of sentiment data created before ``cutoff``; returns what was (or would be) cleared."""
    messages = _messages(cutoff)
    conversations = _conversations(cutoff)
    alerts = SentimentAlert.objects.filter(created_at__lt=cutoff)
    corrections = SentimentCorrection.objects.filter(created_at__lt=cutoff)
    counts = PurgeCounts(
        messages=messages.count(),
        conversations=conversations.count(),
        alerts=alerts.count(),
        notifications=NotificationRecipient.objects.filter(alert__in=alerts).count(),
        webhook_deliveries=WebhookDelivery.objects.filter(alert__in=alerts).count(),
        corrections=corrections.count(),
    )
    if dry_run:
        return counts
    # Corrections point at messages, alerts at messages and conversations: delete them first.
    corrections.delete()
    alerts.delete()  # cascades to notification recipients and webhook deliveries
    messages.update(
        scoring_status=ScoringStatus.SKIPPED,
        sentiment_score=None,
        sentiment_level=None,
        confidence=None,
        probabilities=None,
        model_version="",
        scored_at=None,
    )
    Conversation.objects.filter(pk__in=list(conversations.values_list("pk", flat=True))).update(
        sentiment_score=None, sentiment_level=None, start_sentiment_level=None, sentiment_trend=Trend.STEADY
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
            self.style.SUCCESS(f"{verb} sentiment data older than {retention} days ({cutoff:%Y-%m-%d %H:%M} UTC): {summary}.")
        )
