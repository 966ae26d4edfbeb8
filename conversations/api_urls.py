from django.urls import path, re_path

from conversations.api import integrations, staff

app_name = "api"

# REST endpoints for channel integrations (token-authenticated, with scopes) and staff actions
# (session). The contract is docs/events.md.
urlpatterns = [
    # Channel integrations: Authorization: Bearer <integration key>
    path("conversations/", integrations.conversations_create, name="conversations"),
    path("conversations/<int:conversation_id>/", integrations.conversation_detail, name="conversation"),
    path(
        "conversations/<int:conversation_id>/messages/", integrations.conversation_messages, name="messages"
    ),
    path("conversations/<int:conversation_id>/replies/", integrations.conversation_replies, name="replies"),
    path("queues/", integrations.queues_list, name="queues"),
    path("staff/", integrations.staff_list, name="staff"),
    path("channels/", integrations.channels_list, name="channels"),
    # Staff (signed-in session, CSRF token required); routing also for keys with "manage"
    path("presence/", staff.presence, name="presence"),
    path("notifications/<int:notification_id>/ack/", staff.notification_ack, name="notification-ack"),
    path("conversations/<int:conversation_id>/snooze/", staff.snooze, name="snooze"),
    path("conversations/<int:conversation_id>/assign/", staff.assign, name="assign"),
    path("conversations/<int:conversation_id>/transfer/", staff.transfer, name="transfer"),
    path("conversations/<int:conversation_id>/close/", staff.close, name="close"),
    # Anything else under /api/: a JSON 404
    re_path(r"^.*$", staff.not_found, name="not-found"),
]
