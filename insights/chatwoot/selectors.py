"""What the Chatwoot setup pages show about a connection."""

from __future__ import annotations

from dataclasses import dataclass

from insights.chatwoot.models import ChatwootCall, ChatwootConnection, ChatwootDelivery, ChatwootUnknownAgent
from insights.models import SettingsAuditEntry


@dataclass
class ConnectionSummary:
    connection: ChatwootConnection
    inbound: list[ChatwootDelivery]
    outbound: list[ChatwootCall]
    unknown_agents: list[ChatwootUnknownAgent]


def chatwoot_connection_summary(*, connection: ChatwootConnection, last: int = 10) -> ConnectionSummary:
    return ConnectionSummary(
        connection=connection,
        inbound=list(connection.deliveries.all()[:last]),
        outbound=list(connection.calls.order_by("-created_at", "-id")[:last]),
        unknown_agents=list(connection.unknown_agents.order_by("-last_seen")),
    )


def chatwoot_audit_list(*, limit: int = 50):
    """The change history of every Chatwoot connection (``services.setup`` writes it)."""
    return SettingsAuditEntry.objects.filter(scope__startswith="Chatwoot connection ").select_related(
        "actor"
    )[:limit]
