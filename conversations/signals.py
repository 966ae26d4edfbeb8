"""Receivers for changes that bypass the services (Django admin, shell, the logout view):
each one only calls ``conversations.services.access.staff_access_changed`` (and, on a
sign-out, ``conversations.services.presence.presence_signed_out``)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from conversations.models import StaffMember
from conversations.services.access import staff_access_changed
from conversations.services.presence import presence_signed_out

# Saves that do not change who may see what (presence, the login timestamp).
_NOT_ACCESS_FIELDS = frozenset({"presence", "presence_changed_at", "last_login", "last_seen_at"})


def _staff_ids_of_user(user_id) -> list[int]:
    return list(StaffMember.objects.filter(user_id=user_id).values_list("pk", flat=True))


def _changes_access(update_fields) -> bool:
    return update_fields is None or not set(update_fields) <= _NOT_ACCESS_FIELDS


@receiver(user_logged_out, dispatch_uid="conversations.access.logged_out")
def _on_logged_out(sender, request, user, **kwargs):
    if user is None:
        return
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    staff_access_changed(staff_ids=_staff_ids_of_user(user.pk), signed_out_session_key=session_key)


@receiver(user_logged_out, dispatch_uid="conversations.presence.logged_out")
def _presence_on_logged_out(sender, request, user, **kwargs):
    """Signing out is Offline at once (not after the sockets' grace period)."""
    if user is None:
        return
    for staff_id in _staff_ids_of_user(user.pk):
        presence_signed_out(staff=staff_id)


@receiver(post_save, sender=get_user_model(), dispatch_uid="conversations.access.user_saved")
def _on_user_saved(sender, instance, created, update_fields=None, **kwargs):
    if not created and _changes_access(update_fields):
        staff_access_changed(staff_ids=_staff_ids_of_user(instance.pk))


@receiver(post_save, sender=StaffMember, dispatch_uid="conversations.access.staff_saved")
def _on_staff_saved(sender, instance, created, update_fields=None, **kwargs):
    if not created and _changes_access(update_fields):
        staff_access_changed(staff_ids=[instance.pk])


@receiver(post_delete, sender=StaffMember, dispatch_uid="conversations.access.staff_deleted")
def _on_staff_deleted(sender, instance, **kwargs):
    staff_access_changed(staff_ids=[instance.pk])


@receiver(m2m_changed, sender=StaffMember.queues.through, dispatch_uid="conversations.access.queues_changed")
def _on_queues_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if not reverse:  # staff.queues.add/remove/clear(...)
        if action in ("post_add", "post_remove", "post_clear"):
            staff_access_changed(staff_ids=[instance.pk])
    elif action in ("post_add", "post_remove"):  # queue.staff.add/remove(...)
        staff_access_changed(staff_ids=pk_set or [])
    elif action == "pre_clear":  # queue.staff.clear(): who is in it is known only before
        staff_access_changed(staff_ids=list(instance.staff.values_list("pk", flat=True)))
