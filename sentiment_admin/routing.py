"""Every websocket route and worker channel of the center, gathered from the apps."""

from django.urls import path, re_path

from conversations.consumers.base import UnknownRouteConsumer
from conversations.routing import websocket_urlpatterns as conversation_routes
from insights.consumers import IntegrationEventsConsumer, ScoringWorkerConsumer
from sentiment_admin import realtime

websocket_urlpatterns: list = [
    *conversation_routes,
    path("ws/integrations/events/", IntegrationEventsConsumer.as_asgi()),
    # Last: every other path is refused with close code 4404 (not a router error).
    re_path(r"", UnknownRouteConsumer.as_asgi()),
]
# Paths authenticated by an integration key (a header no browser can set on a websocket), where
# a server-side client without an Origin header is let through (sentiment_admin.asgi).
KEY_AUTHENTICATED_WS_PATHS = frozenset({"/ws/integrations/events/"})
channel_routes: dict = {realtime.SCORING_CHANNEL: ScoringWorkerConsumer.as_asgi()}
