from django.urls import path

from conversations import api

app_name = "api"

# REST endpoints for channel integrations (token-authenticated) and staff actions (session).
# The contract is docs/events.md.
urlpatterns = [
    # Channel integrations: Authorization: Bearer <integration key>
    path("conversations/", api.conversations_create, name="conversations"),
    path("conversations/<int:conversation_id>/messages/", api.conversation_messages, name="messages"),
    path("conversations/<int:conversation_id>/replies/", api.conversation_replies, name="replies"),
    # Staff (signed-in session, CSRF token required)
    path("presence/", api.presence, name="presence"),
    path("notifications/<int:notification_id>/ack/", api.notification_ack, name="notification-ack"),
    path("conversations/<int:conversation_id>/snooze/", api.snooze, name="snooze"),
    path("conversations/<int:conversation_id>/assign/", api.assign, name="assign"),
    path("conversations/<int:conversation_id>/transfer/", api.transfer, name="transfer"),
    path("conversations/<int:conversation_id>/close/", api.close, name="close"),
]
