"""Access changes reach open sockets.

A socket is authenticated once, when it opens. Whatever later takes access away or changes
it — a sign-out, a deactivated account, a new role, a queue joined or left, the staff member
removed — calls ``staff_access_changed`` (after commit); every socket of that person then
re-checks with ``conversations.selectors.staff_for_socket``: it closes (4401) when the person
may no longer be signed in, a monitor closes (4403) when its conversation is no longer
visible, and the staff socket moves to the queues of the new role. Catch-up and replies
re-check too before they answer, so a missed event cannot leave a door open.

Changes made in the Django admin or the shell do not go through services, so
``conversations.signals`` calls this for them: logins out, ``User`` saves and deletes,
``StaffMember`` role saves and deletes, and queue membership changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db import transaction

from conversations import events


def session_digest(session_key: str | None) -> str:
    """What travels in events instead of a session key."""
    return hashlib.sha256(session_key.encode()).hexdigest() if session_key else ""


def staff_access_changed(*, staff_ids: Iterable[int], signed_out_session_key: str | None = None) -> None:
    """Tell every socket of these staff members to re-check its access, after commit."""
    ids = sorted({int(i) for i in staff_ids if i})
    if not ids:
        return
    digest = session_digest(signed_out_session_key)
    transaction.on_commit(
        lambda: events.broadcast_staff_access_changed(staff_ids=ids, signed_out_session=digest)
    )
