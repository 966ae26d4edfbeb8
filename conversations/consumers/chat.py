"""``ws/chat/<customer_token>/``: the customer's socket. Never carries sentiment."""

from __future__ import annotations

from channels.db import database_sync_to_async

from conversations import frames
from conversations.consumers.base import (
    CLOSE_NOT_FOUND,
    BaseConsumer,
    FrameError,
    client_id_field,
    int_field,
)
from conversations.models import Conversation, ConversationStatus
from conversations.selectors import queue_position
from conversations.services.ingest import MessageRejected, RateLimited, message_ingest
from sentiment_admin import realtime


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
        after_seq = int_field(content, "after_seq", minimum=0)

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
