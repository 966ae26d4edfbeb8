"""Who is calling: an integration's key (with its scopes), or a signed-in staff member (the one
staff gate, ``conversations.web.staff_required``, in its JSON mode)."""

from __future__ import annotations

from functools import wraps

from django.views.decorators.csrf import csrf_exempt

from conversations.api.errors import json_error
from conversations.services.ingest import integration_token_authenticate
from conversations.web import staff_required


def _bearer_token(request):
    """The active key named by the Authorization header, or a 401 response."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    token = integration_token_authenticate(raw.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        response = json_error(401, "unauthenticated", "Send 'Authorization: Bearer <integration key>'.")
        response["WWW-Authenticate"] = "Bearer"
        return None, response
    return token, None


def scope_refusal(token, scopes: tuple[str, ...]):
    """The 403 ``insufficient_scope`` when the key has none of ``scopes``, else None."""
    if any(token.has_scope(s) for s in scopes):
        return None
    needed = " or ".join(f"'{s}'" for s in scopes)
    response = json_error(
        403, "insufficient_scope", f"This key lacks the {needed} scope.", required=list(scopes)
    )
    response["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{" ".join(scopes)}"'
    return response


def integration_required(*scopes: str):
    """Integration endpoints: Bearer key with one of ``scopes``, no CSRF (no cookies)."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            token, refusal = _bearer_token(request)
            if refusal is None:
                refusal = scope_refusal(token, scopes)
            if refusal is not None:
                return refusal
            request.integration, request.staff = token, None
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def staff_or_integration(scope: str):
    """A request with ``Authorization: Bearer …`` is an integration's (needs ``scope``); any
    other is a staff member's session (a proxy's Basic credentials do not make it a key)."""

    def decorator(view):
        as_integration = integration_required(scope)(view)
        as_staff = staff_required(api=True)(view)

        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.headers.get("Authorization", "").lower().startswith("bearer"):
                return as_integration(request, *args, **kwargs)
            return as_staff(request, *args, **kwargs)

        return wrapper

    return decorator
