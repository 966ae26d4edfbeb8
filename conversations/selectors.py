"""Queries over conversations and staff. Read-only; every list is scoped to its viewer."""

from __future__ import annotations

from django.db.models import QuerySet

from conversations.models import ONGOING_STATUSES, Conversation, Role, StaffMember


def staff_for_user(user) -> StaffMember | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return StaffMember.objects.filter(user=user).select_related("user").first()


def user_is_admin(user) -> bool:
    """Only admins change settings: the Administrators group's permission, or a superuser."""
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm("insights.change_sentimentsettings")


def conversations_visible_to(staff: StaffMember) -> QuerySet[Conversation]:
    """Representatives see their own conversations; supervisors their queues'; admins all."""
    qs = Conversation.objects.select_related("queue", "customer", "representative__user")
    if staff.role == Role.ADMIN:
        return qs
    if staff.role == Role.SUPERVISOR:
        return qs.filter(queue__in=staff.queues.all())
    return qs.filter(representative=staff)


def ongoing_conversations_for(staff: StaffMember) -> QuerySet[Conversation]:
    return conversations_visible_to(staff).filter(status__in=ONGOING_STATUSES)
