from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from insights.levels import RepresentativeThreshold, SentimentLevel, SupervisorThreshold


class SentimentSettings(models.Model):
    """The organisation's sentiment policy: one row (pk=1), created with the spec's defaults."""

    SINGLETON_PK = 1

    monitoring_enabled = models.BooleanField(_("Monitor real-time customer sentiment"), default=True)
    multilingual_enabled = models.BooleanField(
        _("Score conversations in all supported languages"), default=True
    )
    base_language = models.CharField(_("Base language"), max_length=16, default="en")
    representative_threshold = models.SmallIntegerField(
        _("Show alerts when a customer's sentiment decreases to or below"),
        choices=RepresentativeThreshold.choices,
        default=RepresentativeThreshold.SLIGHTLY_NEGATIVE,
    )
    supervisor_threshold = models.SmallIntegerField(
        _("Send notifications when a customer's sentiment decreases to or below"),
        choices=SupervisorThreshold.choices,
        default=SupervisorThreshold.NEGATIVE,
    )
    sharp_drop_alerts = models.BooleanField(
        _("Also alert on a sharp drop (two or more levels within three customer messages)"), default=False
    )
    webhook_url = models.URLField(_("Webhook URL"), blank=True)
    webhook_secret = models.CharField(_("Webhook signing secret"), max_length=128, blank=True)
    webhook_scored_messages = models.BooleanField(
        _("Also send every scored customer message to the webhook"), default=False
    )
    retention_days = models.PositiveIntegerField(_("Keep sentiment data for (days)"), default=365)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name = _("sentiment analysis settings")
        verbose_name_plural = _("sentiment analysis settings")

    def __str__(self) -> str:
        return "Sentiment analysis settings"


class QueueSentimentOverride(models.Model):
    """Per-queue thresholds; a null field inherits the organisation default."""

    queue = models.OneToOneField(
        "conversations.Queue", on_delete=models.CASCADE, related_name="sentiment_override"
    )
    representative_threshold = models.SmallIntegerField(
        choices=RepresentativeThreshold.choices, null=True, blank=True
    )
    supervisor_threshold = models.SmallIntegerField(
        choices=SupervisorThreshold.choices, null=True, blank=True
    )

    def __str__(self) -> str:
        return f"Override for {self.queue}"


class SettingsAuditEntry(models.Model):
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    scope = models.CharField(max_length=120, default="Organisation")
    field = models.CharField(max_length=100)
    old_value = models.CharField(max_length=255, blank=True)
    new_value = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "settings audit entries"

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {self.actor}: {self.field} {self.old_value} → {self.new_value}"
        )


class AlertAudience(models.TextChoices):
    REPRESENTATIVE = "representative", _("Representative alert")
    SUPERVISOR = "supervisor", _("Supervisor notification")


class AlertKind(models.TextChoices):
    THRESHOLD = "threshold", _("Threshold reached")
    SHARP_DROP = "sharp_drop", _("Sharp drop")
    RECOVERED = "recovered", _("Recovered")


class SentimentAlert(models.Model):
    """One threshold crossing (or recovery) for one audience of one conversation."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="alerts"
    )
    message = models.ForeignKey(
        "conversations.Message", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    audience = models.CharField(max_length=20, choices=AlertAudience.choices)
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    level = models.SmallIntegerField(choices=SentimentLevel.choices)
    threshold = models.SmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # No eligible recipient at the time (e.g. every supervisor Away): kept for the dashboard.
    delivered = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_audience_display()} {self.get_kind_display()} on {self.conversation_id}"


class NotificationRecipient(models.Model):
    alert = models.ForeignKey(SentimentAlert, on_delete=models.CASCADE, related_name="recipients")
    staff = models.ForeignKey(
        "conversations.StaffMember", on_delete=models.CASCADE, related_name="notifications"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "conversations.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "staff"], name="one_recipient_row")]


class ConversationSnooze(models.Model):
    """A supervisor silenced notifications for one conversation until a time."""

    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    staff = models.ForeignKey("conversations.StaffMember", on_delete=models.CASCADE, related_name="snoozes")
    until = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "staff"], name="one_snooze_per_conversation")
        ]


class SentimentCorrection(models.Model):
    """A person said the model got a message wrong; these become training data."""

    message = models.ForeignKey("conversations.Message", on_delete=models.CASCADE, related_name="corrections")
    staff = models.ForeignKey("conversations.StaffMember", null=True, on_delete=models.SET_NULL)
    model_level = models.SmallIntegerField(choices=SentimentLevel.choices, null=True)
    corrected_level = models.SmallIntegerField(choices=SentimentLevel.choices)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Given up")


class OutboxEntry(models.Model):
    """A delivery stored before it is tried, in the transaction that caused it, and sent by the
    process's outbox sender (``insights.sender``), which reads and writes these fields by name:
    ``lease_until`` is set while one sender holds the row, ``attempts`` counts at the claim."""

    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class WebhookEvent(OutboxEntry):
    """One event for the organisation's webhook (the outbox row): its body is fixed when it is
    stored, its ``delivery_id`` is the id the receiver de-duplicates on, the same on every
    attempt. Sent to the webhook URL set at the time of each attempt."""

    delivery_id = models.CharField(max_length=64, unique=True)
    event = models.CharField(max_length=40)
    body = models.JSONField()
    alert = models.ForeignKey(
        SentimentAlert, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_events"
    )
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} ({self.status})"


class WebhookDelivery(models.Model):
    """One attempt to POST one event (``delivery_id``) to the organisation's webhook."""

    delivery_id = models.CharField(max_length=64, blank=True, db_index=True)
    event = models.CharField(max_length=40, default="sentiment.alert")
    alert = models.ForeignKey(
        SentimentAlert, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    url = models.URLField()
    attempt = models.PositiveSmallIntegerField(default=1)
    status_code = models.PositiveSmallIntegerField(null=True)
    error = models.CharField(max_length=255, blank=True)
    succeeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
