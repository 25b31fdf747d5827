"""Signing in through the district's identity provider in real Chromium."""

import pytest

from tests import factories
from tests.accounts.oidc_provider import Person, configured_idp
from tests.e2e.conftest import assert_accessible, fits_a_phone


@pytest.fixture
def idp(settings):
    yield from configured_idp(settings)


@pytest.fixture
def rostered(transactional_db):
    school = factories.SchoolFactory(code="LIN-ES")
    user = factories.user_with_role("teacher", school, username="tess")
    user.first_name, user.last_name = "Tess", "Teacher"
    user.email = "tess@district.example.org"
    user.save()
    return user


def test_a_rostered_teacher_signs_in_through_the_district_provider(
    page, live_server, idp, rostered
):
    idp.person = Person(sub="tess-1", email="tess@district.example.org")
    page.goto(f"{live_server.url}/accounts/login/")
    assert_accessible(page)
    assert fits_a_phone(page)
    page.get_by_role("button", name="District sign-in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".who").inner_text() == "Tess Teacher"
    assert ("GET", "/authorize") in idp.requests


def test_someone_the_district_has_not_rostered_is_refused(page, live_server, idp, rostered):
    idp.person = Person(sub="x-1", email="stranger@example.org")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("button", name="District sign-in").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Sign-in refused"
    assert_accessible(page)
