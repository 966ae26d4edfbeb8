"""HTTP middleware and error handlers of the center.

- ``InvalidInputMiddleware``: a view that lets ``sentiment_admin.inputs.InvalidInput``
  propagate answers 400 with the API's JSON error body, whatever door it came through
  (query string, form, REST body).
- ``LoginThrottleMiddleware``: failed sign-ins on the center's login and Django admin's
  login, counted per username and per client address; over the limit, a sign-in POST answers
  429 with ``Retry-After`` until the window ends (even with the right password).
- ``ContentSecurityPolicyMiddleware``: every page says where scripts, styles and sockets may
  come from: this site only, no inline script or style (the pages have none), no framing.
  Django admin's pages keep inline styles.
- ``server_error``: the integration API (``/api/``) answers JSON even when a view crashed, so
  an integrator never parses an HTML page (unknown URLs under ``/api/`` are the API's own
  JSON 404).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.views import defaults

from sentiment_admin.inputs import InvalidInput
from sentiment_admin.throttle import (
    Throttled,
    client_address,
    throttle_check,
    throttle_clear,
    throttle_record,
)

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


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'{admin_styles}; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self' ws://{host} wss://{host}; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
ADMIN_PREFIX = "/django-admin/"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            admin_styles = " 'unsafe-inline'" if request.path.startswith(ADMIN_PREFIX) else ""
            try:
                host = request.get_host()
            except Exception:  # DisallowedHost: the response is an error page anyway
                host = "localhost"
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(
                host=host, admin_styles=admin_styles
            )
        return response


def too_many_requests(message: str, retry_after: int) -> HttpResponse:
    response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    return response


class LoginThrottleMiddleware:
    USERNAME, ADDRESS = "login-username", "login-address"

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self._paths: frozenset[str] | None = None

    def login_paths(self) -> frozenset[str]:
        if self._paths is None:
            self._paths = frozenset({reverse("login"), reverse("admin:login")})
        return self._paths

    def __call__(self, request):
        if request.method != "POST" or request.path not in self.login_paths():
            return self.get_response(request)
        username = str(request.POST.get("username", ""))[:150].strip().lower()
        address = client_address(request)
        window = settings.LOGIN_FAILURE_WINDOW_SECONDS
        message = "Too many failed sign-ins. Try again in {} seconds."
        try:
            throttle_check(
                self.ADDRESS,
                address,
                limit=settings.LOGIN_FAILURES_PER_ADDRESS,
                window=window,
                message=message,
            )
            throttle_check(
                self.USERNAME,
                username,
                limit=settings.LOGIN_FAILURES_PER_USERNAME,
                window=window,
                message=message,
            )
        except Throttled as exc:
            return too_many_requests(exc.message.format(exc.retry_after), exc.retry_after)
        response = self.get_response(request)
        signed_in = (
            response.status_code in (301, 302, 303)
            and getattr(request, "user", None) is not None
            and (request.user.is_authenticated)
        )
        if signed_in:
            throttle_clear(self.USERNAME, username, window=window)
        elif response.status_code < 500:
            throttle_record(self.ADDRESS, address, window=window)
            throttle_record(self.USERNAME, username, window=window)
        return response


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return error_response(500, "server_error", "Something went wrong on our side; please try again.")
    return defaults.server_error(request)
