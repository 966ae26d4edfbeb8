"""``ws/monitor/<conversation_id>/``: one conversation's read-only live transcript."""

from __future__ import annotations

from channels.db import database_sync_to_async

from conversations import frames
from conversations.consumers.base import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
    BaseConsumer,
    CatchUpMixin,
    FrameError,
    SentimentEventsMixin,
    StaffAccessMixin,
    int_field,
)
from conversations.models import Conversation
from conversations.selectors import conversations_visible_to, staff_for_user
from sentiment_admin import realtime


class MonitorConsumer(CatchUpMixin, StaffAccessMixin, SentimentEventsMixin, BaseConsumer):
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
        await self.send_json(frames.removed_frame(self.conversation_id))
        await self.close(code=CLOSE_FORBIDDEN)

    async def conversation_access_changed(self, event):
        """The conversation changed hands (this event is handled before any later one)."""
        await self._stop_unless_visible()

    async def access_apply(self) -> None:
        """Still signed in, maybe with another role or other queues."""
        await self._stop_unless_visible()

    def catch_up_target(self, content: dict) -> int:
        if "conversation" in content and int_field(content, "conversation") != self.conversation_id:
            raise FrameError("invalid", "This socket monitors one conversation only.")
        return self.conversation_id

    def catch_up_conversation(self, conversation_id: int) -> Conversation:
        self._staff_now()
        conversation = self._may_watch()
        if conversation is None:
            raise FrameError("not_found", f"No conversation {conversation_id} for you.")
        return conversation
