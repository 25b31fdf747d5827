"""Refuse what no view should see, before any view sees it, and keep answers out of caches.

- A NUL character in the URL path (404), the query string or a form field (400): PostgreSQL
  refuses NUL in text, so it used to reach the database as a 500.
- A query string or a form-encoded body that is not valid UTF-8 (400): Django would store
  U+FFFD in place of what was sent.
- An API body over DATA_UPLOAD_MAX_MEMORY_SIZE: a JSON 413 (the rest of the body is read
  and dropped, up to a bound, so the client gets the answer instead of a reset connection).
- Cache-Control: no-store on every API answer, every CSV export and every page a signed-in
  person gets: they carry student records.
"""

from urllib.parse import parse_qsl

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.cache import add_never_cache_headers

from triage.api.errors import json_error

API_PREFIX = "/api/"
DRAIN_LIMIT = 16 * 1024 * 1024  # read and drop at most this much of a refused body
FORM_TYPES = ("application/x-www-form-urlencoded",)


class InputRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _check_form_encoded(raw: bytes, what: str) -> None:
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InputRefused(400, "invalid_encoding", f"The {what} is not valid UTF-8.") from exc
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise InputRefused(400, "null_character", f"The {what} contains a NUL character.")


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _drain(request: HttpRequest, length: int) -> None:
    stream = request.META.get("wsgi.input")
    remaining = min(length, DRAIN_LIMIT)
    try:
        while remaining > 0 and stream is not None:
            chunk = stream.read(min(65536, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
    except (OSError, ValueError):
        pass


def check_request(request: HttpRequest) -> None:
    """Raise InputRefused for a request no view should see."""
    if "\x00" in request.path_info:
        raise InputRefused(404, "not_found", "Not found.")
    query = request.META.get("QUERY_STRING", "")
    if query:
        _check_form_encoded(query.encode("latin-1", errors="replace"), "query string")
    length = _content_length(request)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and length > limit:
        if request.path_info.startswith(API_PREFIX):
            _drain(request, length)
            raise InputRefused(
                413, "too_large", f"The request body is larger than {limit:,} bytes."
            )
        return  # Django answers 400 itself (RequestDataTooBig) when a form reads it
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if request.method in ("POST", "PUT", "PATCH") and content_type in FORM_TYPES:
        _check_form_encoded(request.body, "form")
    elif request.method in ("POST", "PUT", "PATCH") and content_type == "multipart/form-data":
        try:
            fields = request.POST.lists()
        except MultiPartParserError as exc:  # Django's own answer is its HTML 400 page
            raise InputRefused(
                400, "malformed_multipart", f"The multipart body cannot be read: {exc}"
            ) from exc
        for key, values in fields:
            if "\x00" in key or any("\x00" in v for v in values):
                raise InputRefused(400, "null_character", "The form contains a NUL character.")


class InputBoundaryMiddleware:
    """Sync and async: under ASGI the live stream's async view is not pushed onto a thread."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.async_mode:
            return self.__acall__(request)
        response = self._refusal(request) or self.get_response(request)
        user = getattr(request, "user", None)
        return self._no_store(request, response, signed_in=bool(user and user.is_authenticated))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = self._refusal(request) or await self.get_response(request)
        user = await request.auser() if hasattr(request, "auser") else None
        return self._no_store(request, response, signed_in=bool(user and user.is_authenticated))

    @staticmethod
    def _refusal(request: HttpRequest) -> HttpResponse | None:
        try:
            check_request(request)
        except InputRefused as refused:
            if request.path_info.startswith(API_PREFIX):
                return json_error(refused.status, refused.code, refused.message)
            if refused.status == 404:
                raise Http404(refused.message) from refused
            if refused.status == 413:
                return HttpResponse(refused.message, status=413, content_type="text/plain")
            raise BadRequest(refused.message) from refused
        return None

    @staticmethod
    def _no_store(request: HttpRequest, response: HttpResponse, *, signed_in: bool):
        content_type = response.get("Content-Type", "")
        if (
            request.path_info.startswith(API_PREFIX)
            or content_type.startswith("text/csv")
            or (signed_in and content_type.startswith("text/"))
        ):
            add_never_cache_headers(response)
        return response
