"""Websocket group names and event types: the one module that names them.

Group names are built only from database ids (never from client input), so they always
satisfy Channels' rule ``^[a-zA-Z0-9\\-_.]+$`` and stay under 100 characters.

Event types are ``<entity>.<verb>``. Channels dispatches a group event of type
``conversation.scored`` to the consumer method ``conversation_scored``; the same string is
the ``type`` of the JSON frame the browser receives.
"""

from __future__ import annotations

# --- Groups -------------------------------------------------------------------------------


def staff_group(staff_id: int) -> str:
    """Every open websocket of one staff member (all their tabs and devices)."""
    return f"staff.{int(staff_id)}"


def queue_group(queue_id: int) -> str:
    """Supervisors watching the Ongoing conversations report for one queue."""
    return f"queue.{int(queue_id)}"


def conversation_group(conversation_id: int) -> str:
    """Anyone monitoring one conversation, and the customer's own chat sockets."""
    return f"conversation.{int(conversation_id)}"


def customer_group(conversation_id: int) -> str:
    """The customer's chat sockets for one conversation (they must not see sentiment)."""
    return f"customer.{int(conversation_id)}"


def staff_access_group(staff_id: int) -> str:
    """Every socket signed in as one staff member (staff and monitor sockets), told when that
    person's access changes (sign-out, deactivation, role or queues)."""
    return f"staff-access.{int(staff_id)}"


def conversation_order(conversation_id: int) -> tuple[str, int]:
    """The order key of a conversation's scheduled sends (``broadcast.send_soon``): its
    ``message.created``, hand-over to scoring, ``conversation.scored`` and alert frames leave
    a process in the order they were scheduled."""
    return ("conversation", int(conversation_id))


def conversation_audience(*, conversation_id: int, queue_id: int, representative_id: int | None) -> list[str]:
    """Staff who follow a conversation: its representative, its queue's supervisors, monitors."""
    groups = [queue_group(queue_id), conversation_group(conversation_id)]
    if representative_id:
        groups.insert(0, staff_group(representative_id))
    return groups


PRESENCE_GROUP = "presence"
INSIGHTS_GROUP = "insights.settings"
# Integration event streams (``ws/integrations/events/``, a key with ``read_sentiment``):
# every scored message and every alert crossing, of every conversation.
INTEGRATIONS_GROUP = "integrations.events"

# --- Server → client event types ----------------------------------------------------------

MESSAGE_CREATED = "message.created"
CONVERSATION_SCORED = "conversation.scored"
CONVERSATION_UPDATED = "conversation.updated"
CONVERSATION_ASSIGNED = "conversation.assigned"
CONVERSATION_REMOVED = "conversation.removed"
ALERT_RAISED = "alert.raised"
ALERT_RECOVERED = "alert.recovered"
ALERT_STATE = "alert.state"
NOTIFICATION_CREATED = "notification.created"
NOTIFICATION_ACKNOWLEDGED = "notification.acknowledged"
PRESENCE_CHANGED = "presence.changed"
SETTINGS_CHANGED = "settings.changed"
MESSAGE_ACK = "message.ack"
CATCH_UP_DONE = "catch_up.done"
ERROR = "error"
PONG = "pong"
CONVERSATION_SNOOZED = "conversation.snoozed"
STAFF_ACCESS_CHANGED = "staff.access_changed"
CHAT_UPDATED = "chat.updated"  # to the customer only: waiting (place in queue), with an agent, ended

# --- Server-internal group events (never forwarded as frames) --------------------------------

# A conversation changed hands: monitor sockets re-check that their staff member may still see it.
CONVERSATION_ACCESS_CHANGED = "conversation.access_changed"
# From the channel layer to its own sockets: this socket may have missed frames (its queue
# overflowed, or the layer's subscription to Redis reconnected); it closes so its client
# catches up by sequence number.
LAYER_RESYNC = "layer.resync"

# --- Client → server frame types ------------------------------------------------------------

CLIENT_SEND_MESSAGE = "message.send"
CLIENT_CATCH_UP = "catch_up"
CLIENT_SET_PRESENCE = "presence.set"
CLIENT_ACK_NOTIFICATION = "notification.ack"
CLIENT_SNOOZE = "conversation.snooze"
CLIENT_PING = "ping"

# --- Worker channel ---------------------------------------------------------------------------

SCORING_CHANNEL = "sentiment-scoring"
SCORE_MESSAGES = "score.messages"


def handler_name(event_type: str) -> str:
    """The consumer method Channels calls for a group event of this type."""
    return event_type.replace(".", "_")


# --- Channel layers (settings.CHANNEL_LAYERS aliases) ------------------------------------------

# The sockets' fan-out: every group send and every websocket consumer.
SCREENS_LAYER = "screens"
# The scoring workers' channel, which hands each message to exactly one worker.
WORKERS_LAYER = "default"
