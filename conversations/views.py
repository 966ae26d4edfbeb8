from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

from conversations.models import Role
from conversations.selectors import staff_for_user, user_is_admin


@login_required
def home(request):
    """Send each person to the screen they work in."""
    staff = staff_for_user(request.user)
    if user_is_admin(request.user) and (staff is None or staff.role == Role.ADMIN):
        return redirect("insights:home")
    if staff is not None and staff.role == Role.SUPERVISOR:
        return redirect("conversations:ongoing")
    return redirect("conversations:workspace")


# The live views are built on the websocket pipeline; see templates/conversations/.
from django.shortcuts import render  # noqa: E402


@login_required
def workspace(request):
    return render(request, "conversations/workspace.html")


@login_required
def ongoing(request):
    return render(request, "conversations/ongoing.html")


@login_required
def dashboard(request):
    return render(request, "conversations/dashboard.html")
