"""Pages: the representative workspace, the supervisor Ongoing conversations report, Monitor,
Assign/Transfer and the customer chat page (the dashboard and corrections: ``insights.views``).

Views stay thin: they read through selectors, change state through the pipeline's services,
and render the initial state; the page's JavaScript keeps it live over the websockets.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations import frames
from conversations.display import drop_driver_seqs, duration_text, seconds_between, sentiment_view
from conversations.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Presence,
    Queue,
    Role,
    Sender,
    StaffMember,
)
from conversations.selectors import (
    assignable_representatives,
    ongoing_conversations_for,
    queue_position,
    staff_for_user,
    user_is_admin,
)
from conversations.services import assignment
from conversations.services.ingest import conversation_create
from conversations.services.presence import presence_set
from conversations.services.queue_routing import conversation_take_next
from conversations.web import after_action, conversation_for_staff, error_text, staff_required
from insights import for_conversations
from insights.levels import SentimentLevel, level_slug
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


def _level_choices():
    return [(level.value, level.label) for level in SentimentLevel]


# --------------------------------------------------------------------------- representative


@staff_required(Role.REPRESENTATIVE, Role.SUPERVISOR, Role.ADMIN)
@require_GET
def workspace(request):
    """A session tab per active conversation assigned to the representative."""
    staff = request.staff
    now = timezone.now()
    conversations = list(ongoing_conversations_for(staff).filter(representative=staff).order_by("created_at"))
    focus = request.GET.get("c")
    focused_id = next(
        (c.pk for c in conversations if str(c.pk) == focus), conversations[0].pk if conversations else None
    )
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
    """ "Take next": the oldest waiting conversation of the representative's queues is theirs."""
    conversation = conversation_take_next(staff=request.staff)
    if conversation is None:
        flash.info(request, "No conversation is waiting in your queues.")
        return redirect("conversations:workspace")
    flash.success(request, f"You took the conversation with {conversation.customer.name}.")
    return redirect(f"{reverse('conversations:workspace')}?c={conversation.pk}")


# --------------------------------------------------------------------------- supervisor


@dataclass(frozen=True)
class SentimentFilter:
    """One choice of the Ongoing report's sentiment filter. Its key is the slug of the level it
    is about (``insights.levels.level_slug``): ``negative`` is Negative or lower. The page's
    script reads the same bounds from the option, so the rule is written once."""

    key: str
    label: str
    lowest: int | None = None  # inclusive bounds of the levels it keeps; None: unbounded
    highest: int | None = None
    unscored: bool = False

    def matches(self, level: int | None) -> bool:
        if not self.key:
            return True
        if self.unscored or level is None:
            return self.unscored and level is None
        return (self.lowest is None or level >= self.lowest) and (
            self.highest is None or level <= self.highest
        )


def _or_lower(level: SentimentLevel) -> SentimentFilter:
    return SentimentFilter(level_slug(level), f"{level.label} or lower", highest=level.value)


def _or_higher(level: SentimentLevel) -> SentimentFilter:
    return SentimentFilter(level_slug(level), f"{level.label} or higher", lowest=level.value)


NEUTRAL = SentimentLevel.NEUTRAL
SENTIMENT_FILTERS = (
    SentimentFilter("", "Any sentiment"),
    _or_lower(SentimentLevel.SLIGHTLY_NEGATIVE),
    _or_lower(SentimentLevel.NEGATIVE),
    SentimentFilter(level_slug(NEUTRAL), str(NEUTRAL.label), lowest=NEUTRAL.value, highest=NEUTRAL.value),
    _or_higher(SentimentLevel.SLIGHTLY_POSITIVE),
    SentimentFilter(level_slug(None), "Not scored yet", unscored=True),
)
_FILTER_BY_KEY = {f.key: f for f in SENTIMENT_FILTERS}


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
    rows = [
        _conversation_row(c, now)
        for c in conversations
        if _FILTER_BY_KEY.get(sentiment_filter, SENTIMENT_FILTERS[0]).matches(c.sentiment_level)
    ]
    snoozes = for_conversations.snoozed_until(staff, now=now)
    for r in rows:
        r["snoozed_until"] = snoozes.get(r["c"].pk)
    notifications = for_conversations.unacknowledged_notifications(staff)
    for n in notifications:
        n.snoozed_until = snoozes.get(n.alert.conversation_id)
    if sort == "sentiment":
        rows.sort(
            key=lambda r: (
                r["c"].sentiment_level is None,
                r["c"].sentiment_level or 0,
                r["c"].sentiment_score or 0,
            )
        )
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
            "notifications": notifications,
            "presence_choices": Presence.choices,
        },
    )


@staff_required(Role.REPRESENTATIVE, Role.SUPERVISOR, Role.ADMIN)
@require_GET
def monitor(request, conversation_id: int):
    """Read-only live transcript with per-message sentiment; drop drivers highlighted."""
    c = conversation_for_staff(request.staff, conversation_id)
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
    return {
        "row": _conversation_row(c, timezone.now()),
        "representatives": list(reps),
        "queues": list(Queue.objects.all()),
    }


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_GET
def conversation_route(request, conversation_id: int):
    """The Assign / Transfer form for one conversation (the row's buttons lead here)."""
    c = conversation_for_staff(request.staff, conversation_id)
    return render(request, "conversations/route.html", _route_context(request.staff, c))


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_POST
def conversation_assign(request, conversation_id: int):
    staff = request.staff
    c = conversation_for_staff(staff, conversation_id)
    rep_id = parse_optional_id(request.POST.get("representative"), "representative")
    rep = assignable_representatives(staff).filter(pk=rep_id).first() if rep_id else None
    if rep is None:
        flash.error(request, "Choose a representative of your queues.")
        return redirect("conversations:route", conversation_id=c.pk)
    try:
        assignment.conversation_assign(conversation=c, representative=rep)
    except (ValidationError, PermissionDenied, ValueError) as exc:
        flash.error(request, f"Not assigned: {error_text(exc)}")
        return redirect("conversations:route", conversation_id=c.pk)
    flash.success(request, f"Conversation with {c.customer.name} assigned to {rep.display_name}.")
    return after_action(request, "conversations:ongoing")


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_POST
def conversation_transfer(request, conversation_id: int):
    """Transfer to another queue (unassigned there) or to a representative."""
    staff = request.staff
    c = conversation_for_staff(staff, conversation_id)
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
        flash.error(request, f"Not transferred: {error_text(exc)}")
        return redirect("conversations:route", conversation_id=c.pk)
    target = rep.display_name if rep else queue.name
    flash.success(request, f"Conversation with {c.customer.name} transferred to {target}.")
    return after_action(request, "conversations:ongoing")


@staff_required()
@require_POST
def presence_update(request):
    """Form fallback for the header's presence selector (the page normally uses the socket)."""
    value = request.POST.get("presence", "")
    if value not in Presence.values:
        flash.error(request, "Unknown presence.")
    else:
        presence_set(staff=request.staff, presence=value)
    return after_action(request, home_redirect_for(request.staff, request.user))


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
                    "chat-start",
                    address,
                    limit=settings.CHAT_STARTS_PER_ADDRESS,
                    window=settings.CHAT_START_WINDOW_SECONDS,
                    message="Too many chats started from your address.",
                )
            except Throttled as exc:
                response = render(
                    request,
                    "conversations/chat_start.html",
                    {"queues": queues, "error": f"{exc.message} Try again in {exc.retry_after} seconds."},
                    status=429,
                )
                response["Retry-After"] = str(exc.retry_after)
                return response
            throttle_record("chat-start", address, window=settings.CHAT_START_WINDOW_SECONDS)
            # Queue routing offers it to the queue's representatives (or it waits its turn).
            conversation = conversation_create(queue=queue, customer_name=name, channel=Channel.CHAT)
            return redirect("conversations:chat", token=conversation.customer_token)
    return render(
        request,
        "conversations/chat_start.html",
        {"queues": queues, "error": error},
        status=400 if error else 200,
    )


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
