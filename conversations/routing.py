"""Websocket routes of the conversations app (gathered in ``sentiment_admin.routing``)."""

from django.urls import path, re_path

from conversations import consumers

websocket_urlpatterns = [
    path("ws/staff/", consumers.StaffConsumer.as_asgi()),
    path("ws/monitor/<int:conversation_id>/", consumers.MonitorConsumer.as_asgi()),
    re_path(
        r"^ws/chat/(?P<customer_token>[A-Za-z0-9_\-]{10,64})/$", consumers.CustomerChatConsumer.as_asgi()
    ),
]
