from django.urls import path, re_path

from conversations import api

app_name = "api"

# REST endpoints for channel integrations (token-authenticated, with scopes) and staff actions
# (session). The contract is docs/events.md.
urlpatterns = [
    # Channel integrations: Authorization: Bearer <integration key>
    path("conversations/", api.conversations_create, name="conversations"),
    path("conversations/<int:conversation_id>/", api.conversation_detail, name="conversation"),
    path("conversations/<int:conversation_id>/messages/", api.conversation_messages, name="messages"),
    path("conversations/<int:conversation_id>/replies/", api.conversation_replies, name="replies"),
    path("queues/", api.queues_list, name="queues"),
    path("staff/", api.staff_list, name="staff"),
    path("channels/", api.channels_list, name="channels"),
    # Staff (signed-in session, CSRF token required); routing also for keys with "manage"
    path("presence/", api.presence, name="presence"),
    path("notifications/<int:notification_id>/ack/", api.notification_ack, name="notification-ack"),
    path("conversations/<int:conversation_id>/snooze/", api.snooze, name="snooze"),
    path("conversations/<int:conversation_id>/assign/", api.assign, name="assign"),
    path("conversations/<int:conversation_id>/transfer/", api.transfer, name="transfer"),
    path("conversations/<int:conversation_id>/close/", api.close, name="close"),
    # Anything else under /api/: a JSON 404
    re_path(r"^.*$", api.not_found, name="not-found"),
]
