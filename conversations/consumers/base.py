"""What every websocket consumer shares: JSON frames with error replies instead of
exceptions, the per-socket log of sent sequence numbers, the forwarding of group events, the
re-check of a staff socket's access, and the refusal of unknown routes."""

from __future__ import annotations

import logging

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from conversations import frames
from conversations.models import StaffMember
from conversations.selectors import staff_for_socket
from conversations.services.access import session_digest
from conversations.services.ingest import MessageRejected, client_id_clean
from sentiment_admin import realtime
from sentiment_admin.inputs import InvalidInput, parse_int, parse_json
from sentiment_admin.throttle import SocketThrottle, Throttled

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# The socket may have missed frames (docs/events.md): reconnect and catch up by sequence number.
CLOSE_CATCH_UP = 4503


class FrameError(Exception):
    def __init__(self, code: str, message: str, **extra) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


def int_field(content: dict, name: str, *, minimum: int | None = None) -> int:
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
            conversation_id, seq = int(frame["conversation"]), int(frame["seq"])
        except (KeyError, TypeError, ValueError):
            return True
        return self.mark(kind, conversation_id, seq)

    def mark(self, kind: str, conversation_id: int, seq: int) -> bool:
        """Record ``kind`` ``seq`` of the conversation as sent; False when it already was."""
        seen = self._sent.setdefault((kind, conversation_id), set())
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
    channel_layer_alias = realtime.SCREENS_LAYER

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

    async def layer_resync(self, event: dict) -> None:
        """The channel layer could not deliver every frame to this socket: closing makes the
        client reconnect and catch up, where carrying on would leave a gap it cannot see."""
        await self.leave_all()
        await self.close(code=CLOSE_CATCH_UP)

    async def refuse(self, code: int) -> None:
        """Accept, then close with an application close code (``docs/events.md``): a refused
        handshake reaches the client as a bare HTTP 403, where "sign in" (4401) and "not
        yours / unknown" (4404) could not be told apart."""
        await self.accept()
        await self.close(code=code)

    async def send_error(self, code: str, message: str, **extra) -> None:
        await self.send_json(frames.error_frame(code, message, **extra))

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
        await self.send_json(frames.pong_frame())

    # Group events: forwarded as they are.
    async def message_created(self, event):
        await self.send_frame(event)


class CatchUpMixin:
    """``catch_up``: the frames missed after ``after_seq`` (``frames.catch_up_frames``), each
    sent once (the sent log), then ``catch_up.done``, then what the socket says about the
    conversation now. One implementation for every socket; each names its conversation
    (``catch_up_target``), who may read it (``catch_up_conversation``) and, for the customer's
    side, ``catch_up_for_customer`` (no sentiment) and ``catch_up_now`` (the chat's state)."""

    catch_up_for_customer = False

    def catch_up_target(self, content: dict) -> int:
        """The conversation a ``catch_up`` frame asks about: by default the socket's own."""
        return self.conversation_id

    def catch_up_conversation(self, conversation_id: int):
        """The conversation, if this socket may read it now (sync); FrameError otherwise."""
        raise NotImplementedError

    def catch_up_now(self, conversation) -> list[dict]:
        """Frames sent after ``catch_up.done`` (sync): none unless a socket says otherwise."""
        return []

    async def on_catch_up(self, content: dict) -> None:
        conversation_id = self.catch_up_target(content)
        after_seq = int_field(content, "after_seq", minimum=0)

        def read():
            conversation = self.catch_up_conversation(conversation_id)
            replay, last_seq = frames.catch_up_frames(
                conversation=conversation, after_seq=after_seq, for_customer=self.catch_up_for_customer
            )
            return replay, last_seq, self.catch_up_now(conversation)

        replay, last_seq, now = await database_sync_to_async(read)()
        for frame in replay:
            await self.send_frame(frame)
        await self.send_json(frames.catch_up_done(conversation_id=conversation_id, last_seq=last_seq))
        for frame in now:
            await self.send_json(frame)


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


def client_id_field(content: dict):
    """The frame's client_id as sent (echoed in the ack), once the ingest rule accepts it."""
    client_id = content.get("client_id")
    try:
        client_id_clean(client_id)
    except MessageRejected as exc:
        raise FrameError(exc.code, exc.message) from None
    return client_id


class UnknownRouteConsumer(BaseConsumer):
    """Any other ``ws/`` path (a malformed customer token such as ``/ws/chat/nope/``, a typo):
    refused with 4404 like an unknown token, instead of an error in the router."""

    async def connect(self):
        await self.refuse(CLOSE_NOT_FOUND)
