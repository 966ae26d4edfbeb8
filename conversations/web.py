"""What every page of the center shares: the staff gate (also the API's, in its JSON mode), the
visible-conversation lookup, the redirect after a form and an error's text. Used by
``conversations.views``, ``insights.views`` and ``conversations.api``."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt

from conversations.api.errors import csrf_refusal, json_error
from conversations.models import Conversation, StaffMember
from conversations.selectors import conversations_visible_to, staff_for_user


def staff_required(*roles: str, api: bool = False):
    """The signed-in user must be a staff member with one of ``roles`` (any role when none);
    the view finds them as ``request.staff``.

    Pages (the default): not signed in → the login page; not staff or another role → the 403
    page; CSRF is the middleware's. ``api=True``: every refusal is the API's JSON (401
    ``unauthenticated``, 403 ``forbidden``), and the CSRF token is checked here, after the
    sign-in, so that its refusal is the documented 403 ``csrf_failed``."""

    def decorator(view):
        if api:
            return _api_gate(view, roles)

        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            staff = staff_for_user(request.user)
            if staff is None or (roles and staff.role not in roles):
                raise PermissionDenied("This page is not part of your role.")
            request.staff = staff
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _api_gate(view, roles: tuple[str, ...]):
    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        staff = staff_for_user(request.user)
        if staff is None:
            return json_error(401, "unauthenticated", "Sign in as a staff member.")
        refusal = csrf_refusal(request)
        if refusal is not None:
            return refusal
        if roles and staff.role not in roles:
            return json_error(403, "forbidden", "This endpoint is not part of your role.")
        request.integration, request.staff = None, staff
        return view(request, *args, **kwargs)

    return wrapper


def conversation_for_staff(staff: StaffMember, conversation_id: int) -> Conversation:
    try:
        return conversations_visible_to(staff).get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation in your queues.") from None


def after_action(request, default: str):
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(nxt)
    return redirect(default)


def error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc) or exc.__class__.__name__
