"""Where the center may send an HTTP request that an administrator configured (a webhook, a
Chatwoot account): only to public addresses. Loopback, private, link-local (cloud metadata at
169.254.169.254 included), shared, reserved and multicast addresses are refused unless
``WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` is set (one setting for every outbound target: a center on a
private network that talks to its own helpdesk or receiver turns it on).

Checked when the address is saved and again before each request, as DNS can change.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from insights.sender import SendOutcome


def _address_refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def address_refusal(url: str, *, what: str = "webhook", resolve_failure_refuses: bool = True) -> str | None:
    """Why the center may not send to ``url`` (None when it may). Every address the host name
    resolves to must be public, unless ``WEBHOOK_ALLOW_PRIVATE_ADDRESSES``. ``what`` names the
    target in the message ("webhook", "Chatwoot")."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return f"The {what} URL is not valid."
    if parts.scheme not in ("http", "https") or not host:
        return f"The {what} URL must be http:// or https:// with a host."
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return None
    try:
        infos = socket.getaddrinfo(
            host, port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError, OSError):
        return f"The {what} host {host[:80]!r} does not resolve." if resolve_failure_refuses else None
    if any(_address_refused(info[4][0]) for info in infos):
        return (
            f"The {what} host {host[:80]!r} is a private, loopback, link-local or metadata address "
            "(set WEBHOOK_ALLOW_PRIVATE_ADDRESSES to allow it)."
        )
    return None


def address_check(url: str, *, field: str, what: str) -> None:
    """Raise ValidationError on ``field`` when ``url`` may not be saved. A host that does not
    resolve now is accepted here (it is checked again before every request)."""
    if url:
        refusal = address_refusal(url, what=what, resolve_failure_refuses=False)
        if refusal:
            raise ValidationError({field: refusal})


def address_refused_outcome(url: str, *, what: str) -> SendOutcome | None:
    """Checked by an outbox kind before each request (DNS can change): the outcome that gives up
    a request to a refused address at once, since no later attempt to it can pass; None when
    the request may go. A host that does not resolve now may later, so it is not refused here:
    the request fails like any connection error and is retried."""
    refusal = address_refusal(url, what=what, resolve_failure_refuses=False)
    return SendOutcome(ok=False, error=refusal[:255], retry=False) if refusal else None
