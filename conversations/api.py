"""REST endpoints: plain JSON Django views. The contract is ``docs/events.md``.

Two ways in, and every answer is JSON (never Django's HTML error pages):

- **Integrations** send ``Authorization: Bearer <key>`` (an ``IntegrationToken``; only its hash
  is stored). No cookies are involved, so no CSRF token either. Each endpoint names the scope
  it needs (``ingest``, ``manage``, ``read_sentiment``); a key without it gets
  ``403 insufficient_scope``.
- **Staff** use their signed-in session. CSRF is checked here (not by the middleware) so that
  a refusal is the documented ``403 csrf_failed`` JSON; not signed in is ``401``.

Close, assign and transfer take either: a request with ``Authorization: Bearer …`` is an
integration's (``manage``), any other a staff member's.
Every error is ``{"error": {"code": ..., "message": ...}}`` with a matching HTTP status.
"""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from conversations.models import (
    Channel,
    Conversation,
    IntegrationScope,
    Presence,
    Queue,
    Role,
    Sender,
    StaffMember,
)
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
from insights import for_conversations
from insights.levels import level_fields
from sentiment_admin.inputs import InvalidInput, clean_line, echo, parse_id, parse_int, parse_json_object

MAX_BODY_BYTES = 256 * 1024
MESSAGES_PAGE = 500
CONFLICT_CODES = {"conversation_closed", "client_id_conflict"}


def _error(status: int, code: str, message: str, **extra) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)
    if "retry_after" in extra:
        response["Retry-After"] = str(extra["retry_after"])
    return response


class BadRequest(Exception):
    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class NotFound(BadRequest):
    status = 404


class Conflict(BadRequest):
    status = 409


def _json_body(request) -> dict:
    if len(request.body) > MAX_BODY_BYTES:
        raise BadRequest("too_large", f"The request body is over {MAX_BODY_BYTES} bytes.")
    return parse_json_object(request.body)


def _handle_errors(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except BadRequest as exc:
            return _error(exc.status, exc.code, exc.message)
        except InvalidInput as exc:
            return _error(400, exc.code, exc.message)
        except RateLimited as exc:
            return _error(429, exc.code, exc.message, retry_after=exc.retry_after)
        except MessageRejected as exc:
            return _error(409 if exc.code in CONFLICT_CODES else 400, exc.code, exc.message)
        except InvalidPresence as exc:
            return _error(400, "invalid_presence", str(exc))
        except ValidationError as exc:
            return _error(400, "invalid", " ".join(exc.messages))
        except PermissionDenied as exc:
            return _error(403, "forbidden", str(exc) or "Not allowed.")

    return wrapper


def _methods(*allowed: str):
    """JSON 405 (with ``Allow``) for any other method."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in allowed:
                response = _error(405, "method_not_allowed", f"Use {' or '.join(allowed)}.")
                response["Allow"] = ", ".join(allowed)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


# --- who is calling ----------------------------------------------------------------------------


def _bearer_token(request):
    """The active key named by the Authorization header, or a 401 response."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    token = integration_token_authenticate(raw.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        response = _error(401, "unauthenticated", "Send 'Authorization: Bearer <integration key>'.")
        response["WWW-Authenticate"] = "Bearer"
        return None, response
    return token, None


def _scope_refusal(token, scopes: tuple[str, ...]):
    if any(token.has_scope(s) for s in scopes):
        return None
    needed = " or ".join(f"'{s}'" for s in scopes)
    response = _error(403, "insufficient_scope", f"This key lacks the {needed} scope.", required=list(scopes))
    response["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{" ".join(scopes)}"'
    return response


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, answering the API's JSON error instead of the HTML page."""

    def _reject(self, request, reason):
        return _error(
            403,
            "csrf_failed",
            f"CSRF check failed ({reason}). Send the csrftoken cookie's value as the X-CSRFToken header.",
        )


def _csrf_probe(request):  # pragma: no cover - never called, only inspected by the check
    return None


def _csrf_refusal(request):
    return _CsrfCheck(_csrf_probe).process_view(request, _csrf_probe, (), {})


def _staff_or_refusal(request):
    staff = staff_for_user(request.user)
    if staff is None:
        return None, _error(401, "unauthenticated", "Sign in as a staff member.")
    refusal = _csrf_refusal(request)
    if refusal is not None:
        return None, refusal
    return staff, None


def integration_required(*scopes: str):
    """Integration endpoints: Bearer key with one of ``scopes``, no CSRF (no cookies)."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            token, refusal = _bearer_token(request)
            if refusal is None:
                refusal = _scope_refusal(token, scopes)
            if refusal is not None:
                return refusal
            request.integration, request.staff = token, None
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def staff_required(view):
    """Staff endpoints: the signed-in session, with a CSRF token (checked here, JSON errors)."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        staff, refusal = _staff_or_refusal(request)
        if refusal is not None:
            return refusal
        request.integration, request.staff = None, staff
        return view(request, *args, **kwargs)

    return wrapper


def staff_or_integration(scope: str):
    """A request with ``Authorization: Bearer …`` is an integration's (needs ``scope``); any
    other is a staff member's session (a proxy's Basic credentials do not make it a key)."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.headers.get("Authorization", "").lower().startswith("bearer"):
                return integration_required(scope)(view)(request, *args, **kwargs)
            return staff_required(view)(request, *args, **kwargs)

        return wrapper

    return decorator


# --- reading the request -----------------------------------------------------------------------


def _int(value, name: str, *, minimum: int | None = None) -> int:
    """A whole number by the rules of ``sentiment_admin.inputs`` (InvalidInput is a 400)."""
    return parse_int(value, name, minimum=minimum)


def _queue_ref(value) -> Queue | None:
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


def _staff_ref(value) -> StaffMember | None:
    """A staff member by id, or by ``{"id"|"email"|"external_id": ...}`` (e-mail case-insensitive)."""
    staff = StaffMember.objects.select_related("user")
    if isinstance(value, dict):
        if len(value) != 1:
            raise BadRequest("invalid", "Name the representative by one of id, email or external_id.")
        ((key, ref),) = value.items()
        if key == "id":
            return staff.filter(pk=_int(ref, "representative.id")).first()
        if not isinstance(ref, str) or not ref.strip():
            raise BadRequest("invalid", f"'representative.{key}' must be a non-empty string.")
        ref = clean_line(ref, f"representative.{key}", max_length=254)
        if key == "email":
            matches = list(staff.filter(user__email__iexact=ref.strip())[:2])
            return matches[0] if len(matches) == 1 else None
        if key == "external_id":
            return staff.filter(external_id=ref.strip()).first()
        raise BadRequest("invalid", "Name the representative by one of id, email or external_id.")
    return staff.filter(pk=_int(value, "representative")).first()


def _get_conversation(conversation_id: int) -> Conversation:
    conversation = (
        Conversation.objects.select_related("queue", "customer", "representative__user")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound("not_found", f"No conversation {conversation_id}.")
    return conversation


def _visible_conversation(request, conversation_id: int) -> Conversation:
    """Integrations reach every conversation; staff only those they may see (others' ids look
    like unknown ones)."""
    if request.staff is None:
        return _get_conversation(conversation_id)
    conversation = conversations_visible_to(request.staff).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("not_found", f"No conversation {conversation_id} for you.")
    return conversation


# --- answers -----------------------------------------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _staff_json(member: StaffMember | None) -> dict | None:
    if member is None:
        return None
    return {
        "id": member.pk,
        "name": member.display_name,
        "email": member.user.email,
        "external_id": member.external_id,
    }


def _message_json(message, *, sentiment: bool) -> dict:
    data = {
        "id": message.pk,
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "created_at": _iso(message.created_at),
        "author": message.author.display_name if message.author_id else "",
        "client_id": message.client_id,
    }
    if sentiment:
        level = message.sentiment_level
        data["scoring_status"] = message.scoring_status
        data["sentiment"] = (
            {
                "score": message.sentiment_score,
                **level_fields(level),
                "confidence": message.confidence,
                "language": message.language,
            }
            if message.sentiment_score is not None
            else None
        )
    return data


def _conversation_created_json(request, conversation: Conversation) -> dict:
    scheme = "wss" if request.is_secure() else "ws"
    path = f"/ws/chat/{conversation.customer_token}/"
    return {
        "id": conversation.pk,
        "external_id": conversation.external_id,
        "queue": conversation.queue_id,
        "status": conversation.status,
        "customer_token": conversation.customer_token,
        "chat_ws_url": f"{scheme}://{request.get_host()}{path}",
        "chat_ws_path": path,
        "scoring_opt_out": conversation.scoring_opt_out,
        "replayed": conversation.replayed,
    }


def _conversation_detail_json(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "external_id": conversation.external_id,
        "queue": conversation.queue_id,
        "queue_name": conversation.queue.name,
        "status": conversation.status,
        "channel": conversation.channel,
        "subject": conversation.subject,
        "representative": _staff_json(conversation.representative),
        "customer": {"name": conversation.customer.name, "external_id": conversation.customer.external_id},
        "language": conversation.language,
        "scoring_opt_out": conversation.scoring_opt_out,
        "created_at": _iso(conversation.created_at),
        "accepted_at": _iso(conversation.accepted_at),
        "closed_at": _iso(conversation.closed_at),
        "last_message_at": _iso(conversation.last_message_at),
        "last_seq": conversation.last_seq,
        "sentiment": {
            "score": conversation.sentiment_score,
            **level_fields(conversation.sentiment_level),
            "trend": conversation.sentiment_trend,
        },
        **for_conversations.alert_summary(conversation),
    }


def _routed_json(conversation: Conversation) -> dict:
    return {
        "conversation": conversation.pk,
        "queue": conversation.queue_id,
        "representative": conversation.representative_id,
        "status": conversation.status,
    }


# --- integration endpoints -------------------------------------------------------------------


@integration_required(IntegrationScope.INGEST)
@_methods("POST")
@_handle_errors
def conversations_create(request):
    data = _json_body(request)
    queue = _queue_ref(data.get("queue"))
    if queue is None:
        raise BadRequest("invalid_queue", "'queue' must be an existing queue's id or name.")
    customer = data.get("customer") or {}
    if not isinstance(customer, dict):
        raise BadRequest("invalid", "'customer' must be an object with name, email, external_id.")
    opt_out = data.get("scoring_opt_out", data.get("opt_out", False))
    if not isinstance(opt_out, bool):
        raise BadRequest("invalid", "'scoring_opt_out' must be true or false.")
    # conversation_create offers a new conversation to the queue's next eligible representative
    # (conversations.services.queue_routing), as for the chat page.
    conversation = conversation_create(
        queue=queue,
        customer_name=clean_line(customer.get("name"), "customer.name", max_length=150),
        customer_email=clean_line(customer.get("email"), "customer.email", max_length=254),
        customer_external_id=clean_line(customer.get("external_id"), "customer.external_id", max_length=100),
        customer_phone=clean_line(customer.get("phone"), "customer.phone", max_length=40),
        channel=clean_line(data.get("channel") or "chat", "channel", max_length=20),
        subject=clean_line(data.get("subject"), "subject", max_length=200),
        scoring_opt_out=opt_out,
        external_id=data.get("external_id"),
    )
    return JsonResponse(
        _conversation_created_json(request, conversation), status=200 if conversation.replayed else 201
    )


@integration_required(IntegrationScope.READ_SENTIMENT)
@_methods("GET")
@_handle_errors
def conversation_detail(request, conversation_id: int):
    return JsonResponse(_conversation_detail_json(_get_conversation(conversation_id)))


@integration_required(IntegrationScope.INGEST, IntegrationScope.READ_SENTIMENT)
@_methods("GET", "POST")
@_handle_errors
def conversation_messages(request, conversation_id: int):
    conversation = _get_conversation(conversation_id)
    if request.method == "GET":
        after_seq = _int(request.GET.get("after_seq", "0"), "after_seq", minimum=0)
        messages = list(
            conversation.messages.filter(seq__gt=after_seq)
            .select_related("author__user")
            .order_by("seq")[:MESSAGES_PAGE]
        )
        sentiment = request.integration.has_scope(IntegrationScope.READ_SENTIMENT)
        return JsonResponse(
            {
                "conversation": conversation.pk,
                "messages": [_message_json(m, sentiment=sentiment) for m in messages],
                # The cursor for the next call: the last message of this page, or (an empty
                # page) the conversation's last seq, never more than what exists.
                "last_seq": messages[-1].seq if messages else min(after_seq, conversation.last_seq),
                "more": len(messages) == MESSAGES_PAGE,
            }
        )
    scope_refusal = _scope_refusal(request.integration, (IntegrationScope.INGEST,))
    if scope_refusal is not None:
        return scope_refusal
    data = _json_body(request)
    message = message_ingest(
        conversation=conversation.pk, text=data.get("text"), client_id=data.get("client_id")
    )
    return JsonResponse(
        {
            "id": message.pk,
            "conversation": conversation.pk,
            "seq": message.seq,
            "created_at": _iso(message.created_at),
            "replayed": message.replayed,
        },
        status=200 if message.replayed else 201,
    )


@integration_required(IntegrationScope.INGEST)
@_methods("POST")
@_handle_errors
def conversation_replies(request, conversation_id: int):
    conversation = _get_conversation(conversation_id)
    data = _json_body(request)
    sender = data.get("sender") or Sender.REPRESENTATIVE
    if sender not in (Sender.REPRESENTATIVE, Sender.BOT, Sender.SYSTEM):
        raise BadRequest("invalid_sender", "'sender' is representative, bot or system.")
    author = None
    if sender == Sender.REPRESENTATIVE:
        author = conversation.representative
        if data.get("representative") is not None:
            named = _staff_ref(data["representative"])
            if named is None or named.pk != conversation.representative_id:
                raise BadRequest(
                    "invalid_representative",
                    "'representative' must be the conversation's assigned representative (assign it first).",
                )
    elif data.get("representative") is not None:
        raise BadRequest("invalid", "'representative' goes with sender 'representative' only.")
    message = representative_reply(
        conversation=conversation.pk,
        text=data.get("text"),
        author=author,
        sender=sender,
        client_id=data.get("client_id"),
    )
    return JsonResponse(
        {
            "id": message.pk,
            "conversation": conversation.pk,
            "seq": message.seq,
            "created_at": _iso(message.created_at),
            "sender": message.sender,
            "author": message.author.display_name if message.author_id else "",
            "replayed": message.replayed,
        },
        status=200 if message.replayed else 201,
    )


@integration_required(IntegrationScope.INGEST, IntegrationScope.MANAGE)
@_methods("GET")
@_handle_errors
def queues_list(request):
    return JsonResponse(
        {
            "queues": [
                {"id": q.pk, "name": q.name, "description": q.description}
                for q in Queue.objects.order_by("name")
            ]
        }
    )


@integration_required(IntegrationScope.INGEST, IntegrationScope.MANAGE)
@_methods("GET")
@_handle_errors
def channels_list(request):
    return JsonResponse(
        {"channels": [{"id": value, "label": str(label)} for value, label in Channel.choices]}
    )


@integration_required(IntegrationScope.MANAGE)
@_methods("GET")
@_handle_errors
def staff_list(request):
    members = (
        StaffMember.objects.select_related("user").prefetch_related("queues").filter(user__is_active=True)
    )
    return JsonResponse(
        {
            "staff": [
                {
                    **_staff_json(m),
                    "role": m.role,
                    "presence": m.presence,
                    "queues": sorted(q.pk for q in m.queues.all()),
                }
                for m in members.order_by("pk")
            ]
        }
    )


# --- staff endpoints (session) ------------------------------------------------------------------


@staff_required
@_methods("POST")
@_handle_errors
def presence(request):
    data = _json_body(request)
    member = presence_set(staff=request.staff, presence=data.get("presence"))
    return JsonResponse(
        {"staff": member.pk, "presence": member.presence, "label": str(Presence(member.presence).label)}
    )


@staff_required
@_methods("POST")
@_handle_errors
def notification_ack(request, notification_id: int):
    try:
        row = for_conversations.notification_acknowledge(notification_id=notification_id, staff=request.staff)
    except for_conversations.NotificationNotFound:
        raise NotFound("not_found", f"No notification {notification_id}.") from None
    return JsonResponse(
        {
            "notification": row.pk,
            "alert": row.alert_id,
            "acknowledged_at": _iso(row.acknowledged_at),
            "by": row.acknowledged_by_id,
        }
    )


@staff_required
@_methods("POST")
@_handle_errors
def snooze(request, conversation_id: int):
    conversation = _visible_conversation(request, conversation_id)
    data = _json_body(request)
    result = for_conversations.conversation_snooze(
        staff=request.staff, conversation=conversation, minutes=data.get("minutes", 0)
    )
    return JsonResponse({"conversation": conversation.pk, "until": _iso(result.until) if result else None})


# --- routing: staff (supervisors of the queue, admins) or integrations (manage) ----------------


def _require_router(request, verb: str) -> None:
    if request.staff is not None and request.staff.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise PermissionDenied(f"Only supervisors and admins {verb} conversations.")


def _representative_for(request, value, *, target_queue=None) -> StaffMember:
    """The named representative, if this caller may hand conversations to them: staff by the
    assignment rule (``assignable_representatives``), integrations any active representative
    or supervisor (named by id, e-mail or external id)."""
    named = _staff_ref(value)
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
@_methods("POST")
@_handle_errors
def assign(request, conversation_id: int):
    conversation = _visible_conversation(request, conversation_id)
    _require_router(request, "assign")
    data = _json_body(request)
    if data.get("representative") in (None, ""):
        raise BadRequest("invalid_representative", "'representative' is required.")
    rep = _representative_for(request, data["representative"])
    conversation = conversation_assign(conversation=conversation, representative=rep)
    return JsonResponse(_routed_json(conversation))


@staff_or_integration(IntegrationScope.MANAGE)
@_methods("POST")
@_handle_errors
def transfer(request, conversation_id: int):
    conversation = _visible_conversation(request, conversation_id)
    _require_router(request, "transfer")
    data = _json_body(request)
    queue = rep = None
    if data.get("queue") not in (None, ""):
        queue = _queue_ref(data["queue"])
        if queue is None:
            raise BadRequest("invalid_queue", "'queue' must be an existing queue's id or name.")
    if data.get("representative") not in (None, ""):
        rep = _representative_for(request, data["representative"], target_queue=queue)
    conversation = conversation_transfer(conversation=conversation, queue=queue, representative=rep)
    return JsonResponse(_routed_json(conversation))


@staff_or_integration(IntegrationScope.MANAGE)
@_methods("POST")
@_handle_errors
def close(request, conversation_id: int):
    conversation = _visible_conversation(request, conversation_id)
    conversation = conversation_close(conversation=conversation)
    return JsonResponse({"conversation": conversation.pk, "status": conversation.status})


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Any other path under /api/: the JSON 404, not Django's HTML page."""
    return _error(404, "not_found", f"No API endpoint at {echo(request.path, 80)}.")
