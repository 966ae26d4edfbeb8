"""Websocket routes of the conversations app (gathered in ``sentiment_admin.routing``)."""

from django.urls import path, re_path

from conversations.consumers.chat import CustomerChatConsumer
from conversations.consumers.monitor import MonitorConsumer
from conversations.consumers.staff import StaffConsumer

websocket_urlpatterns = [
    path("ws/staff/", StaffConsumer.as_asgi()),
    path("ws/monitor/<int:conversation_id>/", MonitorConsumer.as_asgi()),
    re_path(r"^ws/chat/(?P<customer_token>[A-Za-z0-9_\-]{10,64})/$", CustomerChatConsumer.as_asgi()),
]
