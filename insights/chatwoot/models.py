"""A connection to one Chatwoot account, the agents it named that the center does not know,
and the outbox of calls to Chatwoot's API (stored first, sent with retries)."""

from __future__ import annotations

import secrets

from django.db import models


def _endpoint_secret() -> str:
    return secrets.token_urlsafe(24)


class ChatwootConnection(models.Model):
    name = models.CharField(max_length=100, default="Chatwoot")
    base_url = models.URLField(help_text="Chatwoot's address, e.g. https://app.chatwoot.com")
    account_id = models.PositiveIntegerField()
    api_access_token = models.CharField(
        max_length=200, help_text="An agent or bot access token (Profile settings)"
    )
    # The secret part of this connection's webhook URL: a request without it is a 404.
    endpoint_secret = models.CharField(max_length=64, unique=True, default=_endpoint_secret, editable=False)
    default_queue = models.ForeignKey("conversations.Queue", on_delete=models.PROTECT, related_name="+")
    # {"<inbox id>": <queue id>} and {"<team id>": <queue id>}; a team wins over an inbox.
    inbox_queues = models.JSONField(default=dict, blank=True)
    team_queues = models.JSONField(default=dict, blank=True)
    private_notes = models.BooleanField(
        default=False, help_text="Also post a private note naming the messages that drove an alert"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} (account {self.account_id})"


class ChatwootUnknownAgent(models.Model):
    """An assignee Chatwoot named whom no staff member matches by e-mail (for the admin)."""

    connection = models.ForeignKey(
        ChatwootConnection, on_delete=models.CASCADE, related_name="unknown_agents"
    )
    agent_id = models.PositiveIntegerField()
    email = models.CharField(max_length=254, blank=True)
    name = models.CharField(max_length=150, blank=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "agent_id"], name="chatwoot_unknown_agent_once")
        ]


class CallStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class ChatwootCall(models.Model):
    """One call to Chatwoot's API, stored before it is tried (the outbox)."""

    connection = models.ForeignKey(ChatwootConnection, on_delete=models.CASCADE, related_name="calls")
    chatwoot_conversation = models.PositiveIntegerField()
    kind = models.CharField(max_length=30)  # labels | custom_attributes | private_note
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=CallStatus.choices, default=CallStatus.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)  # set while a sender holds it
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]


class ChatwootDelivery(models.Model):
    """One inbound webhook Chatwoot sent (the setup page's "last deliveries")."""

    connection = models.ForeignKey(ChatwootConnection, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=60)
    outcome = models.CharField(max_length=120)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
