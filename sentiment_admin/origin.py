"""The websocket Origin rule: a browser page may open a socket only from the center's own
origin, compared by scheme, host and port (Channels' ``AllowedHostsOriginValidator`` compares
the host name only, so ``https://center:8443`` or ``http://center`` passed for ``ws://center``).

The expected origin is the socket's own: ``http`` for ``ws``, ``https`` for ``wss``, and the
handshake's ``Host`` (the port defaults by scheme). Behind a proxy that changes any of these,
list the public origins in ``WEBSOCKET_ALLOWED_ORIGINS`` (``https://center.example.com``):
then the Origin must be exactly one of them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _origin_tuple(scheme: str, host: str | None, port: int | None) -> tuple[str, str, int] | None:
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host.lower().rstrip("."), port or _DEFAULT_PORTS[scheme]


def _parse(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin.strip())
        return _origin_tuple(parts.scheme.lower(), parts.hostname, parts.port)
    except ValueError:
        return None


def same_origin(scope) -> bool:
    """True when the handshake's Origin header is the socket's own origin (or a listed one)."""
    origin = _parse(_header(scope, b"origin") or "")
    if origin is None:
        return False
    allowed = getattr(settings, "WEBSOCKET_ALLOWED_ORIGINS", [])
    if allowed:
        return origin in {_parse(o) for o in allowed}
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    host = _header(scope, b"host")
    if host is None:  # no Host header (a test harness): the scheme and the default port must match
        return origin[0] == scheme and origin[2] == _DEFAULT_PORTS[scheme]
    expected = _parse(f"{scheme}://{host}")
    return expected is not None and origin == expected
