"""Session endpoints for staff (presence, notifications, snooze) and routing (assign, transfer,
close: supervisors of the queue and admins, or integrations with ``manage``); and the JSON 404
for any other path under ``/api/``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from conversations.api.answers import iso, routed_json
from conversations.api.auth import staff_or_integration
from conversations.api.errors import BadRequest, NotFound, handle_errors, json_body, json_error, methods
from conversations.api.refs import queue_ref, staff_ref, visible_conversation
from conversations.models import IntegrationScope, Presence, Role, StaffMember
from conversations.selectors import assignable_representatives
from conversations.services.assignment import conversation_assign, conversation_close, conversation_transfer
from conversations.services.presence import presence_set
from conversations.web import staff_required
from insights import for_conversations
from sentiment_admin.inputs import echo


@staff_required(api=True)
@methods("POST")
@handle_errors
def presence(request):
    data = json_body(request)
    member = presence_set(staff=request.staff, presence=data.get("presence"))
    return JsonResponse(
        {"staff": member.pk, "presence": member.presence, "label": str(Presence(member.presence).label)}
    )


@staff_required(api=True)
@methods("POST")
@handle_errors
def notification_ack(request, notification_id: int):
    try:
        row = for_conversations.notification_acknowledge(notification_id=notification_id, staff=request.staff)
    except for_conversations.NotificationNotFound:
        raise NotFound("not_found", f"No notification {notification_id}.") from None
    return JsonResponse(
        {
            "notification": row.pk,
            "alert": row.alert_id,
            "acknowledged_at": iso(row.acknowledged_at),
            "by": row.acknowledged_by_id,
        }
    )


@staff_required(api=True)
@methods("POST")
@handle_errors
def snooze(request, conversation_id: int):
    conversation = visible_conversation(request, conversation_id)
    data = json_body(request)
    result = for_conversations.conversation_snooze(
        staff=request.staff, conversation=conversation, minutes=data.get("minutes", 0)
    )
    return JsonResponse({"conversation": conversation.pk, "until": iso(result.until) if result else None})


# --- routing: staff (supervisors of the queue, admins) or integrations (manage) ----------------


def _require_router(request, verb: str) -> None:
    if request.staff is not None and request.staff.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise PermissionDenied(f"Only supervisors and admins {verb} conversations.")


def _representative_for(request, value, *, target_queue=None) -> StaffMember:
    """The named representative, if this caller may hand conversations to them: staff by the
    assignment rule (``assignable_representatives``), integrations any active representative
    or supervisor (named by id, e-mail or external id)."""
    named = staff_ref(value)
    if request.staff is not None:
        pool = assignable_representatives(request.staff, target_queue=target_queue)
        rep = pool.filter(pk=named.pk).first() if named else None
        if rep is None:
            raise BadRequest(
                "invalid_representative",
                "'representative' must be a representative of your queues (or of the target queue).",
            )
        return rep
    rep = named
    if rep is None or not rep.user.is_active or rep.role not in (Role.REPRESENTATIVE, Role.SUPERVISOR):
        raise BadRequest(
            "invalid_representative",
            "'representative' must name an active representative by id, e-mail or external id.",
        )
    return rep


@staff_or_integration(IntegrationScope.MANAGE)
@methods("POST")
@handle_errors
def assign(request, conversation_id: int):
    conversation = visible_conversation(request, conversation_id)
    _require_router(request, "assign")
    data = json_body(request)
    if data.get("representative") in (None, ""):
        raise BadRequest("invalid_representative", "'representative' is required.")
    rep = _representative_for(request, data["representative"])
    conversation = conversation_assign(conversation=conversation, representative=rep)
    return JsonResponse(routed_json(conversation))


@staff_or_integration(IntegrationScope.MANAGE)
@methods("POST")
@handle_errors
def transfer(request, conversation_id: int):
    conversation = visible_conversation(request, conversation_id)
    _require_router(request, "transfer")
    data = json_body(request)
    queue = rep = None
    if data.get("queue") not in (None, ""):
        queue = queue_ref(data["queue"])
        if queue is None:
            raise BadRequest("invalid_queue", "'queue' must be an existing queue's id or name.")
    if data.get("representative") not in (None, ""):
        rep = _representative_for(request, data["representative"], target_queue=queue)
    conversation = conversation_transfer(conversation=conversation, queue=queue, representative=rep)
    return JsonResponse(routed_json(conversation))


@staff_or_integration(IntegrationScope.MANAGE)
@methods("POST")
@handle_errors
def close(request, conversation_id: int):
    conversation = visible_conversation(request, conversation_id)
    conversation = conversation_close(conversation=conversation)
    return JsonResponse({"conversation": conversation.pk, "status": conversation.status})


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Any other path under /api/: the JSON 404, not Django's HTML page."""
    return json_error(404, "not_found", f"No API endpoint at {echo(request.path, 80)}.")
