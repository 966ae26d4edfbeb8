"""Websocket consumers, one module per kind of socket. Thin: authenticate, validate the frame,
call a service through ``database_sync_to_async``, send. The contract (frames, fields, error
codes) is ``docs/events.md``; names come from ``sentiment_admin.realtime``; the frames they
build are ``conversations.frames``.

- ``staff``: ``ws/staff/``, every event for a staff member's conversations and queues (the
  workspace and the Ongoing report);
- ``monitor``: ``ws/monitor/<id>/``, one conversation's read-only live transcript;
- ``chat``: ``ws/chat/<token>/``, the customer's side, which never carries sentiment;
- ``base``: what they share: JSON frames with error replies, the sent-frames log, catch-up,
  access re-checks, and the refusal of unknown routes.

Every client error is answered with ``{"type": "error", "code": ..., "message": ...}`` and the
socket stays open. Group events are forwarded as they are (their ``type`` is the frame type).

Nothing lost, nothing duplicated: each socket remembers which ``message.created`` and
``conversation.scored`` sequence numbers it already sent per conversation, so a catch-up that
overlaps live events (a message committed between the reconnect and the catch-up query)
sends every message exactly once.
"""
