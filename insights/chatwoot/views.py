"""The inbound webhook: ``POST /integrations/chatwoot/<endpoint secret>/``.

Each connection has its own secret in the URL; without it (or for an inactive connection) the
answer is a 404, as for any unknown path. Answers are JSON; a delivery the center cannot use
is still a ``200`` (with what happened), so Chatwoot does not retry it forever.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from insights.chatwoot.models import CallStatus, ChatwootConnection
from insights.chatwoot.services.inbound import chatwoot_event_handle
from insights.chatwoot.services.outbound import chatwoot_outbox_kick
from sentiment_admin.inputs import InvalidInput, parse_json_object


@csrf_exempt
def webhook(request, secret: str):
    connection = ChatwootConnection.objects.filter(endpoint_secret=secret, active=True).first()
    if connection is None:
        return JsonResponse({"error": {"code": "not_found", "message": "No such endpoint."}}, status=404)
    if request.method != "POST":
        response = JsonResponse({"error": {"code": "method_not_allowed", "message": "Use POST."}}, status=405)
        response["Allow"] = "POST"
        return response
    try:
        payload = parse_json_object(request.body)
    except InvalidInput as exc:
        return JsonResponse({"error": {"code": "invalid_json", "message": str(exc)}}, status=400)
    outcome = chatwoot_event_handle(connection=connection, payload=payload)
    if connection.calls.filter(status=CallStatus.PENDING).exists():
        chatwoot_outbox_kick()  # calls left by a process that stopped are picked up here too
    return JsonResponse({"outcome": outcome})
