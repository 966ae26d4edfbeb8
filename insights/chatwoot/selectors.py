"""What the Insights → Integrations page shows about each Chatwoot connection."""

from __future__ import annotations

from dataclasses import dataclass

from insights.chatwoot.models import ChatwootCall, ChatwootConnection, ChatwootDelivery, ChatwootUnknownAgent


@dataclass
class ConnectionSummary:
    connection: ChatwootConnection
    inbound: list[ChatwootDelivery]
    outbound: list[ChatwootCall]
    unknown_agents: list[ChatwootUnknownAgent]


def chatwoot_connections_summary(*, last: int = 10) -> list[ConnectionSummary]:
    return [
        ConnectionSummary(
            connection=c,
            inbound=list(c.deliveries.all()[:last]),
            outbound=list(c.calls.order_by("-created_at", "-id")[:last]),
            unknown_agents=list(c.unknown_agents.order_by("-last_seen")),
        )
        for c in ChatwootConnection.objects.select_related("default_queue").order_by("pk")
    ]
