"""What every page of the center shares: the staff gate, the visible-conversation lookup, the
redirect after a form and an error's text. Used by ``conversations.views`` and
``insights.views``."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from conversations.models import Conversation, StaffMember
from conversations.selectors import conversations_visible_to, staff_for_user


def staff_required(*roles: str):
    """The signed-in user must be a staff member with one of ``roles``."""

    def decorator(view):
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
