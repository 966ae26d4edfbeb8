"""Every websocket route and worker channel of the center, gathered from the apps."""

from django.urls import re_path

from conversations.consumers import UnknownRouteConsumer
from conversations.routing import websocket_urlpatterns as conversation_routes
from insights.consumers import ScoringWorkerConsumer
from sentiment_admin import realtime

websocket_urlpatterns: list = [
    *conversation_routes,
    # Last: every other path is refused with close code 4404 (not a router error).
    re_path(r"", UnknownRouteConsumer.as_asgi()),
]
channel_routes: dict = {realtime.SCORING_CHANNEL: ScoringWorkerConsumer.as_asgi()}
