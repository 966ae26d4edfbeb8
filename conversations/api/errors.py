"""The API's one error shape, ``{"error": {"code": ..., "message": ...}}``, and the exceptions
and decorators that produce it, so that no endpoint answers with Django's HTML pages."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware

from conversations.services.ingest import MessageRejected, RateLimited
from conversations.services.presence import InvalidPresence
from sentiment_admin.inputs import InvalidInput, parse_json_object

MAX_BODY_BYTES = 256 * 1024
CONFLICT_CODES = {"conversation_closed", "client_id_conflict"}


def json_error(status: int, code: str, message: str, **extra) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)
    if "retry_after" in extra:
        response["Retry-After"] = str(extra["retry_after"])
    return response


class BadRequest(Exception):
    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class NotFound(BadRequest):
    status = 404


def json_body(request) -> dict:
    if len(request.body) > MAX_BODY_BYTES:
        raise BadRequest("too_large", f"The request body is over {MAX_BODY_BYTES} bytes.")
    return parse_json_object(request.body)


def handle_errors(view):
    """The exceptions of services and parsing, answered as the API's JSON errors."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except BadRequest as exc:
            return json_error(exc.status, exc.code, exc.message)
        except InvalidInput as exc:
            return json_error(400, exc.code, exc.message)
        except RateLimited as exc:
            return json_error(429, exc.code, exc.message, retry_after=exc.retry_after)
        except MessageRejected as exc:
            return json_error(409 if exc.code in CONFLICT_CODES else 400, exc.code, exc.message)
        except InvalidPresence as exc:
            return json_error(400, "invalid_presence", str(exc))
        except ValidationError as exc:
            return json_error(400, "invalid", " ".join(exc.messages))
        except PermissionDenied as exc:
            return json_error(403, "forbidden", str(exc) or "Not allowed.")

    return wrapper


def methods(*allowed: str):
    """JSON 405 (with ``Allow``) for any other method."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in allowed:
                response = json_error(405, "method_not_allowed", f"Use {' or '.join(allowed)}.")
                response["Allow"] = ", ".join(allowed)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, answering the API's JSON error instead of the HTML page."""

    def _reject(self, request, reason):
        return json_error(
            403,
            "csrf_failed",
            f"CSRF check failed ({reason}). Send the csrftoken cookie's value as the X-CSRFToken header.",
        )


def _csrf_probe(request):  # pragma: no cover - never called, only inspected by the check
    return None


def csrf_refusal(request):
    """The JSON 403 when the request fails Django's CSRF check, else None."""
    return _CsrfCheck(_csrf_probe).process_view(request, _csrf_probe, (), {})
