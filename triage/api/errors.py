"""One error shape for the whole API, from one DRF EXCEPTION_HANDLER.

Every error answer (400, 401, 403, 404, 405, 409, 413, 415, 422, 429) carries

    {"errors": [{"field" | "path", "code", "message"}, ...]}

``field`` names a top-level input field, ``path`` a place inside the body
(``students.0.student_id``, ``rules[3].when.all[1].fact``); an error about the request as a
whole has neither. A 400 keeps its keys per field beside ``errors`` and other errors keep
``detail`` (clients written against the earlier answers still work); a 409 also says the
current ``state`` or ``status``, a 422 the ``incident`` concerned.

Services raise domain errors (Django's ValidationError and PermissionDenied, or an
ApplicationError below); this handler turns them into HTTP answers.
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(exceptions.APIException):
    """An error a service or a view raises with a status, a code and extra keys to answer."""

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(detail=message, code=code or self.default_code)
        self.extra = extra or {}


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class Unprocessable(ApplicationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "unprocessable"


class RequestTooLarge(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def _is_leaf(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"message", "code"}


def _flatten(detail: Any, trail: tuple[str, ...] = ()):
    if _is_leaf(detail):
        yield trail, detail
    elif isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, (*trail, str(key)))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            yield from _flatten(value, trail if _is_leaf(value) else (*trail, str(index)))


def validation_errors(full_details: Any) -> list[dict]:
    errors = []
    for trail, leaf in _flatten(full_details):
        error: dict = {}
        if trail and trail not in (("non_field_errors",), ("detail",)):
            error["field" if len(trail) == 1 else "path"] = ".".join(trail)
        error["code"] = str(leaf["code"])
        error["message"] = str(leaf["message"])
        errors.append(error)
    return errors


def error_body(code: str, message: str, **extra) -> dict:
    return {"detail": message, **extra, "errors": [{"code": code, "message": message}]}


def json_error(status_code: int, code: str, message: str, **extra) -> JsonResponse:
    """The same shape for answers given before DRF runs (middleware)."""
    return JsonResponse(error_body(code, message, **extra), status=status_code)


def _as_drf(exc: Exception) -> Exception:
    if isinstance(exc, Http404):
        return exceptions.NotFound(*exc.args)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(*exc.args)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return exceptions.ValidationError(detail)
    return exc


def exception_handler(exc: Exception, context: dict):
    exc = _as_drf(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        data = response.data
        body = dict(data) if isinstance(data, dict) else {"non_field_errors": data}
        body["errors"] = validation_errors(exc.get_full_details())
    else:
        message = str(exc.detail) if not isinstance(exc.detail, (dict, list)) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if not isinstance(code, str):
            code = getattr(exc, "default_code", "error")
        body = error_body(code, message, **getattr(exc, "extra", {}))
    response.data = body
    return response


@csrf_exempt  # nothing is changed here; a POST gets the same JSON 404, not a CSRF page
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Any /api/ path that names no endpoint: a JSON 404 like every other API error."""
    return json_error(status.HTTP_404_NOT_FOUND, "not_found", "Not found.")
