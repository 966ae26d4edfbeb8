"""HTTP middleware and error handlers of the center.

- ``InvalidInputMiddleware``: a view that lets ``sentiment_admin.inputs.InvalidInput``
  propagate answers 400 with the API's JSON error body, whatever door it came through
  (query string, form, REST body).
- ``server_error``: the integration API (``/api/``) answers JSON even when a view crashed, so
  an integrator never parses an HTML page (unknown URLs under ``/api/`` are the API's own
  JSON 404).
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views import defaults

from sentiment_admin.inputs import InvalidInput

API_PREFIX = "/api/"


def error_response(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


class InvalidInputMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, InvalidInput):
            return error_response(400, exception.code, exception.message)
        return None


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return error_response(500, "server_error", "Something went wrong on our side; please try again.")
    return defaults.server_error(request)
