"""REST endpoints: plain JSON Django views.

Channel integrations authenticate with ``Authorization: Bearer <key>`` (an
``IntegrationToken``; only its hash is stored) and are CSRF-exempt, since no browser session
is involved. Staff endpoints use the session and keep Django's CSRF protection.
Every error is ``{"error": {"code": ..., "message": ...}}`` with a matching HTTP status.
The contract is ``docs/events.md``.
"""

from __future__ import annotations

import json
from functools import wraps

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from conversations.models import Conversation, Presence, Queue, Role, Sender, StaffMember
from conversations.selectors import assignable_representatives, conversations_visible_to, staff_for_user
from conversations.services.assignment import conversation_assign, conversation_close, conversation_transfer
from conversations.services.ingest import (
    MessageRejected,
    RateLimited,
    conversation_create,
    integration_token_authenticate,
    message_ingest,
    representative_reply,
)
from conversations.services.presence import InvalidPresence, presence_set
from insights.models import NotificationRecipient
from insights.services.alerts import conversation_snooze, notification_acknowledge

MAX_BODY_BYTES = 256 * 1024
MESSAGES_PAGE = 500


def _error(status: int, code: str, message: str, **extra) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)
    if "retry_after" in extra:
        response["Retry-After"] = str(extra["retry_after"])
    return response


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class NotFound(BadRequest):
    pass


def _json_body(request) -> dict:
    if len(request.body) > MAX_BODY_BYTES:
        raise BadRequest("too_large", f"The request body is over {MAX_BODY_BYTES} bytes.")
    if not request.body:
        return {}
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("invalid_json", "The body is not valid UTF-8 JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("invalid_json", "The body must be a JSON object.")
    return data


def _handle_errors(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            return _error(404, exc.code, exc.message)
        except BadRequest as exc:
            return _error(400, exc.code, exc.message)
        except RateLimited as exc:
            return _error(429, exc.code, exc.message, retry_after=exc.retry_after)
        except MessageRejected as exc:
            status = 409 if exc.code == "conversation_closed" else 400
            return _error(status, exc.code, exc.message)
        except InvalidPresence as exc:
            return _error(400, "invalid_presence", str(exc))
        except ValidationError as exc:
            return _error(400, "invalid", " ".join(exc.messages))
        except PermissionDenied as exc:
            return _error(403, "forbidden", str(exc) or "Not allowed.")

    return wrapper


def token_required(view):
    """Integration endpoints: Bearer token, no CSRF (no cookies involved)."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        token = integration_token_authenticate(raw.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            response = _error(401, "unauthenticated", "Send 'Authorization: Bearer <integration key>'.")
            response["WWW-Authenticate"] = "Bearer"
            return response
        request.integration = token
        return view(request, *args, **kwargs)

    return wrapper


def staff_required(view):
    """Staff endpoints: the signed-in session (CSRF-protected like any form)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        staff = staff_for_user(request.user)
        if staff is None:
            return _error(401, "unauthenticated", "Sign in as a staff member.")
        request.staff = staff
        return view(request, *args, **kwargs)

    return wrapper


def _int(value, name: str) -> int:
    if isinstance(value, bool):
        raise BadRequest("invalid", f"'{name}' must be a whole number.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest("invalid", f"'{name}' must be a whole number.") from None


def _get_conversation(conversation_id: int) -> Conversation | None:
    return Conversation.objects.select_related("queue", "customer").filter(pk=conversation_id).first()


def _message_json(message) -> dict:
    return {
        "id": message.pk,
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        "author": message.author.display_name if message.author_id else "",
    }


def _chat_ws_url(request, conversation: Conversation) -> str:
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}/ws/chat/{conversation.customer_token}/"


# --- integration endpoints -------------------------------------------------------------------


@token_required
@require_http_methods(["POST"])
@_handle_errors
def conversations_create(request):
    data = _json_body(request)
    queue_ref = data.get("queue")
    queue = None
    if isinstance(queue_ref, int) and not isinstance(queue_ref, bool):
        queue = Queue.objects.filter(pk=queue_ref).first()
    elif isinstance(queue_ref, str) and queue_ref:
        queue = Queue.objects.filter(name=queue_ref).first() or (
            Queue.objects.filter(pk=int(queue_ref)).first() if queue_ref.isdigit() else None
        )
    if queue is None:
        return _error(400, "invalid_queue", "'queue' must be an existing queue's id or name.")
    customer = data.get("customer") or {}
    if not isinstance(customer, dict):
        raise BadRequest("invalid", "'customer' must be an object with name, email, external_id.")
    opt_out = data.get("scoring_opt_out", data.get("opt_out", False))
    if not isinstance(opt_out, bool):
        raise BadRequest("invalid", "'scoring_opt_out' must be true or false.")
    conversation = conversation_create(
        queue=queue,
        customer_name=str(customer.get("name") or ""),
        customer_email=str(customer.get("email") or "")[:254],
        customer_external_id=str(customer.get("external_id") or "")[:100],
        customer_phone=str(customer.get("phone") or "")[:40],
        channel=str(data.get("channel") or "chat"),
        subject=str(data.get("subject") or ""),
        scoring_opt_out=opt_out,
    )
    return JsonResponse(
        {
            "id": conversation.pk,
            "queue": queue.pk,
            "status": conversation.status,
            "customer_token": conversation.customer_token,
            "chat_ws_url": _chat_ws_url(request, conversation),
            "chat_ws_path": f"/ws/chat/{conversation.customer_token}/",
            "scoring_opt_out": conversation.scoring_opt_out,
        },
        status=201,
    )


@token_required
@require_http_methods(["GET", "POST"])
@_handle_errors
def conversation_messages(request, conversation_id: int):
    conversation = _get_conversation(conversation_id)
    if conversation is None:
        return _error(404, "not_found", f"No conversation {conversation_id}.")
    if request.method == "GET":
        after_seq = _int(request.GET.get("after_seq", 0), "after_seq")
        messages = list(
            conversation.messages.filter(seq__gt=after_seq).select_related("author__user").order_by("seq")[:MESSAGES_PAGE]
        )
        return JsonResponse(
            {
                "conversation": conversation.pk,
                "messages": [_message_json(m) for m in messages],
                "last_seq": messages[-1].seq if messages else after_seq,
                "more": len(messages) == MESSAGES_PAGE,
            }
        )
    data = _json_body(request)
    message = message_ingest(conversation=conversation.pk, text=data.get("text"), client_id=data.get("client_id"))
    return JsonResponse(
        {"id": message.pk, "conversation": conversation.pk, "seq": message.seq, "created_at": message.created_at.isoformat(),
         "replayed": message.replayed},
        status=200 if message.replayed else 201,
    )


@token_required
@require_http_methods(["POST"])
@_handle_errors
def conversation_replies(request, conversation_id: int):
    conversation = _get_conversation(conversation_id)
    if conversation is None:
        return _error(404, "not_found", f"No conversation {conversation_id}.")
    data = _json_body(request)
    sender = data.get("sender") or Sender.REPRESENTATIVE
    author = None
    if data.get("representative") is not None:
        author = StaffMember.objects.filter(pk=_int(data["representative"], "representative")).first()
        if author is None:
            return _error(400, "invalid_representative", "'representative' must be a staff member's id.")
    elif sender == Sender.REPRESENTATIVE:
        author = conversation.representative
    message = representative_reply(conversation=conversation.pk, text=data.get("text"), author=author, sender=sender)
    return JsonResponse(
        {"id": message.pk, "conversation": conversation.pk, "seq": message.seq, "created_at": message.created_at.isoformat()},
        status=201,
    )


# --- staff endpoints (session) ------------------------------------------------------------------


@require_http_methods(["POST"])
@staff_required
@_handle_errors
def presence(request):
    data = _json_body(request)
    member = presence_set(staff=request.staff, presence=data.get("presence"))
    return JsonResponse(
        {"staff": member.pk, "presence": member.presence, "label": str(Presence(member.presence).label)}
    )


@require_http_methods(["POST"])
@staff_required
@_handle_errors
def notification_ack(request, notification_id: int):
    try:
        row = notification_acknowledge(notification_id=notification_id, staff=request.staff)
    except NotificationRecipient.DoesNotExist:
        return _error(404, "not_found", f"No notification {notification_id}.")
    return JsonResponse(
        {
            "notification": row.pk,
            "alert": row.alert_id,
            "acknowledged_at": row.acknowledged_at.isoformat(),
            "by": row.acknowledged_by_id,
        }
    )


def _visible_conversation(staff, conversation_id: int):
    """The conversation if this staff member may see it; others' ids look like unknown ones."""
    conversation = conversations_visible_to(staff).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("not_found", f"No conversation {conversation_id} for you.")
    return conversation


@require_http_methods(["POST"])
@staff_required
@_handle_errors
def snooze(request, conversation_id: int):
    conversation = _visible_conversation(request.staff, conversation_id)
    data = _json_body(request)
    result = conversation_snooze(staff=request.staff, conversation=conversation, minutes=data.get("minutes", 0))
    return JsonResponse({"conversation": conversation.pk, "until": result.until.isoformat() if result else None})


def _may_route(staff: StaffMember) -> bool:
    return staff.role in (Role.SUPERVISOR, Role.ADMIN)


@require_http_methods(["POST"])
@staff_required
@_handle_errors
def assign(request, conversation_id: int):
    conversation = _visible_conversation(request.staff, conversation_id)
    if not _may_route(request.staff):
        raise PermissionDenied("Only supervisors and admins assign conversations.")
    data = _json_body(request)
    rep = assignable_representatives(request.staff).filter(pk=_int(data.get("representative"), "representative")).first()
    if rep is None:
        return _error(400, "invalid_representative", "'representative' must be the id of a representative of your queues.")
    conversation = conversation_assign(conversation=conversation, representative=rep)
    return JsonResponse({"conversation": conversation.pk, "representative": rep.pk, "status": conversation.status})


@require_http_methods(["POST"])
@staff_required
@_handle_errors
def transfer(request, conversation_id: int):
    conversation = _visible_conversation(request.staff, conversation_id)
    if not _may_route(request.staff):
        raise PermissionDenied("Only supervisors and admins transfer conversations.")
    data = _json_body(request)
    queue = rep = None
    if data.get("queue") not in (None, ""):
        queue = Queue.objects.filter(pk=_int(data["queue"], "queue")).first()
        if queue is None:
            return _error(400, "invalid_queue", "'queue' must be an existing queue's id.")
    if data.get("representative") not in (None, ""):
        candidates = assignable_representatives(request.staff, target_queue=queue)
        rep = candidates.filter(pk=_int(data["representative"], "representative")).first()
        if rep is None:
            return _error(
                400,
                "invalid_representative",
                "'representative' must be the id of a representative of your queues or of the target queue.",
            )
    conversation = conversation_transfer(conversation=conversation, queue=queue, representative=rep)
    return JsonResponse(
        {
            "conversation": conversation.pk,
            "queue": conversation.queue_id,
            "representative": conversation.representative_id,
            "status": conversation.status,
        }
    )


@require_http_methods(["POST"])
@staff_required
@_handle_errors
def close(request, conversation_id: int):
    conversation = _visible_conversation(request.staff, conversation_id)
    conversation = conversation_close(conversation=conversation)
    return JsonResponse({"conversation": conversation.pk, "status": conversation.status})
