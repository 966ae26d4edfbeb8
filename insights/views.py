"""Insights pages: the sentiment settings and integrations (admins), the historical
dashboard (supervisors, admins) and sentiment corrections (staff mark, admins list)."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations.display import sentiment_view
from conversations.models import IntegrationScope, Message, Queue, Role
from conversations.selectors import integration_tokens_list, user_is_admin
from conversations.web import after_action, conversation_for_staff, error_text, staff_required
from insights.dashboard import DashboardFilters, dashboard_build, dashboard_csv, dashboard_queues
from insights.forms import QueueOverrideForm, SentimentSettingsForm, WebhookSettingsForm
from insights.integration_pages import integration_pages
from insights.levels import RepresentativeThreshold, SupervisorThreshold
from insights.selectors import (
    effective_thresholds,
    sentiment_settings_get,
    settings_audit_list,
    threshold_reach_guide,
    webhook_deliveries_recent,
    webhook_outbox_summary,
)
from insights.services.corrections import corrections_csv, corrections_list, sentiment_correction_create
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
        rows.append(
            {
                "queue": queue,
                "representative": RepresentativeThreshold(eff.representative).label,
                "supervisor": SupervisorThreshold(eff.supervisor).label,
                "representative_inherited": eff.representative_inherited,
                "supervisor_inherited": eff.supervisor_inherited,
            }
        )
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
        messages.error(
            request,
            "Queue override not saved: "
            + "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()),
        )
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
            "outbox": webhook_outbox_summary(),
            "stream_path": "/ws/integrations/events/",
            "adapters": [(page, reverse(page.url_name)) for page in integration_pages()],
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


# --------------------------------------------------------------------------- corrections


@staff_required(Role.REPRESENTATIVE, Role.SUPERVISOR, Role.ADMIN)
@require_POST
def message_correct(request, conversation_id: int, seq: int):
    """Mark a customer message's sentiment as wrong and give the right level."""
    c = conversation_for_staff(request.staff, conversation_id)
    message = get_object_or_404(Message, conversation=c, seq=seq)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        correction = sentiment_correction_create(
            message=message,
            staff=request.staff,
            corrected_level=request.POST.get("level", ""),
            note=request.POST.get("note", ""),
        )
    except (ValidationError, PermissionDenied) as exc:
        if wants_json:
            return JsonResponse({"ok": False, "error": error_text(exc)}, status=400)
        messages.error(request, f"Correction not saved: {error_text(exc)}")
    else:
        if wants_json:
            return JsonResponse(
                {
                    "ok": True,
                    "correction": correction.pk,
                    "level": correction.corrected_level,
                    "label": correction.get_corrected_level_display(),
                }
            )
        messages.success(
            request, f"Thanks: message {seq} marked as {correction.get_corrected_level_display()}."
        )
    return after_action(request, reverse("conversations:monitor", args=[c.pk]))


@login_required
@require_GET
def corrections(request):
    """Admins: every correction, newest first, with the export commands."""
    if not user_is_admin(request.user):
        raise PermissionDenied("Only administrators see the corrections list.")
    if request.GET.get("format") == "csv":
        response = HttpResponse(corrections_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="sentiment-corrections.csv"'
        return response
    items = list(corrections_list()[:500])
    for item in items:
        item.model_view = sentiment_view(item.model_level)
        item.corrected_view = sentiment_view(item.corrected_level)
    return render(request, "insights/corrections.html", {"corrections": items})


# --------------------------------------------------------------------------- dashboard


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_GET
def dashboard(request):
    filters = DashboardFilters.from_params(request.GET)
    board = dashboard_build(request.staff, filters)
    return render(
        request,
        "insights/dashboard.html",
        {
            "board": board,
            "filters": filters,
            "queues": list(dashboard_queues(request.staff)),
            "chart_data": board.chart_data(),
            "export_query": request.GET.urlencode(),
            "breakdowns": [
                ("queues", "queue", board.queues),
                ("channels", "channel", board.channels),
                ("languages", "language", board.languages),
                ("representatives", "representative", board.representatives),
            ],
            "ended_negative_rows": [
                {
                    "c": c,
                    "start": sentiment_view(c.start_sentiment_level),
                    "end": sentiment_view(c.sentiment_level),
                }
                for c in board.ended_negative
            ],
        },
    )


@staff_required(Role.SUPERVISOR, Role.ADMIN)
@require_GET
def dashboard_export(request):
    filters = DashboardFilters.from_params(request.GET)
    response = HttpResponse(dashboard_csv(request.staff, filters), content_type="text/csv; charset=utf-8")
    name = f"sentiment-{filters.date_from.isoformat()}-{filters.date_to.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
