"""Staff presence: set from the UI/API, pushed live, and Offline after the last socket closes.

Open staff sockets are rows of ``StaffConnection`` (one per websocket channel name), so every
Daphne process sees every socket. When a socket closes, the consumer waits
``PRESENCE_OFFLINE_GRACE_SECONDS`` and calls ``presence_offline_if_idle``: if no socket is open
anywhere by then (a page reload reconnects well within the grace), the staff member is Offline.

Opening a socket while Offline signs the staff member in as Available; any other presence
(Away, Busy, …) is kept, so a supervisor who chose Away stays Away across reloads.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from conversations import events
from conversations.models import Presence, StaffConnection, StaffMember


class InvalidPresence(ValueError):
    code = "invalid_presence"


@transaction.atomic
def presence_set(*, staff: StaffMember | int, presence: str) -> StaffMember:
    """Change a staff member's presence; takes effect for the very next notification."""
    if presence not in Presence.values:
        raise InvalidPresence(f"Unknown presence {presence!r}; use one of {', '.join(Presence.values)}.")
    staff_id = staff if isinstance(staff, int) else staff.pk
    member = StaffMember.objects.select_for_update().select_related("user").get(pk=staff_id)
    if member.presence == presence:
        return member
    member.presence = presence
    member.presence_changed_at = timezone.now()
    member.save(update_fields=["presence", "presence_changed_at"])
    label = str(Presence(presence).label)
    name = member.display_name
    transaction.on_commit(
        lambda: events.broadcast_presence_changed(staff_id=staff_id, presence=presence, label=label, name=name)
    )
    return member


@transaction.atomic
def presence_socket_opened(*, staff: StaffMember | int, channel_name: str) -> StaffMember:
    staff_id = staff if isinstance(staff, int) else staff.pk
    StaffConnection.objects.get_or_create(channel_name=channel_name, defaults={"staff_id": staff_id})
    member = StaffMember.objects.get(pk=staff_id)
    if member.presence == Presence.OFFLINE:
        member = presence_set(staff=staff_id, presence=Presence.AVAILABLE)
    return member


def presence_socket_closed(*, staff: StaffMember | int, channel_name: str) -> int:
    """Forget one socket; returns how many sockets this staff member still has open."""
    staff_id = staff if isinstance(staff, int) else staff.pk
    StaffConnection.objects.filter(channel_name=channel_name).delete()
    return StaffConnection.objects.filter(staff_id=staff_id).count()


@transaction.atomic
def presence_offline_if_idle(*, staff: StaffMember | int) -> bool:
    """Set Offline when no socket is open anywhere. Returns True when it did."""
    staff_id = staff if isinstance(staff, int) else staff.pk
    member = StaffMember.objects.select_for_update().get(pk=staff_id)
    if StaffConnection.objects.filter(staff_id=staff_id).exists() or member.presence == Presence.OFFLINE:
        return False
    presence_set(staff=staff_id, presence=Presence.OFFLINE)
    return True
