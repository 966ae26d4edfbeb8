"""Reading the request: the queues, staff members and conversations a call names."""

from __future__ import annotations

from conversations.api.errors import BadRequest, NotFound
from conversations.models import Conversation, Queue, StaffMember
from conversations.selectors import conversations_visible_to
from sentiment_admin.inputs import clean_line, parse_id, parse_int


def queue_ref(value) -> Queue | None:
    """A queue by id, or by name (case-insensitive)."""
    if isinstance(value, str) and value.strip():
        name = clean_line(value, "queue", max_length=100)
        found = Queue.objects.filter(name__iexact=name).order_by("pk").first() if name else None
        if found is None and name.isascii() and name.isdigit():
            found = Queue.objects.filter(pk=parse_id(name, "queue")).first()
        return found
    if value is not None and value != "":
        return Queue.objects.filter(pk=parse_id(value, "queue")).first()
    return None


def staff_ref(value) -> StaffMember | None:
    """A staff member by id, or by ``{"id"|"email"|"external_id": ...}`` (e-mail case-insensitive)."""
    staff = StaffMember.objects.select_related("user")
    if isinstance(value, dict):
        if len(value) != 1:
            raise BadRequest("invalid", "Name the representative by one of id, email or external_id.")
        ((key, ref),) = value.items()
        if key == "id":
            return staff.filter(pk=parse_int(ref, "representative.id")).first()
        if not isinstance(ref, str) or not ref.strip():
            raise BadRequest("invalid", f"'representative.{key}' must be a non-empty string.")
        ref = clean_line(ref, f"representative.{key}", max_length=254)
        if key == "email":
            matches = list(staff.filter(user__email__iexact=ref.strip())[:2])
            return matches[0] if len(matches) == 1 else None
        if key == "external_id":
            return staff.filter(external_id=ref.strip()).first()
        raise BadRequest("invalid", "Name the representative by one of id, email or external_id.")
    return staff.filter(pk=parse_int(value, "representative")).first()


def get_conversation(conversation_id: int) -> Conversation:
    conversation = (
        Conversation.objects.select_related("queue", "customer", "representative__user")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound("not_found", f"No conversation {conversation_id}.")
    return conversation


def visible_conversation(request, conversation_id: int) -> Conversation:
    """Integrations reach every conversation; staff only those they may see (others' ids look
    like unknown ones)."""
    if request.staff is None:
        return get_conversation(conversation_id)
    conversation = conversations_visible_to(request.staff).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("not_found", f"No conversation {conversation_id} for you.")
    return conversation
