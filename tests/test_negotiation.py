"""The API's content negotiation answers as DRF's own, shortcut or not."""

import pytest
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from triage.api.negotiation import ContentNegotiation

RENDERERS = [JSONRenderer(), BrowsableAPIRenderer()]


@pytest.mark.parametrize("query", ["", "format=json", "format=api", "x=1"])
@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "application/json; charset=utf-8",
        "application/json; indent=4",
        "text/html",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "application/*",
        "application/json, text/html",
    ],
)
def test_answers_what_drf_answers(accept, query):
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    request = Request(APIRequestFactory().get("/api/incidents/?" + query, **headers))

    def choose(negotiation):
        try:
            renderer, media_type = negotiation.select_renderer(request, RENDERERS)
        except Exception as exc:  # noqa: BLE001 - the same failure is the same answer
            return type(exc)
        return type(renderer), media_type

    assert choose(ContentNegotiation()) == choose(DefaultContentNegotiation())


def test_the_api_uses_it(settings):
    from rest_framework.settings import api_settings

    assert api_settings.DEFAULT_CONTENT_NEGOTIATION_CLASS is ContentNegotiation
