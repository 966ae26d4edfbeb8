"""Staff presence: set from the UI/API, pushed live, and Offline after the last socket closes.
A representative who becomes Available is offered the waiting conversations of their queues
(``conversations.services.queue_routing``).

Open staff sockets are rows of ``StaffConnection`` (one per websocket channel name), so every
Daphne process sees every socket. When a socket closes, the consumer waits
``PRESENCE_OFFLINE_GRACE_SECONDS`` and calls ``presence_offline_if_idle``: if no socket is open
anywhere by then (a page reload reconnects well within the grace), the staff member is Offline.

Presence belongs to the person: what they chose (Available, Busy, Busy - Do not disturb,
Away) is kept in ``chosen_presence``. The center sets them Offline only when no tab is open
anywhere for the grace period, or at once when they sign out (``presence_signed_out``);
opening a socket while Offline restores what they had chosen, so a supervisor who chose Busy
comes back Busy after a reload, a network drop or a night away.

A process that crashes cannot delete its rows: each client ping refreshes its row's
``last_seen`` and rows silent for ``STALE_CONNECTION_SECONDS`` no longer count (the pages ping
every 25 s).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from conversations import events
from conversations.models import Presence, StaffConnection, StaffMember
from conversations.services.queue_routing import representative_fill
from sentiment_admin.inputs import echo

STALE_CONNECTION_SECONDS = 300


class InvalidPresence(ValueError):
    code = "invalid_presence"


def _live_connections(staff_id: int):
    cutoff = timezone.now() - timedelta(seconds=STALE_CONNECTION_SECONDS)
    return StaffConnection.objects.filter(staff_id=staff_id, last_seen__gte=cutoff)


@transaction.atomic
def presence_set(*, staff: StaffMember | int, presence: str) -> StaffMember:
    """The person chooses a presence; takes effect for the very next notification. A chosen
    presence other than Offline is remembered and restored after the center's own Offline."""
    if presence not in Presence.values:
        raise InvalidPresence(f"Unknown presence {echo(presence)}; use one of {', '.join(Presence.values)}.")
    staff_id = staff if isinstance(staff, int) else staff.pk
    if presence != Presence.OFFLINE:
        StaffMember.objects.filter(pk=staff_id).exclude(chosen_presence=presence).update(
            chosen_presence=presence
        )
    return _presence_write(staff_id, presence)


def _presence_write(staff_id: int, presence: str) -> StaffMember:
    """Store a presence and announce it after commit (inside a transaction)."""
    member = StaffMember.objects.select_for_update().select_related("user").get(pk=staff_id)
    if member.presence == presence:
        return member
    member.presence = presence
    member.presence_changed_at = timezone.now()
    member.save(update_fields=["presence", "presence_changed_at"])
    label = str(Presence(presence).label)
    name = member.display_name
    transaction.on_commit(
        lambda: events.broadcast_presence_changed(
            staff_id=staff_id, presence=presence, label=label, name=name
        )
    )
    if presence == Presence.AVAILABLE:
        representative_fill(staff=member)  # waiting conversations of their queues come to them
    return member


@transaction.atomic
def presence_socket_opened(*, staff: StaffMember | int, channel_name: str) -> StaffMember:
    staff_id = staff if isinstance(staff, int) else staff.pk
    StaffConnection.objects.update_or_create(
        channel_name=channel_name, defaults={"staff_id": staff_id, "last_seen": timezone.now()}
    )
    member = StaffMember.objects.get(pk=staff_id)
    if member.presence == Presence.OFFLINE:
        member = _presence_write(staff_id, member.chosen_presence or Presence.AVAILABLE)
    return member


def presence_socket_closed(*, staff: StaffMember | int, channel_name: str) -> int:
    """Forget one socket; returns how many sockets this staff member still has open."""
    staff_id = staff if isinstance(staff, int) else staff.pk
    StaffConnection.objects.filter(channel_name=channel_name).delete()
    return _live_connections(staff_id).count()


def presence_socket_seen(*, channel_name: str) -> None:
    """The client on this socket is alive (called on its pings)."""
    StaffConnection.objects.filter(channel_name=channel_name).update(last_seen=timezone.now())


@transaction.atomic
def presence_offline_if_idle(*, staff: StaffMember | int) -> bool:
    """Set Offline when no socket is open anywhere. Returns True when it did."""
    staff_id = staff if isinstance(staff, int) else staff.pk
    member = StaffMember.objects.select_for_update().get(pk=staff_id)
    if _live_connections(staff_id).exists() or member.presence == Presence.OFFLINE:
        return False
    StaffConnection.objects.filter(staff_id=staff_id).delete()  # stale rows of crashed processes
    _presence_write(staff_id, Presence.OFFLINE)
    return True


@transaction.atomic
def presence_signed_out(*, staff: StaffMember | int) -> None:
    """Signing out is leaving: Offline at once, whatever tabs are still open (their sockets
    no longer count); the chosen presence is kept for the next sign-in."""
    staff_id = staff if isinstance(staff, int) else staff.pk
    StaffConnection.objects.filter(staff_id=staff_id).delete()
    _presence_write(staff_id, Presence.OFFLINE)
