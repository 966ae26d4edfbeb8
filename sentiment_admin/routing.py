"""Every websocket route and worker channel of the center, gathered from the apps."""

from conversations.routing import websocket_urlpatterns as conversation_routes
from insights.consumers import ScoringWorkerConsumer
from sentiment_admin import realtime

websocket_urlpatterns: list = [*conversation_routes]
channel_routes: dict = {realtime.SCORING_CHANNEL: ScoringWorkerConsumer.as_asgi()}
