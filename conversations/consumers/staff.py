"""``ws/staff/``: the staff member's socket (workspace and Ongoing conversations)."""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from conversations import frames
from conversations.consumers.base import (
    CLOSE_UNAUTHENTICATED,
    BaseConsumer,
    CatchUpMixin,
    FrameError,
    SentimentEventsMixin,
    StaffAccessMixin,
    client_id_field,
    int_field,
)
from conversations.models import Conversation, Queue, Role
from conversations.selectors import conversations_visible_to, staff_for_user
from conversations.services.ingest import MessageRejected, representative_reply
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

logger = logging.getLogger(__name__)


class StaffConsumer(CatchUpMixin, StaffAccessMixin, SentimentEventsMixin, BaseConsumer):
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
        await self.send_json(frames.access_changed_frame(self.staff.role))

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

    def catch_up_target(self, content: dict) -> int:
        return int_field(content, "conversation", minimum=1)

    def catch_up_conversation(self, conversation_id: int) -> Conversation:
        self._staff_now()
        return self._visible(conversation_id)

    async def on_notification_ack(self, content):
        notification_id = int_field(content, "notification", minimum=1)
        try:
            await database_sync_to_async(for_conversations.notification_acknowledge)(
                notification_id=notification_id, staff=self.staff
            )
        except for_conversations.NotificationNotFound:
            raise FrameError("not_found", f"No notification {notification_id}.") from None
        except PermissionDenied as exc:
            raise FrameError("forbidden", str(exc)) from None

    async def on_snooze(self, content):
        conversation_id = int_field(content, "conversation", minimum=1)
        minutes = int_field(content, "minutes", minimum=0)

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
            frames.snoozed_frame(conversation_id=conversation_id, until=result.until if result else None)
        )

    async def on_message_send(self, content):
        conversation_id = int_field(content, "conversation", minimum=1)
        client_id = client_id_field(content)

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
            frames.staff_message_ack(conversation_id=conversation_id, seq=message.seq, client_id=client_id)
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
        for_conversations.settings_changed_heard()
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
