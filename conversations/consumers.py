"""Websocket consumers. Thin: authenticate, validate the frame, call a service through
``database_sync_to_async``, send. The contract (frames, fields, error codes) is
``docs/events.md``; names come from ``sentiment_admin.realtime``.

Every client error is answered with ``{"type": "error", "code": ..., "message": ...}`` and the
socket stays open. Group events are forwarded as they are (their ``type`` is the frame type).

Nothing lost, nothing duplicated: each socket remembers which ``message.created`` and
``conversation.scored`` sequence numbers it already sent per conversation, so a catch-up that
overlaps live events (a message committed between the reconnect and the catch-up query)
sends every message exactly once.
"""

from __future__ import annotations

import asyncio
import logging

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from conversations import frames
from conversations.models import Conversation, ConversationStatus, Queue, Role, StaffMember
from conversations.selectors import conversations_visible_to, queue_position, staff_for_socket, staff_for_user
from conversations.services.access import session_digest
from conversations.services.ingest import (
    MessageRejected,
    RateLimited,
    client_id_clean,
    message_ingest,
    representative_reply,
)
from conversations.services.presence import (
    InvalidPresence,
    presence_offline_if_idle,
    presence_set,
    presence_socket_closed,
    presence_socket_opened,
    presence_socket_seen,
)
from insights import for_conversations
from sentiment_admin import realtime
from sentiment_admin.inputs import InvalidInput, parse_int, parse_json
from sentiment_admin.throttle import SocketThrottle, Throttled

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class FrameError(Exception):
    def __init__(self, code: str, message: str, **extra) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


def _int_field(content: dict, name: str, *, minimum: int | None = None) -> int:
    try:
        return parse_int(content.get(name), name, minimum=minimum)
    except InvalidInput as exc:
        raise FrameError(exc.code, exc.message) from None


class _SentLog:
    """Which message / score sequence numbers this socket already sent, per conversation."""

    LIMIT = 5000

    def __init__(self) -> None:
        self._sent: dict[tuple[str, int], set[int]] = {}

    def first_time(self, frame: dict) -> bool:
        kind = frame.get("type")
        if kind not in (realtime.MESSAGE_CREATED, realtime.CONVERSATION_SCORED):
            return True
        try:
            key, seq = (kind, int(frame["conversation"])), int(frame["seq"])
        except (KeyError, TypeError, ValueError):
            return True
        seen = self._sent.setdefault(key, set())
        if seq in seen:
            return False
        seen.add(seq)
        if len(seen) > self.LIMIT:  # keep the newest half; old sequence numbers never come back live
            for old in sorted(seen)[: self.LIMIT // 2]:
                seen.discard(old)
        return True


class BaseConsumer(AsyncJsonWebsocketConsumer):
    """JSON frames with error replies instead of exceptions; forwards group events."""

    handlers: dict[str, str] = {}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.groups_joined: list[str] = []
        self.sent = _SentLog()
        self.throttles = {
            realtime.CLIENT_CATCH_UP: SocketThrottle(limit=settings.SOCKET_CATCH_UPS_PER_MINUTE),
            realtime.CLIENT_PING: SocketThrottle(limit=settings.SOCKET_PINGS_PER_MINUTE),
        }

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.append(group)

    async def leave_all(self) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = []

    async def refuse(self, code: int) -> None:
        """Accept, then close with an application close code (``docs/events.md``): a refused
        handshake reaches the client as a bare HTTP 403, where "sign in" (4401) and "not
        yours / unknown" (4404) could not be told apart."""
        await self.accept()
        await self.close(code=code)

    async def send_error(self, code: str, message: str, **extra) -> None:
        await self.send_json({"type": realtime.ERROR, "code": code, "message": message, **extra})

    async def send_frame(self, frame: dict) -> None:
        if self.sent.first_time(frame):
            await self.send_json(frame)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self.send_error("invalid_json", "Frames are JSON text.")
            return
        try:
            content = parse_json(text_data, what="frame")
        except InvalidInput as exc:
            await self.send_error(exc.code, exc.message)
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error("invalid", "A frame is a JSON object with a 'type'.")
            return
        kind = content["type"]
        handler = self.handlers.get(kind)
        if handler is None:
            await self.send_error("unknown_type", f"Unknown frame type {kind[:50]!r}.")
            return
        try:
            throttle = self.throttles.get(kind)
            if throttle is not None:
                throttle.hit(f"Too many {kind} frames on this socket; wait a moment.")
            await getattr(self, handler)(content)
        except Throttled as exc:
            await self.send_error("rate_limited", exc.message, retry_after=exc.retry_after)
        except AccessRevoked as exc:
            await self.send_error(exc.code, exc.message)
            await self.access_revoked()
        except FrameError as exc:
            await self.send_error(exc.code, exc.message, **exc.extra)
        except Exception:  # a bug or an outage must not drop the socket
            logger.exception("frame %s failed", kind)
            await self.send_error("server_error", "Something went wrong on our side; please try again.")

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            logger.warning("%s ignored a %r event", type(self).__name__, message.get("type"))
            return
        if message["type"].startswith("websocket."):
            await super().dispatch(message)
            return
        # Group events only forward a frame. Channels' dispatch would first await
        # aclose_old_connections() on the process's one thread-sensitive thread, where every
        # database_sync_to_async ingest also runs, so under load a score waited behind every
        # queued customer message (measured by bench/pipeline.py, docs/benchmarks.md).
        await handler(message)

    async def on_ping(self, content: dict) -> None:
        await self.send_json({"type": realtime.PONG})

    # Group events: forwarded as they are.
    async def message_created(self, event):
        await self.send_frame(event)


class SentimentEventsMixin:
    """Sentiment group events, forwarded to staff-side sockets only: the customer's socket
    has none of these handlers, so sentiment can never reach a customer."""

    async def conversation_scored(self, event):
        await self.send_frame(event)

    async def conversation_updated(self, event):
        await self.send_json(event)

    async def conversation_assigned(self, event):
        await self.send_json(event)

    async def alert_raised(self, event):
        await self.send_json(event)

    async def alert_recovered(self, event):
        await self.send_json(event)


class AccessRevoked(FrameError):
    """The socket's sign-in no longer holds: answered with an error frame, then a 4401 close."""

    def __init__(self) -> None:
        super().__init__("unauthenticated", "Your sign-in ended; sign in again.")


class StaffAccessMixin:
    """Access changes take effect on open staff-side sockets (``conversations.services.access``).

    ``staff.access_changed`` makes the socket re-check who it is signed in as; catch-up and
    replies re-check before they answer. ``access_apply`` is each consumer's reaction."""

    def _staff_now(self) -> StaffMember:
        """The socket's staff member as of now (sync); AccessRevoked when the sign-in ended."""
        staff = staff_for_socket(user=self.scope.get("user"), session=self.scope.get("session"))
        if staff is None:
            raise AccessRevoked()
        self.staff = staff
        return staff

    def _session_digest(self) -> str:
        return session_digest(getattr(self.scope.get("session"), "session_key", None))

    async def join_access_group(self) -> None:
        await self.join(realtime.staff_access_group(self.staff.pk))

    async def staff_access_changed(self, event):
        signed_out = event.get("signed_out_session")
        try:
            if signed_out and signed_out == self._session_digest():
                raise AccessRevoked()
            await database_sync_to_async(self._staff_now)()
        except AccessRevoked:
            await self.access_revoked()
            return
        await self.access_apply()

    async def access_revoked(self) -> None:
        await self.leave_all()
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def access_apply(self) -> None:
        raise NotImplementedError


class StaffConsumer(StaffAccessMixin, SentimentEventsMixin, BaseConsumer):
    """``ws/staff/``: every event for the signed-in staff member's conversations and queues."""

    handlers = {
        realtime.CLIENT_PING: "on_staff_ping",
        realtime.CLIENT_SET_PRESENCE: "on_presence_set",
        realtime.CLIENT_CATCH_UP: "on_catch_up",
        realtime.CLIENT_ACK_NOTIFICATION: "on_notification_ack",
        realtime.CLIENT_SNOOZE: "on_snooze",
        realtime.CLIENT_SEND_MESSAGE: "on_message_send",
    }

    async def connect(self):
        self.staff = await database_sync_to_async(staff_for_user)(self.scope.get("user"))
        if self.staff is None:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        await self.join(realtime.staff_group(self.staff.pk))
        await self.join_access_group()
        for queue_id in await database_sync_to_async(self._queue_ids)():
            await self.join(realtime.queue_group(queue_id))
        await self.join(realtime.PRESENCE_GROUP)
        await self.join(realtime.INSIGHTS_GROUP)
        # Before accepting: once the client sees the socket open, the sign-in is recorded.
        await database_sync_to_async(presence_socket_opened)(
            staff=self.staff.pk, channel_name=self.channel_name
        )
        await self.accept()

    def _queue_ids(self) -> list[int]:
        if self.staff.role == Role.ADMIN:
            return list(Queue.objects.values_list("pk", flat=True))
        if self.staff.role == Role.SUPERVISOR:
            return list(self.staff.queues.values_list("pk", flat=True))
        return []

    async def access_apply(self) -> None:
        """Still signed in, maybe with another role or other queues: follow exactly the queues
        the staff member has now, and tell the page (it reloads its lists)."""
        wanted = {realtime.queue_group(q) for q in await database_sync_to_async(self._queue_ids)()}
        joined = {g for g in self.groups_joined if g.startswith("queue.")}
        for group in joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.remove(group)
        for group in sorted(wanted - joined):
            await self.join(group)
        await self.send_json({"type": realtime.STAFF_ACCESS_CHANGED, "role": self.staff.role})

    async def disconnect(self, code):
        await self.leave_all()
        staff = getattr(self, "staff", None)
        if staff is None:
            return
        remaining = await database_sync_to_async(presence_socket_closed)(
            staff=staff.pk, channel_name=self.channel_name
        )
        if remaining == 0:
            asyncio.get_running_loop().create_task(_offline_after_grace(staff.pk))

    # --- client frames ---------------------------------------------------------------------

    def _visible(self, conversation_id: int) -> Conversation:
        conversation = conversations_visible_to(self.staff).filter(pk=conversation_id).first()
        if conversation is None:
            raise FrameError("not_found", f"No conversation {conversation_id} for you.")
        return conversation

    async def on_staff_ping(self, content):
        await database_sync_to_async(presence_socket_seen)(channel_name=self.channel_name)
        await self.on_ping(content)

    async def on_presence_set(self, content):
        presence = content.get("presence")
        try:
            await database_sync_to_async(presence_set)(staff=self.staff.pk, presence=presence)
        except InvalidPresence as exc:
            raise FrameError("invalid_presence", str(exc)) from None

    async def on_catch_up(self, content):
        conversation_id = _int_field(content, "conversation", minimum=1)
        after_seq = _int_field(content, "after_seq", minimum=0)

        def read():
            self._staff_now()
            conversation = self._visible(conversation_id)
            return frames.catch_up_frames(conversation=conversation, after_seq=after_seq)

        replay, last_seq = await database_sync_to_async(read)()
        for frame in replay:
            await self.send_frame(frame)
        await self.send_json(
            {"type": realtime.CATCH_UP_DONE, "conversation": conversation_id, "last_seq": last_seq}
        )

    async def on_notification_ack(self, content):
        notification_id = _int_field(content, "notification", minimum=1)
        try:
            await database_sync_to_async(for_conversations.notification_acknowledge)(
                notification_id=notification_id, staff=self.staff
            )
        except for_conversations.NotificationNotFound:
            raise FrameError("not_found", f"No notification {notification_id}.") from None
        except PermissionDenied as exc:
            raise FrameError("forbidden", str(exc)) from None

    async def on_snooze(self, content):
        conversation_id = _int_field(content, "conversation", minimum=1)
        minutes = _int_field(content, "minutes", minimum=0)

        def snooze():
            conversation = self._visible(conversation_id)
            return for_conversations.conversation_snooze(
                staff=self.staff, conversation=conversation, minutes=minutes
            )

        try:
            result = await database_sync_to_async(snooze)()
        except ValidationError as exc:
            raise FrameError("invalid", " ".join(exc.messages)) from None
        await self.send_json(
            {
                "type": realtime.CONVERSATION_SNOOZED,
                "conversation": conversation_id,
                "until": result.until.isoformat() if result else None,
            }
        )

    async def on_message_send(self, content):
        conversation_id = _int_field(content, "conversation", minimum=1)
        client_id = _client_id(content)

        def reply():
            self._staff_now()
            conversation = self._visible(conversation_id)
            if conversation.representative_id != self.staff.pk:
                raise FrameError(
                    "forbidden", "Only the conversation's representative replies to the customer."
                )
            return representative_reply(
                conversation=conversation, text=content.get("text"), author=self.staff, client_id=client_id
            )

        try:
            message = await database_sync_to_async(reply)()
        except MessageRejected as exc:
            raise FrameError(exc.code, exc.message, client_id=client_id) from None
        await self.send_json(
            {
                "type": realtime.MESSAGE_ACK,
                "conversation": conversation_id,
                "seq": message.seq,
                "client_id": client_id,
            }
        )

    # --- group events (forwarded) ------------------------------------------------------------

    async def conversation_removed(self, event):
        await self.send_json(event)

    async def notification_created(self, event):
        await self.send_json(event)

    async def notification_acknowledged(self, event):
        await self.send_json(event)

    async def presence_changed(self, event):
        await self.send_json(event)

    async def settings_changed(self, event):
        await self.send_json(event)


async def _offline_after_grace(staff_id: int) -> None:
    """Offline once the grace period passed with no socket open in any process."""
    try:
        await asyncio.sleep(settings.PRESENCE_OFFLINE_GRACE_SECONDS)
        await database_sync_to_async(presence_offline_if_idle)(staff=staff_id)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("could not set staff %s offline", staff_id)


def _client_id(content: dict):
    """The frame's client_id as sent (echoed in the ack), once the ingest rule accepts it."""
    client_id = content.get("client_id")
    try:
        client_id_clean(client_id)
    except MessageRejected as exc:
        raise FrameError(exc.code, exc.message) from None
    return client_id


class MonitorConsumer(StaffAccessMixin, SentimentEventsMixin, BaseConsumer):
    """``ws/monitor/<conversation_id>/``: a read-only live transcript with per-message sentiment,
    for supervisors of the queue, admins and the assigned representative."""

    handlers = {realtime.CLIENT_PING: "on_ping", realtime.CLIENT_CATCH_UP: "on_catch_up"}

    async def connect(self):
        self.staff = await database_sync_to_async(staff_for_user)(self.scope.get("user"))
        if self.staff is None:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        self.conversation_id = int(self.scope["url_route"]["kwargs"]["conversation_id"])
        visible = await database_sync_to_async(
            lambda: conversations_visible_to(self.staff).filter(pk=self.conversation_id).exists()
        )()
        if not visible:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        await self.join(realtime.conversation_group(self.conversation_id))
        await self.join_access_group()
        await self.accept()

    async def disconnect(self, code):
        await self.leave_all()

    def _may_watch(self) -> Conversation | None:
        return conversations_visible_to(self.staff).filter(pk=self.conversation_id).first()

    async def _stop_unless_visible(self) -> None:
        """A staff member who may no longer see the conversation hears nothing more from this
        socket: ``conversation.removed``, then a 4403 close."""
        if await database_sync_to_async(self._may_watch)() is not None:
            return
        await self.leave_all()
        await self.send_json({"type": realtime.CONVERSATION_REMOVED, "conversation": self.conversation_id})
        await self.close(code=CLOSE_FORBIDDEN)

    async def conversation_access_changed(self, event):
        """The conversation changed hands (this event is handled before any later one)."""
        await self._stop_unless_visible()

    async def access_apply(self) -> None:
        """Still signed in, maybe with another role or other queues."""
        await self._stop_unless_visible()

    async def on_catch_up(self, content):
        after_seq = _int_field(content, "after_seq", minimum=0)
        if "conversation" in content and _int_field(content, "conversation") != self.conversation_id:
            raise FrameError("invalid", "This socket monitors one conversation only.")

        def read():
            self._staff_now()
            conversation = self._may_watch()
            if conversation is None:
                raise FrameError("not_found", f"No conversation {self.conversation_id} for you.")
            return frames.catch_up_frames(conversation=conversation, after_seq=after_seq)

        replay, last_seq = await database_sync_to_async(read)()
        for frame in replay:
            await self.send_frame(frame)
        await self.send_json(
            {"type": realtime.CATCH_UP_DONE, "conversation": self.conversation_id, "last_seq": last_seq}
        )


class CustomerChatConsumer(BaseConsumer):
    """``ws/chat/<customer_token>/``: the customer's side. Never carries sentiment."""

    handlers = {
        realtime.CLIENT_PING: "on_ping",
        realtime.CLIENT_SEND_MESSAGE: "on_message_send",
        realtime.CLIENT_CATCH_UP: "on_catch_up",
    }

    async def connect(self):
        token = self.scope["url_route"]["kwargs"]["customer_token"]
        self.conversation_id = await database_sync_to_async(
            lambda: (
                Conversation.objects.filter(customer_token=token)
                .exclude(status=ConversationStatus.CLOSED)
                .values_list("pk", flat=True)
                .first()
            )
        )()
        if self.conversation_id is None:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        await self.join(realtime.customer_group(self.conversation_id))
        await self.accept()

    async def disconnect(self, code):
        await self.leave_all()

    async def on_message_send(self, content):
        client_id = _client_id(content)
        try:
            message = await database_sync_to_async(message_ingest)(
                conversation=self.conversation_id, text=content.get("text"), client_id=client_id
            )
        except RateLimited as exc:
            raise FrameError(
                exc.code, exc.message, retry_after=exc.retry_after, client_id=client_id
            ) from None
        except MessageRejected as exc:
            raise FrameError(exc.code, exc.message, client_id=client_id) from None
        self.sent.first_time(
            {"type": realtime.MESSAGE_CREATED, "conversation": self.conversation_id, "seq": message.seq}
        )
        await self.send_json(
            {
                "type": realtime.MESSAGE_ACK,
                "seq": message.seq,
                "client_id": client_id,
                "created_at": message.created_at.isoformat(),
            }
        )

    async def on_catch_up(self, content):
        after_seq = _int_field(content, "after_seq", minimum=0)

        def read():
            conversation = Conversation.objects.select_related("representative__user").get(
                pk=self.conversation_id
            )
            replay, last_seq = frames.catch_up_frames(
                conversation=conversation, after_seq=after_seq, for_customer=True
            )
            return replay, last_seq, frames.chat_payload(conversation, position=queue_position(conversation))

        replay, last_seq, state = await database_sync_to_async(read)()
        for frame in replay:
            await self.send_frame(frame)
        await self.send_json(
            {"type": realtime.CATCH_UP_DONE, "conversation": self.conversation_id, "last_seq": last_seq}
        )
        # Where the chat stands now (waiting and where in the queue, with whom, or ended).
        await self.send_json(state)

    async def chat_updated(self, event):
        await self.send_json(event)


class UnknownRouteConsumer(BaseConsumer):
    """Any other ``ws/`` path (a malformed customer token such as ``/ws/chat/nope/``, a typo):
    refused with 4404 like an unknown token, instead of an error in the router."""

    async def connect(self):
        await self.refuse(CLOSE_NOT_FOUND)
