"""Creating and changing a Chatwoot connection from the Insights → Integrations area.

Every changed field is audited like the sentiment settings (``SettingsAuditEntry``, scope
``Chatwoot connection <id>``): who, when, old → new. The access token is write-only: the audit
says "(changed)", never its value, and a blank token keeps the current one. The base URL must
pass the same address rule as a webhook (``insights.services.addresses``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from conversations.models import Queue
from insights.chatwoot.models import ChatwootConnection
from insights.models import SettingsAuditEntry
from insights.services.addresses import address_check

EDITABLE_FIELDS = ("name", "base_url", "account_id", "default_queue", "private_notes", "active")
_MAP_FIELDS = ("inbox_queues", "team_queues")


def audit_scope(connection: ChatwootConnection) -> str:
    return f"Chatwoot connection {connection.pk}"


def _map_display(mapping: dict, kind: str) -> str:
    if not mapping:
        return "(none)"
    names = dict(Queue.objects.filter(pk__in=mapping.values()).values_list("pk", "name"))
    return ", ".join(
        f"{kind} {key} → {names.get(value, value)}"
        for key, value in sorted(mapping.items(), key=lambda kv: int(kv[0]))
    )[:255]


def _display(field: str, value: Any) -> str:
    if field == "default_queue":
        return value.name if value else "(none)"
    if field in _MAP_FIELDS:
        return _map_display(value, "inbox" if field == "inbox_queues" else "team")
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)[:255]


def _clean_map(field: str, mapping: dict) -> dict[str, int]:
    """``{"<chatwoot id>": <queue id>}`` with existing queues only."""
    clean: dict[str, int] = {}
    for key, value in (mapping or {}).items():
        if not str(key).isdigit() or int(key) < 1:
            raise ValidationError({field: f"{key!r} is not a Chatwoot id."})
        clean[str(int(key))] = int(value)
    missing = set(clean.values()) - set(
        Queue.objects.filter(pk__in=clean.values()).values_list("pk", flat=True)
    )
    if missing:
        raise ValidationError({field: "Every mapped queue must exist."})
    return clean


@transaction.atomic
def chatwoot_connection_save(
    *,
    actor: AbstractBaseUser,
    connection: ChatwootConnection | None = None,
    api_access_token: str = "",
    **changes: Any,
) -> ChatwootConnection:
    """Create (``connection=None``) or change a connection, audit each changed field."""
    unknown = set(changes) - set(EDITABLE_FIELDS) - set(_MAP_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown Chatwoot settings: {', '.join(sorted(unknown))}")
    for field in _MAP_FIELDS:
        if field in changes:
            changes[field] = _clean_map(field, changes[field])
    creating = connection is None
    if creating:
        if not api_access_token:
            raise ValidationError({"api_access_token": "A new connection needs Chatwoot's access token."})
        connection = ChatwootConnection()
    else:
        connection = ChatwootConnection.objects.select_for_update().get(pk=connection.pk)
    audit: list[tuple[str, str, str]] = []
    for field, new in changes.items():
        old = getattr(connection, field) if not creating or field in _MAP_FIELDS else None
        if not creating and old == new:
            continue
        label = str(ChatwootConnection._meta.get_field(field).verbose_name)
        audit.append((label, "(new)" if creating else _display(field, old), _display(field, new)))
        setattr(connection, field, new)
    if api_access_token and api_access_token != connection.api_access_token:
        audit.append(("access token", "(new)" if creating else "(set)", "(changed)"))
        connection.api_access_token = api_access_token
    if not audit:
        return connection
    if "base_url" in changes:
        address_check(connection.base_url, field="base_url", what="Chatwoot")
    connection.full_clean()
    connection.save()
    scope = audit_scope(connection)
    SettingsAuditEntry.objects.bulk_create(
        SettingsAuditEntry(actor=actor, scope=scope, field=field, old_value=old, new_value=new)
        for field, old, new in audit
    )
    return connection
