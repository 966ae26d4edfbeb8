"""Read a Chatwoot account through its API with the connection's token: its inboxes, teams and
agents, and how each maps to the center (``manage.py chatwoot_check``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from conversations.models import Queue, StaffMember
from insights.chatwoot.models import ChatwootConnection
from insights.services.addresses import address_refusal


class ChatwootUnreachable(Exception):
    pass


@dataclass
class AccountCheck:
    inboxes: list[tuple[int, str, str]] = field(default_factory=list)  # (id, name, queue it maps to)
    teams: list[tuple[int, str, str]] = field(default_factory=list)
    agents: list[tuple[int, str, str, str]] = field(
        default_factory=list
    )  # (id, name, email, staff member or "")


def _get(client: httpx.Client, connection: ChatwootConnection, tail: str):
    url = f"{connection.base_url.rstrip('/')}/api/v1/accounts/{connection.account_id}/{tail}"
    refusal = address_refusal(connection.base_url, what="Chatwoot")  # DNS may have changed
    if refusal:
        raise ChatwootUnreachable(refusal)
    try:
        response = client.get(url, headers={"api_access_token": connection.api_access_token})
    except httpx.HTTPError as exc:
        raise ChatwootUnreachable(f"{url}: {type(exc).__name__}: {exc}") from None
    if response.status_code in (401, 403):
        raise ChatwootUnreachable(f"{url}: the access token was refused (HTTP {response.status_code})")
    if response.status_code != 200:
        raise ChatwootUnreachable(f"{url}: HTTP {response.status_code}")
    data = response.json()
    return data.get("payload", data) if isinstance(data, dict) else data


def chatwoot_account_check(
    *, connection: ChatwootConnection, client: httpx.Client | None = None
) -> AccountCheck:
    own = client is None
    client = client or httpx.Client(timeout=10)
    queues = {q.pk: q.name for q in Queue.objects.all()}
    default = connection.default_queue.name
    try:
        result = AccountCheck()
        for inbox in _get(client, connection, "inboxes"):
            queue = queues.get(connection.inbox_queues.get(str(inbox["id"])), default)
            result.inboxes.append((inbox["id"], inbox.get("name", ""), queue))
        for team in _get(client, connection, "teams"):
            queue = queues.get(connection.team_queues.get(str(team["id"])), "(inbox's queue)")
            result.teams.append((team["id"], team.get("name", ""), queue))
        for agent in _get(client, connection, "agents"):
            email = agent.get("email") or ""
            staff = list(StaffMember.objects.filter(user__email__iexact=email)[:2]) if email else []
            result.agents.append(
                (agent["id"], agent.get("name", ""), email, staff[0].display_name if len(staff) == 1 else "")
            )
        return result
    finally:
        if own:
            client.close()
