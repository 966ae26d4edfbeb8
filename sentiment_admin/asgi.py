"""ASGI entry point served by Daphne: HTTP, websockets, and the scoring worker channel."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentiment_admin.settings.local")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator, WebsocketDenier  # noqa: E402

from insights.pipeline.runtime import StartScoringRuntime  # noqa: E402
from sentiment_admin.connections import close_connections_after_each_request  # noqa: E402
from sentiment_admin.origin import same_origin  # noqa: E402
from sentiment_admin.routing import KEY_AUTHENTICATED_WS_PATHS, channel_routes, websocket_urlpatterns  # noqa: E402


class CenterOriginValidator(OriginValidator):
    """Channels' ALLOWED_HOSTS origin check, except that a request without any Origin header
    to a key-authenticated path passes: browsers always send Origin (so a page elsewhere is
    still refused), and a server-side integration authenticates with its key, not a cookie."""

    async def __call__(self, scope, receive, send):
        has_origin = any(name == b"origin" for name, _value in scope.get("headers", []))
        if not has_origin and scope.get("path") in KEY_AUTHENTICATED_WS_PATHS:
            return await self.application(scope, receive, send)
        if has_origin and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await super().__call__(scope, receive, send)


def _origin_checked(app) -> CenterOriginValidator:
    return CenterOriginValidator(app, AllowedHostsOriginValidator(app).allowed_origins)


# Each request runs on a thread of its own: its database connections end with it.
close_connections_after_each_request()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The scoring runtime starts on this loop when a socket opens (insights.pipeline.runtime).
        "websocket": _origin_checked(
            StartScoringRuntime(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
        "channel": ChannelNameRouter(channel_routes),
    }
)
