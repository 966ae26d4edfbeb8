"""Queries over conversations and staff. Read-only; every list is scoped to its viewer."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.db.models import Count, Q, QuerySet
from django.utils.crypto import constant_time_compare

from conversations.models import (
    ONGOING_STATUSES,
    Conversation,
    IntegrationToken,
    Presence,
    Role,
    StaffMember,
)


def staff_for_user(user) -> StaffMember | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return StaffMember.objects.filter(user=user).select_related("user").first()


def staff_for_socket(*, user, session) -> StaffMember | None:
    """The staff member a socket signed in as, if that is still true now: its session still
    exists and names this user (a sign-out deletes it; a password change voids its hash), the
    account is active, and it is still a staff member. Otherwise None."""
    session_key = getattr(session, "session_key", None)
    if not getattr(user, "is_authenticated", False) or not session_key:
        return None
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    if str(data.get(SESSION_KEY)) != str(user.pk):
        return None
    staff = StaffMember.objects.select_related("user").filter(user_id=user.pk, user__is_active=True).first()
    if staff is None:
        return None
    session_hash = data.get(HASH_SESSION_KEY)
    if session_hash and not constant_time_compare(session_hash, staff.user.get_session_auth_hash()):
        return None
    return staff


def user_is_admin(user) -> bool:
    """Only admins change settings: the Administrators group's permission, or a superuser."""
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm(
        "insights.change_sentimentsettings"
    )


def conversations_visible_to(staff: StaffMember) -> QuerySet[Conversation]:
    """Representatives see their own conversations; supervisors their queues'; admins all."""
    qs = Conversation.objects.select_related("queue", "customer", "representative__user")
    if staff.role == Role.ADMIN:
        return qs
    if staff.role == Role.SUPERVISOR:
        return qs.filter(queue__in=staff.queues.all())
    return qs.filter(representative=staff)


def integration_tokens_list() -> QuerySet[IntegrationToken]:
    """Every integration key (never the key itself: only its prefix is stored in clear)."""
    return IntegrationToken.objects.order_by("pk")


def ongoing_conversations_for(staff: StaffMember) -> QuerySet[Conversation]:
    return conversations_visible_to(staff).filter(status__in=ONGOING_STATUSES)


def assignable_representatives(staff: StaffMember, *, target_queue=None) -> QuerySet[StaffMember]:
    """Who this person may hand a conversation to, whichever door (page or API) they use:
    admins any representative; supervisors the representatives of their own queues, plus those
    of the queue the conversation is being transferred to."""
    reps = StaffMember.objects.filter(role=Role.REPRESENTATIVE)
    if staff.role == Role.ADMIN:
        return reps
    allowed = Q(queues__in=staff.queues.all())
    if target_queue is not None:
        allowed |= Q(queues=target_queue)
    return reps.filter(allowed).distinct()


def waiting_conversations(queue_ids: Iterable[int]) -> QuerySet[Conversation]:
    """Ongoing conversations of these queues that no representative has yet, oldest first:
    the order queue routing serves them in."""
    return Conversation.objects.filter(
        queue_id__in=list(queue_ids), representative__isnull=True, status__in=ONGOING_STATUSES
    ).order_by("created_at", "pk")


def queue_positions(queue_id: int) -> dict[int, int]:
    """Place in the queue (1 = next) of each waiting conversation of one queue."""
    ids = waiting_conversations([queue_id]).values_list("pk", flat=True)
    return {pk: place for place, pk in enumerate(ids, start=1)}


def queue_position(conversation: Conversation) -> int | None:
    """The conversation's place in its queue while it waits, else None."""
    if conversation.representative_id or conversation.status not in ONGOING_STATUSES:
        return None
    ahead = waiting_conversations([conversation.queue_id]).filter(
        Q(created_at__lt=conversation.created_at)
        | Q(created_at=conversation.created_at, pk__lt=conversation.pk)
    )
    return ahead.count() + 1


def routing_candidates(queue_id: int) -> QuerySet[StaffMember]:
    """Representatives of the queue who are Available, with ``load`` (their ongoing
    conversations) annotated: whom queue routing may offer a conversation to."""
    return (
        StaffMember.objects.filter(role=Role.REPRESENTATIVE, presence=Presence.AVAILABLE, queues__pk=queue_id)
        .annotate(load=Count("conversations", filter=Q(conversations__status__in=ONGOING_STATUSES)))
        .select_related("user")
    )


def representative_load(staff_id: int) -> int:
    return Conversation.objects.filter(representative_id=staff_id, status__in=ONGOING_STATUSES).count()
