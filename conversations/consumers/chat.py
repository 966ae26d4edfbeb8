"""``ws/chat/<customer_token>/``: the customer's socket. Never carries sentiment."""

from __future__ import annotations

from channels.db import database_sync_to_async

from conversations import frames
from conversations.consumers.base import (
    CLOSE_NOT_FOUND,
    BaseConsumer,
    CatchUpMixin,
    FrameError,
    client_id_field,
)
from conversations.models import Conversation, ConversationStatus
from conversations.selectors import queue_position
from conversations.services.ingest import MessageRejected, RateLimited, message_ingest
from sentiment_admin import realtime


class CustomerChatConsumer(CatchUpMixin, BaseConsumer):
    """``ws/chat/<customer_token>/``: the customer's side. Never carries sentiment."""

    catch_up_for_customer = True

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
        client_id = client_id_field(content)
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
        # The customer's own message comes back live from the group: it is already shown.
        self.sent.mark(realtime.MESSAGE_CREATED, self.conversation_id, message.seq)
        await self.send_json(frames.customer_message_ack(message, client_id=client_id))

    def catch_up_conversation(self, conversation_id: int) -> Conversation:
        return Conversation.objects.select_related("representative__user").get(pk=conversation_id)

    def catch_up_now(self, conversation) -> list[dict]:
        """Where the chat stands now (waiting and where in the queue, with whom, or ended)."""
        return [frames.chat_payload(conversation, position=queue_position(conversation))]

    async def chat_updated(self, event):
        await self.send_json(event)
