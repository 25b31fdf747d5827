"""The URLconf tries the API's patterns first (most requests are API calls): that is only
right while no page's path starts with api/."""

from django.urls import URLPattern, URLResolver, get_resolver

from triage.urls import api_urlpatterns


def routes(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, route)
        else:
            assert isinstance(pattern, URLPattern)
            yield route


def test_no_page_path_starts_with_api():
    top = get_resolver().url_patterns
    assert top[: len(api_urlpatterns)] == api_urlpatterns
    pages = list(routes(top[len(api_urlpatterns) :]))
    assert len(pages) > 50  # the pages, allauth's and the back office's included
    assert [r for r in pages if r.lstrip("^").startswith("api")] == []
