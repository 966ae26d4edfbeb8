"""The Chatwoot setup pages (Insights → Integrations → Chatwoot), administrators only: add or
change a connection, then the webhook URL to paste into Chatwoot, a connection check (the same
as ``manage.py chatwoot_check``), unknown agents, the last deliveries each way and the change
history."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from insights.chatwoot.forms import ConnectionForm, map_formset
from insights.chatwoot.models import ChatwootConnection
from insights.chatwoot.selectors import chatwoot_audit_list, chatwoot_connection_summary
from insights.chatwoot.services.check import ChatwootUnreachable, chatwoot_account_check
from insights.chatwoot.services.setup import chatwoot_connection_save
from insights.views import admin_required


def _forms(request, connection: ChatwootConnection | None):
    data = request.POST if request.method == "POST" else None
    return (
        ConnectionForm(data, connection=connection),
        map_formset(data, prefix="inbox", mapping=connection.inbox_queues if connection else None),
        map_formset(data, prefix="team", mapping=connection.team_queues if connection else None),
    )


def _map_sets(inboxes, teams):
    return [
        (inboxes, "inbox", "Inbox → queue (other inboxes go to the default queue)"),
        (teams, "team", "Team → queue (a team wins over its inbox)"),
    ]


def _save(request, connection, form, inboxes, teams) -> ChatwootConnection | None:
    """Save when every form is valid; None (with the errors on the forms) otherwise."""
    if not (form.is_valid() and inboxes.is_valid() and teams.is_valid()):
        return None
    fields = dict(form.cleaned_data)
    try:
        return chatwoot_connection_save(
            actor=request.user,
            connection=connection,
            inbox_queues=inboxes.mapping(),
            team_queues=teams.mapping(),
            **fields,
        )
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc)
        return None


@admin_required
@require_http_methods(["GET", "POST"])
def setup(request):
    """The list of connections and the form that adds one."""
    form, inboxes, teams = _forms(request, None)
    if request.method == "POST":
        saved = _save(request, None, form, inboxes, teams)
        if saved is not None:
            messages.success(request, "Chatwoot connection saved. Paste its webhook URL into Chatwoot.")
            return redirect("chatwoot:connection", connection_id=saved.pk)
    return render(
        request,
        "chatwoot/setup.html",
        {
            "connections": ChatwootConnection.objects.select_related("default_queue").order_by("pk"),
            "form": form,
            "map_sets": _map_sets(inboxes, teams),
            "audit_entries": chatwoot_audit_list(),
        },
        status=400 if request.method == "POST" else 200,
    )


def _connection_page(request, connection, form, inboxes, teams, *, check=None, check_error="", status=200):
    return render(
        request,
        "chatwoot/connection.html",
        {
            "connection": connection,
            "summary": chatwoot_connection_summary(connection=connection),
            "webhook_url": request.build_absolute_uri(
                reverse("chatwoot:webhook", args=[connection.endpoint_secret])
            ),
            "form": form,
            "map_sets": _map_sets(inboxes, teams),
            "check": check,
            "check_error": check_error,
            "audit_entries": chatwoot_audit_list(),
        },
        status=status,
    )


@admin_required
@require_http_methods(["GET", "POST"])
def connection(request, connection_id: int):
    current = get_object_or_404(ChatwootConnection.objects.select_related("default_queue"), pk=connection_id)
    form, inboxes, teams = _forms(request, current)
    if request.method == "POST":
        if _save(request, current, form, inboxes, teams) is not None:
            messages.success(request, "Chatwoot connection saved.")
            return redirect("chatwoot:connection", connection_id=current.pk)
        return _connection_page(request, current, form, inboxes, teams, status=400)
    return _connection_page(request, current, form, inboxes, teams)


@admin_required
@require_POST
def check(request, connection_id: int):
    """Read the account with the connection's token: inboxes, teams, agents and their mapping."""
    current = get_object_or_404(ChatwootConnection.objects.select_related("default_queue"), pk=connection_id)
    try:
        result, error = chatwoot_account_check(connection=current), ""
    except ChatwootUnreachable as exc:
        result, error = None, str(exc)
    request.method = "GET"  # the page below shows the saved connection, not this POST
    form, inboxes, teams = _forms(request, current)
    return _connection_page(request, current, form, inboxes, teams, check=result, check_error=error)
