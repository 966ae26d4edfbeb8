from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from insights.levels import SentimentLevel
from sentiment_admin.text import display_text


class Queue(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    REPRESENTATIVE = "representative", _("Service representative")
    SUPERVISOR = "supervisor", _("Supervisor")
    ADMIN = "admin", _("Administrator")


class Presence(models.TextChoices):
    AVAILABLE = "available", _("Available")
    BUSY = "busy", _("Busy")
    BUSY_DND = "busy_dnd", _("Busy - Do not disturb")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


class StaffMember(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.REPRESENTATIVE)
    presence = models.CharField(max_length=20, choices=Presence.choices, default=Presence.OFFLINE)
    presence_changed_at = models.DateTimeField(null=True, blank=True)
    # What the person last chose (never Offline): restored when they come back after the
    # center set them Offline (every tab closed for the grace period, or signed out).
    chosen_presence = models.CharField(max_length=20, choices=Presence.choices, default=Presence.AVAILABLE)
    queues = models.ManyToManyField(Queue, blank=True, related_name="staff")
    # The person's id in an integrated system (a helpdesk's agent id): integrations name a
    # representative by it, or by e-mail, instead of the center's own id.
    external_id = models.CharField(max_length=100, blank=True, default="", db_index=True)
    # Queue routing (conversations.services.queue_routing): how many ongoing conversations
    # routing gives this representative at once, and when it last gave them one (fairness).
    capacity = models.PositiveSmallIntegerField(
        default=3, help_text="Most ongoing conversations queue routing gives this representative at once."
    )
    last_routed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.user.get_full_name() or self.user.get_username()


class Customer(models.Model):
    name = models.CharField(max_length=150)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    external_id = models.CharField(max_length=100, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def short_reference(self) -> str:
        """The last characters of the customer's reference (the integration's id for them, else
        ours): enough to tell two customers of the same name apart in a list."""
        return (self.external_id or str(self.pk or ""))[-4:]


class Channel(models.TextChoices):
    CHAT = "chat", _("Chat")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    SOCIAL = "social", _("Social")
    VOICE = "voice", _("Voice transcript")


class ConversationStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACTIVE = "active", _("Active")
    WAITING = "waiting", _("Waiting")
    WRAP_UP = "wrap_up", _("Wrap-up")
    CLOSED = "closed", _("Closed")


ONGOING_STATUSES = (
    ConversationStatus.OPEN,
    ConversationStatus.ACTIVE,
    ConversationStatus.WAITING,
    ConversationStatus.WRAP_UP,
)


class Trend(models.TextChoices):
    RISING = "rising", _("Rising")
    STEADY = "steady", _("Steady")
    FALLING = "falling", _("Falling")


def _new_customer_token() -> str:
    return secrets.token_urlsafe(24)


class Conversation(models.Model):
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="conversations")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="conversations")
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.CHAT)
    representative = models.ForeignKey(
        StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    status = models.CharField(
        max_length=20, choices=ConversationStatus.choices, default=ConversationStatus.OPEN, db_index=True
    )
    subject = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveIntegerField(default=0)
    language = models.CharField(max_length=16, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    sentiment_level = models.SmallIntegerField(choices=SentimentLevel.choices, null=True, blank=True)
    sentiment_trend = models.CharField(max_length=10, choices=Trend.choices, default=Trend.STEADY)
    start_sentiment_level = models.SmallIntegerField(choices=SentimentLevel.choices, null=True, blank=True)
    # The customer (or the channel integration) declined sentiment analysis: nothing is scored.
    scoring_opt_out = models.BooleanField(default=False)
    # Secret that authenticates the customer's chat socket for this conversation only.
    customer_token = models.CharField(max_length=64, unique=True, default=_new_customer_token, editable=False)
    # The integration's own id for the conversation: creating it again with the same id
    # returns the stored one (idempotent create).
    external_id = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["queue", "status"]),
            models.Index(fields=["representative", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~models.Q(external_id=""),
                name="conversation_external_id_unique",
            ),
        ]

    # Not stored: True on the instance conversation_create returns for a known external_id.
    replayed = False

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer} ({self.queue})"

    @property
    def is_ongoing(self) -> bool:
        return self.status != ConversationStatus.CLOSED


class Sender(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    REPRESENTATIVE = "representative", _("Representative")
    BOT = "bot", _("Bot")
    SYSTEM = "system", _("System")


class ScoringStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be scored")
    SCORED = "scored", _("Scored")
    NOT_SCORED = "not_scored", _("Not scored (language not supported)")
    SKIPPED = "skipped", _("Not scored (monitoring off or opted out)")
    FAILED = "failed", _("Not scored (the scorer failed on it)")
    NOT_APPLICABLE = "n/a", _("Not a customer message")


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    sender = models.CharField(max_length=20, choices=Sender.choices)
    author = models.ForeignKey(StaffMember, null=True, blank=True, on_delete=models.SET_NULL)
    text = models.TextField()
    # The sender's own id for the message: a re-send after a lost acknowledgement is the same message.
    client_id = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    scoring_status = models.CharField(
        max_length=12, choices=ScoringStatus.choices, default=ScoringStatus.NOT_APPLICABLE, db_index=True
    )
    language = models.CharField(max_length=16, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    sentiment_level = models.SmallIntegerField(choices=SentimentLevel.choices, null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    probabilities = models.JSONField(null=True, blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    # Why a message is ``failed``: the scorer raised on it alone, every attempt.
    scoring_error = models.CharField(max_length=200, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    # The scoring lease: the process that claimed a pending message scores it alone until
    # ``scoring_lease_until``; after that (its holder crashed) another may take it over.
    scoring_lease_until = models.DateTimeField(null=True, blank=True)
    scoring_claimed_by = models.CharField(max_length=64, blank=True)
    # The scoring outbox: set in the transaction that stores the score, cleared once its
    # ``conversation.scored`` reached the channel layer. A score stored while Redis restarts,
    # or by a worker that died after commit, is announced again by the scoring sweeper.
    announce_pending = models.BooleanField(default=False)

    # Not stored: True on the instance message_ingest returns for a re-send of a stored client_id,
    # so an API can answer "already there" (200) instead of "created" (201).
    replayed = False

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~models.Q(client_id=""),
                name="message_client_id_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["scored_at"],
                condition=models.Q(announce_pending=True),
                name="message_announce_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq} {self.sender}"

    @property
    def display_text(self) -> str:
        """The text as pages show it: bidi controls neutralised (``text`` keeps them for audit)."""
        return display_text(self.text)


class IntegrationScope(models.TextChoices):
    """What an integration key may do; chosen when the key is created."""

    INGEST = "ingest", _("Create conversations, post messages and replies, read the transcript")
    MANAGE = "manage", _("Close, assign and transfer conversations; list queues, staff and channels")
    READ_SENTIMENT = (
        "read_sentiment",
        _("Read sentiment: conversation level, trend, alerts, per-message scores, the event stream"),
    )


class IntegrationToken(models.Model):
    """A channel integration's API key. Only the SHA-256 of the key is stored; the key itself
    is shown once, when created (``conversations.services.ingest.integration_token_create``).
    ``scopes`` is a space-separated list of ``IntegrationScope`` values."""

    name = models.CharField(max_length=100)
    scopes = models.CharField(max_length=100, default=IntegrationScope.INGEST)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="First characters, to tell keys apart")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope_list


class StaffConnection(models.Model):
    """One open staff websocket. Rows live in the database so that every Daphne process sees
    every socket: a staff member is Offline only when no process holds a socket for them."""

    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="connections")
    channel_name = models.CharField(max_length=200, unique=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    # Refreshed by the client's pings: rows of a crashed process stop counting once stale.
    last_seen = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.staff_id} via {self.channel_name}"
