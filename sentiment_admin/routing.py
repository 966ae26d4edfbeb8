"""Every websocket route and worker channel of the center, gathered from the apps."""

websocket_urlpatterns: list = []
channel_routes: dict = {}
