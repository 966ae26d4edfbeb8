from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from chatwoot.selectors import chatwoot_connections_summary
from conversations.models import IntegrationScope, Queue
from conversations.selectors import integration_tokens_list, user_is_admin
from insights.forms import QueueOverrideForm, SentimentSettingsForm, WebhookSettingsForm
from insights.levels import RepresentativeThreshold, SupervisorThreshold
from insights.selectors import (
    effective_thresholds,
    sentiment_settings_get,
    settings_audit_list,
    threshold_reach_guide,
    webhook_deliveries_recent,
)
from insights.services.settings import queue_override_set, sentiment_settings_update
from insights.services.webhooks import webhook_test_send


def admin_required(view):
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not user_is_admin(request.user):
            raise PermissionDenied("Only administrators can manage Insights settings.")
        return view(request, *args, **kwargs)

    return wrapper


@admin_required
def insights_home(request):
    return render(request, "insights/insights.html", {"settings_obj": sentiment_settings_get()})


def _queue_rows():
    org = sentiment_settings_get()
    rows = []
    for queue in Queue.objects.all():
        eff = effective_thresholds(queue_id=queue.pk, org=org)
        rows.append({
            "queue": queue,
            "representative": RepresentativeThreshold(eff.representative).label,
            "supervisor": SupervisorThreshold(eff.supervisor).label,
            "representative_inherited": eff.representative_inherited,
            "supervisor_inherited": eff.supervisor_inherited,
        })
    return rows


@admin_required
@require_http_methods(["GET", "POST"])
def sentiment_settings(request):
    current = sentiment_settings_get()
    form = SentimentSettingsForm(request.POST or None, instance=sentiment_settings_get())
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            sentiment_settings_update(actor=request.user, **changes)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Sentiment analysis settings saved. They apply to the next message.")
            return redirect("insights:sentiment")
    return render(
        request,
        "insights/sentiment_settings.html",
        {
            "form": form,
            "settings_obj": current,
            "override_form": QueueOverrideForm(),
            "queue_rows": _queue_rows(),
            "audit_entries": settings_audit_list(),
            "threshold_guide": threshold_reach_guide(),
        },
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_POST
def queue_override(request):
    form = QueueOverrideForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Queue override not saved: " + "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()
        ))
        return redirect("insights:sentiment")
    queue_override_set(
        actor=request.user,
        queue=form.cleaned_data["queue"],
        representative_threshold=form.cleaned_data["representative_threshold"],
        supervisor_threshold=form.cleaned_data["supervisor_threshold"],
    )
    messages.success(request, f"Thresholds for the {form.cleaned_data['queue'].name} queue saved.")
    return redirect("insights:sentiment")


@admin_required
@require_http_methods(["GET", "POST"])
def integrations(request):
    """Integration keys (read-only: created with ``manage.py integration_token``), the webhook
    and its last deliveries."""
    current = sentiment_settings_get()
    form = WebhookSettingsForm(request.POST or None, instance=sentiment_settings_get())
    if request.method == "POST" and form.is_valid():
        try:
            sentiment_settings_update(actor=request.user, **form.changes())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Webhook settings saved.")
            return redirect("insights:integrations")
    return render(
        request,
        "insights/integrations.html",
        {
            "form": form,
            "settings_obj": current,
            "tokens": integration_tokens_list(),
            "scopes": IntegrationScope.choices,
            "deliveries": webhook_deliveries_recent(),
            "stream_path": "/ws/integrations/events/",
            "chatwoot": [
                (summary, request.build_absolute_uri(reverse("chatwoot:webhook", args=[summary.connection.endpoint_secret])))
                for summary in chatwoot_connections_summary()
            ],
        },
        status=400 if request.method == "POST" else 200,
    )


@admin_required
@require_POST
def webhook_test(request):
    delivery = webhook_test_send()
    if delivery is None:
        messages.error(request, "Set a webhook URL first.")
    elif delivery.succeeded:
        messages.success(request, f"Test event delivered: HTTP {delivery.status_code}.")
    else:
        messages.error(request, f"Test event not delivered: {delivery.error}.")
    return redirect("insights:integrations")
