"""Error pages that are pages of the product, in plain words: 404, 403 (and a failed CSRF
check) and 500, also with DJANGO_DEBUG=1.

Django uses the handlers below when DEBUG is off. With DEBUG on it shows its technical pages
for a 404 and a 500 instead (a 403 already goes through handler403), which a responder trying
the demo must not meet: ProductErrorPagesMiddleware replaces them, after logging the error,
unless DJANGO_DEBUG_ERROR_PAGES=1 asks for Django's own. API paths keep the API's answers.
"""

import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.views import defaults

logger = logging.getLogger(__name__)


def _api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if _api(request):
        return defaults.page_not_found(request, exception)
    response = HttpResponse(loader.render_to_string("errors/404.html", {}, request), status=404)
    response.product_error_page = True
    return response


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    if _api(request):
        return defaults.permission_denied(request, exception)
    # PermissionDenied messages in this product are written for the person who meets them.
    reason = str(exception) if exception is not None and str(exception) else ""
    response = HttpResponse(
        loader.render_to_string("errors/403.html", {"reason": reason}, request), status=403
    )
    response.product_error_page = True
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    response = HttpResponse(
        loader.render_to_string("errors/403.html", {"csrf": True}, request), status=403
    )
    response.product_error_page = True
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    if _api(request):
        return defaults.server_error(request)
    # No request context: whatever broke (the database, a context processor) must not break
    # this page too.
    response = HttpResponse(loader.render_to_string("errors/500.html", {}), status=500)
    response.product_error_page = True
    return response


class ProductErrorPagesMiddleware:
    """With DEBUG on, put the product's 404 and 500 pages in place of Django's technical ones."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        response = self.get_response(request)
        return self._page(request, response) if self._replaces(request, response) else response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        if self._replaces(request, response):
            return await sync_to_async(self._page)(request, response)
        return response

    @staticmethod
    def _replaces(request: HttpRequest, response: HttpResponse) -> bool:
        return (
            settings.DEBUG
            and not settings.DEBUG_ERROR_PAGES
            and response.status_code in (404, 500)
            and not getattr(response, "product_error_page", False)
            and response.get("Content-Type", "").startswith("text/html")
            and not _api(request)
        )

    @staticmethod
    def _page(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return page_not_found(request) if response.status_code == 404 else server_error(request)
