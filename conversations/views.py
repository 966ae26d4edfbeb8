"""Pages: the representative workspace, the supervisor Ongoing conversations report, Monitor,
Assign/Transfer, the customer chat page, corrections, and the historical dashboard.

Views stay thin: they read through selectors, change state through the pipeline's services,
and render the initial state; the page's JavaScript keeps it live over the websockets.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations import frames
from conversations.display import drop_driver_seqs, duration_text, seconds_between, sentiment_view
from conversations.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Message,
    Presence,
    Queue,
    Role,
    Sender,
    StaffMember,
)
from conversations.selectors import (
    assignable_representatives,
    conversations_visible_to,
    ongoing_conversations_for,
    queue_position,
    staff_for_user,
    user_is_admin,
)
from conversations.services import assignment
from conversations.services.ingest import conversation_create
from conversations.services.presence import presence_set
from conversations.services.queue_routing import conversation_take_next
from insights.dashboard import DashboardFilters, dashboard_build, dashboard_csv, dashboard_queues
from insights.levels import SentimentLevel
from insights.models import NotificationRecipient
from insights.services.corrections import corrections_csv, corrections_list, sentiment_correction_create
from sentiment_admin.inputs import clean_line, parse_optional_id
from sentiment_admin.throttle import Throttled, client_address, throttle_check, throttle_record

TRANSCRIPT_LIMIT = 200


def home_redirect_for(staff: StaffMember | None, user) -> str:
    if user_is_admin(user) and (staff is None or staff.role == Role.ADMIN):
        return "insights:home"
    if staff is not None and staff.role == Role.SUPERVISOR:
        return "conversations:ongoing"
    return "conversations:workspace"


@login_required
def home(request):
    """Send each person to the screen they work in."""
    return redirect(home_redirect_for(staff_for_user(request.user), request.user))


def staff_required(*roles: str):
    """The signed-in user must be a staff member with one of ``roles``."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            staff = staff_for_user(request.user)
            if staff is None or (roles and staff.role not in roles):
                raise PermissionDenied("This page is not part of your role.")
            request.staff = staff
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


# --------------------------------------------------------------------------- shaping rows


def _conversation_row(c: Conversation, now) -> dict:
    """Everything a table row or a session tab shows, from server-rendered state."""
    accepted = c.accepted_at
    wait = seconds_between(c.created_at, accepted or now) if c.status != ConversationStatus.CLOSED else None
    handle = seconds_between(accepted, now) if accepted else None
    return {
        "c": c,
        "sentiment": sentiment_view(c.sentiment_level, c.sentiment_trend),
        "wait_seconds": wait,
        "wait_text": duration_text(wait),
        "handle_seconds": handle,
        "handle_text": duration_text(handle),
    }


def _transcript(c: Conversation, *, limit: int = TRANSCRIPT_LIMIT) -> list[dict]:
    msgs = list(c.messages.select_related("author__user").order_by("-seq")[:limit])
    msgs.reverse()
    drivers = drop_driver_seqs((m.seq, m.sentiment_level) for m in msgs if m.sender == Sender.CUSTOMER)
    return [
        {
            "m": m,
            "sentiment": sentiment_view(m.sentiment_level) if m.sender == Sender.CUSTOMER else None,
            "drove_drop": m.seq in drivers,
        }
        for m in msgs
    ]


def _unacknowledged_notifications(staff: StaffMember, *, limit: int = 30):
    return list(
        NotificationRecipient.objects.filter(staff=staff, acknowledged_at__isnull=True)
        .exclude(alert__conversation__status=ConversationStatus.CLOSED)  # nothing left to act on
        .select_related("alert__conversation__customer", "alert__conversation__queue", "alert__conversation__representative__user")
        .order_by("-alert__created_at")[:limit]
    )


def _level_choices():
    return [(level.value, level.label) for level in SentimentLevel]


# --------------------------------------------------------------------------- representative


@staff_required(Role.REPRESENTATIVE, Role.SUPERVISOR, Role.ADMIN)
@require_GET
def workspace(request):
    """A session tab per active conversation assigned to the representative."""
    staff = request.staff
    now = timezone.now()
    conversations = list(
        ongoing_conversations_for(staff).filter(representative=staff).order_by("created_at")
    )
    focus = request.GET.get("c")
    focused_id = next((c.pk for c in conversations if str(c.pk) == focus), conversations[0].pk if conversations else None)
    sessions = []
    for c in conversations:
        row = _conversation_row(c, now)
        row["transcript"] = _transcript(c)
        sessions.append(row)
    return render(
        request,
        "conversations/workspace.html",
        {
            "sessions": sessions,
            "focused_id": focused_id,
            "presence_choices": Presence.choices,
            "level_choices": _level_choices(),
        },
    )


@staff_required(Role.REPRESENTATIVE, Role.SUPERVISOR, Role.ADMIN)
@require_POST
def take_next(request):
    """"Take next": the oldest waiting conversation of the representative's queues is theirs."""
    conversation = conversation_take_next(staff=request.staff)
    if conversation is None:
        flash.info(request, "No conversation is waiting in your queues.")
        return redirect("conversations:workspace")
    flash.success(request, f"You took the conversation with {conversation.customer.name}.")
    return redirect(f"{reverse('conversations:workspace')}?c={conversation.pk}")


# --------------------------------------------------------------------------- supervisor

SENTIMENT_FILTERS = [
    ("", "Any sentiment"),
    ("negative", "Slightly negative or lower"),
    ("very_negative", "Negative or lower"),
    ("neutral", "Neutral"),
    ("positive", "Slightly positive or higher"),
    ("not_scored", "Not scored yet"),
]


def _sentiment_filter_matches(key: str, level: int | None) -> bool:
    if not key:
        return True
    if key == "not_scored":
        return level is None
    if level is None:
        return False
    return {
        "negative": level <= -1,
        "very_negative": level <= -2,
        "neutral": level == 0,
        "positive": level >= 1,
    }.get(key, True)


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_GET
def ongoing(request):
    """The Ongoing conversations report: live table of the supervisor's queues."""
    staff = request.staff
    now = timezone.now()
    queues = list(Queue.objects.all() if staff.role == Role.ADMIN else staff.queues.all())
    queue_filter = request.GET.get("queue", "")
    sentiment_filter = request.GET.get("sentiment", "")
    sort = request.GET.get("sort", "")
    conversations = ongoing_conversations_for(staff).order_by("created_at")
    queue_id = parse_optional_id(queue_filter, "queue")
    if queue_id is not None:
        conversations = conversations.filter(queue_id=queue_id)
    rows = [_conversation_row(c, now) for c in conversations if _sentiment_filter_matches(sentiment_filter, c.sentiment_level)]
    if sort == "sentiment":
        rows.sort(key=lambda r: (r["c"].sentiment_level is None, r["c"].sentiment_level or 0, r["c"].sentiment_score or 0))
    return render(
        request,
        "conversations/ongoing.html",
        {
            "rows": rows,
            "queues": queues,
            "queue_filter": queue_filter,
            "sentiment_filter": sentiment_filter,
            "sentiment_filters": SENTIMENT_FILTERS,
            "sort": sort,
            "notifications": _unacknowledged_notifications(staff),
            "presence_choices": Presence.choices,
        },
    )


def _conversation_for(staff: StaffMember, conversation_id: int) -> Conversation:
    try:
        return conversations_visible_to(staff).get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation in your queues.") from None


@staff_required(Role.REPRESENTATIVE, Role.SUPERVISOR, Role.ADMIN)
@require_GET
def monitor(request, conversation_id: int):
    """Read-only live transcript with per-message sentiment; drop drivers highlighted."""
    c = _conversation_for(request.staff, conversation_id)
    return render(
        request,
        "conversations/monitor.html",
        {
            "row": _conversation_row(c, timezone.now()),
            "transcript": _transcript(c),
            "level_choices": _level_choices(),
        },
    )


def _route_context(staff: StaffMember, c: Conversation) -> dict:
    reps = assignable_representatives(staff).select_related("user").prefetch_related("queues")
    # Any queue is a transfer target (a supervisor can hand a conversation to another department).
    return {"row": _conversation_row(c, timezone.now()), "representatives": list(reps), "queues": list(Queue.objects.all())}


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_GET
def conversation_route(request, conversation_id: int):
    """The Assign / Transfer form for one conversation (the row's buttons lead here)."""
    c = _conversation_for(request.staff, conversation_id)
    return render(request, "conversations/route.html", _route_context(request.staff, c))


def _after_action(request, default: str):
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(nxt)
    return redirect(default)


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_POST
def conversation_assign(request, conversation_id: int):
    staff = request.staff
    c = _conversation_for(staff, conversation_id)
    rep_id = parse_optional_id(request.POST.get("representative"), "representative")
    rep = assignable_representatives(staff).filter(pk=rep_id).first() if rep_id else None
    if rep is None:
        flash.error(request, "Choose a representative of your queues.")
        return redirect("conversations:route", conversation_id=c.pk)
    try:
        assignment.conversation_assign(conversation=c, representative=rep)
    except (ValidationError, PermissionDenied, ValueError) as exc:
        flash.error(request, f"Not assigned: {_error_text(exc)}")
        return redirect("conversations:route", conversation_id=c.pk)
    flash.success(request, f"Conversation with {c.customer.name} assigned to {rep.display_name}.")
    return _after_action(request, "conversations:ongoing")


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_POST
def conversation_transfer(request, conversation_id: int):
    """Transfer to another queue (unassigned there) or to a representative."""
    staff = request.staff
    c = _conversation_for(staff, conversation_id)
    queue_id = parse_optional_id(request.POST.get("queue"), "queue")
    rep_id = parse_optional_id(request.POST.get("representative"), "representative")
    queue = Queue.objects.filter(pk=queue_id).first() if queue_id else None
    rep = None
    if rep_id:
        # A representative of the supervisor's queues, or of the queue it is transferred to.
        rep = assignable_representatives(staff, target_queue=queue).filter(pk=rep_id).first()
        if rep is None:
            flash.error(request, "Choose a representative of your queues or of the target queue.")
            return redirect("conversations:route", conversation_id=c.pk)
    if queue is None and rep is None:
        flash.error(request, "Choose a queue or a representative to transfer to.")
        return redirect("conversations:route", conversation_id=c.pk)
    try:
        assignment.conversation_transfer(conversation=c, queue=queue, representative=rep)
    except (ValidationError, PermissionDenied, ValueError) as exc:
        flash.error(request, f"Not transferred: {_error_text(exc)}")
        return redirect("conversations:route", conversation_id=c.pk)
    target = rep.display_name if rep else queue.name
    flash.success(request, f"Conversation with {c.customer.name} transferred to {target}.")
    return _after_action(request, "conversations:ongoing")


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc) or exc.__class__.__name__


@staff_required()
@require_POST
def presence_update(request):
    """Form fallback for the header's presence selector (the page normally uses the socket)."""
    value = request.POST.get("presence", "")
    if value not in Presence.values:
        flash.error(request, "Unknown presence.")
    else:
        presence_set(staff=request.staff, presence=value)
    return _after_action(request, home_redirect_for(request.staff, request.user))


@staff_required(Role.REPRESENTATIVE, Role.SUPERVISOR, Role.ADMIN)
@require_POST
def message_correct(request, conversation_id: int, seq: int):
    """Mark a customer message's sentiment as wrong and give the right level."""
    c = _conversation_for(request.staff, conversation_id)
    message = get_object_or_404(Message, conversation=c, seq=seq)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        correction = sentiment_correction_create(
            message=message,
            staff=request.staff,
            corrected_level=request.POST.get("level", ""),
            note=request.POST.get("note", ""),
        )
    except (ValidationError, PermissionDenied) as exc:
        if wants_json:
            return JsonResponse({"ok": False, "error": _error_text(exc)}, status=400)
        flash.error(request, f"Correction not saved: {_error_text(exc)}")
    else:
        if wants_json:
            return JsonResponse(
                {"ok": True, "correction": correction.pk, "level": correction.corrected_level,
                 "label": correction.get_corrected_level_display()}
            )
        flash.success(request, f"Thanks: message {seq} marked as {correction.get_corrected_level_display()}.")
    return _after_action(request, reverse("conversations:monitor", args=[c.pk]))


@login_required
@require_GET
def corrections(request):
    """Admins: every correction, newest first, with the export commands."""
    if not user_is_admin(request.user):
        raise PermissionDenied("Only administrators see the corrections list.")
    if request.GET.get("format") == "csv":
        response = HttpResponse(corrections_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="sentiment-corrections.csv"'
        return response
    items = list(corrections_list()[:500])
    for item in items:
        item.model_view = sentiment_view(item.model_level)
        item.corrected_view = sentiment_view(item.corrected_level)
    return render(request, "conversations/corrections.html", {"corrections": items})


# --------------------------------------------------------------------------- customer chat


@require_http_methods(["GET", "POST"])
def chat_start(request):
    """Demo/test entry point: a customer picks a queue and starts a chat (no sign-in)."""
    queues = list(Queue.objects.all())
    error = ""
    if request.method == "POST":
        name = clean_line(request.POST.get("name"), "name", max_length=150)
        queue_id = parse_optional_id(request.POST.get("queue"), "queue")
        queue = next((q for q in queues if q.pk == queue_id), None)
        address = client_address(request)
        if not name or queue is None:
            error = "Enter your name and choose a topic."
        else:
            try:
                throttle_check(
                    "chat-start", address, limit=settings.CHAT_STARTS_PER_ADDRESS,
                    window=settings.CHAT_START_WINDOW_SECONDS, message="Too many chats started from your address.",
                )
            except Throttled as exc:
                response = render(
                    request, "conversations/chat_start.html",
                    {"queues": queues, "error": f"{exc.message} Try again in {exc.retry_after} seconds."}, status=429,
                )
                response["Retry-After"] = str(exc.retry_after)
                return response
            throttle_record("chat-start", address, window=settings.CHAT_START_WINDOW_SECONDS)
            # Queue routing offers it to the queue's representatives (or it waits its turn).
            conversation = conversation_create(queue=queue, customer_name=name, channel=Channel.CHAT)
            return redirect("conversations:chat", token=conversation.customer_token)
    return render(request, "conversations/chat_start.html", {"queues": queues, "error": error}, status=400 if error else 200)


@require_GET
def chat(request, token: str):
    """The customer's chat page. The token in the URL is the only credential; the customer
    never sees sentiment."""
    token_ok = token.isascii() and token.isprintable() and len(token) <= 64
    c = (
        Conversation.objects.filter(customer_token=token)
        .select_related("customer", "queue", "representative__user")
        .first()
        if token_ok
        else None
    )
    if c is None:
        raise Http404("This chat link is not valid.")
    msgs = list(c.messages.select_related("author__user").order_by("-seq")[:TRANSCRIPT_LIMIT])
    msgs.reverse()
    state = frames.chat_payload(c, position=queue_position(c))
    response = render(request, "conversations/chat.html", {"c": c, "transcript": msgs, "chat_state": state})
    response["Referrer-Policy"] = "no-referrer"
    return response


# --------------------------------------------------------------------------- dashboard


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_GET
def dashboard(request):
    filters = DashboardFilters.from_params(request.GET)
    board = dashboard_build(request.staff, filters)
    return render(
        request,
        "conversations/dashboard.html",
        {
            "board": board,
            "filters": filters,
            "queues": list(dashboard_queues(request.staff)),
            "chart_data": board.chart_data(),
            "export_query": request.GET.urlencode(),
            "breakdowns": [
                ("queues", "queue", board.queues),
                ("channels", "channel", board.channels),
                ("languages", "language", board.languages),
                ("representatives", "representative", board.representatives),
            ],
            "ended_negative_rows": [
                {"c": c, "start": sentiment_view(c.start_sentiment_level), "end": sentiment_view(c.sentiment_level)}
                for c in board.ended_negative
            ],
        },
    )


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_GET
def dashboard_export(request):
    filters = DashboardFilters.from_params(request.GET)
    response = HttpResponse(dashboard_csv(request.staff, filters), content_type="text/csv; charset=utf-8")
    name = f"sentiment-{filters.date_from.isoformat()}-{filters.date_to.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
