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
- alerts and supervisor notifications (with their webhook delivery records), and corrections;
- the rows of every outbox kind (``insights.sender``: webhook events, an adapter's calls such as
  Chatwoot's), sent, given up or still pending: what went or was to go out carries scores and
  levels (webhook bodies, Chatwoot labels, custom attributes and private notes).

A retention of 0 days keeps sentiment data forever (purging is off); run it from cron daily.

The purge works in small transactions of ``PURGE_BATCH`` rows, so on SQLite (one writer at a
time) customer messages keep being stored while a large purge runs; run again, it picks up
where an interrupted run stopped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
from insights.sender import outbox_kinds
from insights.services.webhooks import WEBHOOK_OUTBOX

_SCORED_STATES = (ScoringStatus.SCORED, ScoringStatus.PENDING, ScoringStatus.NOT_SCORED, ScoringStatus.FAILED)
PURGE_BATCH = 500


@dataclass(frozen=True)
class PurgeCounts:
    messages: int
    conversations: int
    alerts: int
    notifications: int
    webhook_deliveries: int
    corrections: int
    # Rows of each registered outbox kind, by its name ("webhook", "chatwoot", ...).
    outbox: dict[str, int] = field(default_factory=dict)

    @property
    def webhook_events(self) -> int:
        return self.outbox.get(WEBHOOK_OUTBOX.name, 0)

    def report(self) -> list[tuple[str, int]]:
        """(what, how many) for each kind of data, as the command prints them."""
        labels = {kind.name: str(kind.model._meta.verbose_name_plural) for kind in outbox_kinds()}
        counts = [(name.replace("_", " "), n) for name, n in asdict(self).items() if name != "outbox"]
        return counts + [(labels.get(name, name), n) for name, n in self.outbox.items()]


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
    # Pending rows go too: the data must not outlive the retention, delivered or not (a sender
    # holding one as it goes logs that its lease ran out).
    outbox = {kind.name: kind.model.objects.filter(created_at__lt=cutoff) for kind in outbox_kinds()}
    # A delivery of a scored-message event names its message and has no alert to cascade from.
    deliveries = WebhookDelivery.objects.filter(Q(alert__in=alerts) | Q(created_at__lt=cutoff))
    counts = PurgeCounts(
        messages=messages.count(),
        conversations=conversations.count(),
        alerts=alerts.count(),
        notifications=NotificationRecipient.objects.filter(alert__in=alerts).count(),
        webhook_deliveries=deliveries.count(),
        corrections=corrections.count(),
        outbox={name: rows.count() for name, rows in outbox.items()},
    )
    if dry_run:
        return counts
    # Corrections point at messages, alerts at messages and conversations: delete them first.
    _in_batches(corrections, lambda pks: SentimentCorrection.objects.filter(pk__in=pks).delete(), batch=batch)
    for rows in outbox.values():
        _in_batches(
            rows, lambda pks, model=rows.model: model.objects.filter(pk__in=pks).delete(), batch=batch
        )
    _in_batches(
        WebhookDelivery.objects.filter(created_at__lt=cutoff),
        lambda pks: WebhookDelivery.objects.filter(pk__in=pks).delete(),
        batch=batch,
    )
    # Deleting an alert cascades to its notification recipients and (newer) webhook deliveries.
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
        summary = ", ".join(f"{n} {what}" for what, n in counts.report())
        verb = "Would clear" if dry_run else "Cleared"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} sentiment data older than {retention} days ({cutoff:%Y-%m-%d %H:%M} UTC): {summary}."
            )
        )
