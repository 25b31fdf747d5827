"""Every 404, 403 and 500 is a page of the product in plain words, with DEBUG off and on."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client
from django.urls import include, path

from tests.factories import user_with_role


def _boom(request):
    raise RuntimeError("a bug")


def _gone(request):
    raise Http404("No such queue item 42 in SCHOOL-X.")


def _forbidden(request):
    raise PermissionDenied("My queues is for counselors, administrators, clinicians and SROs.")


urlpatterns = [
    path("boom/", _boom),
    path("gone/", _gone),
    path("forbidden/", _forbidden),
    path("", include("triage.urls")),
]
handler404 = "triage.errors.page_not_found"
handler403 = "triage.errors.permission_denied"
handler500 = "triage.errors.server_error"


@pytest.fixture
def pages(settings, request):
    settings.ROOT_URLCONF = "tests.test_error_pages"
    settings.DEBUG = request.param
    settings.DEBUG_ERROR_PAGES = False
    return Client(raise_request_exception=False)


def html(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize("pages", [False, True], indirect=True, ids=["debug-off", "debug-on"])
@pytest.mark.django_db
def test_not_found_is_a_product_page(pages):
    for url in ("/no/such/page/", "/gone/"):
        response = pages.get(url)
        assert response.status_code == 404
        body = html(response)
        assert "<h1>We can’t find that page</h1>" in body
        assert 'href="/static/css/app.css"' in body
        assert "SCHOOL-X" not in body  # the exception's words are not for the visitor
        assert "Traceback" not in body and "URLconf" not in body


@pytest.mark.parametrize("pages", [False, True], indirect=True, ids=["debug-off", "debug-on"])
@pytest.mark.django_db
def test_forbidden_says_why_in_plain_words(pages, school):
    response = pages.get("/forbidden/")
    assert response.status_code == 403
    assert "<h1>This page is not available to you</h1>" in html(response)
    assert "My queues is for counselors, administrators, clinicians and SROs." in html(response)
    pages.force_login(user_with_role("teacher", school))
    response = pages.get("/queues/")
    assert response.status_code == 403
    assert "<h1>This page is not available to you</h1>" in html(response)


@pytest.mark.parametrize("pages", [False, True], indirect=True, ids=["debug-off", "debug-on"])
@pytest.mark.django_db
def test_a_server_error_is_a_product_page_and_is_logged(pages, caplog):
    response = pages.get("/boom/")
    assert response.status_code == 500
    body = html(response)
    assert "<h1>Something went wrong on our side</h1>" in body
    assert "a bug" not in body and "Traceback" not in body
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.django_db
def test_a_failed_csrf_check_asks_to_try_again(school):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with_role("teacher", school))
    response = client.post("/incidents/new/", {})
    assert response.status_code == 403
    assert "<h1>Please try that again</h1>" in html(response)
    assert "Nothing was saved." in html(response)


@pytest.mark.parametrize("pages", [True], indirect=True, ids=["debug-on"])
@pytest.mark.django_db
def test_api_paths_keep_the_api_answers(pages):
    response = pages.get("/api/no-such-endpoint/")
    assert response.status_code == 404
    assert "We can’t find that page" not in html(response)
