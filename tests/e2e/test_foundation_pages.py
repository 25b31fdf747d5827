import pytest

from schools.demo import seed_people_and_roster
from tests.e2e.conftest import assert_accessible, sign_in


@pytest.fixture
def demo(transactional_db):
    seed_people_and_roster(students_per_school=5)


def test_login_page_is_accessible_and_rejects_bad_password(page, live_server, demo):
    page.goto(f"{live_server.url}/accounts/login/")
    assert_accessible(page)
    page.get_by_label("Username").fill("teacher")
    page.get_by_label("Password").fill("nope")
    page.get_by_role("button", name="Sign in").click()
    assert (
        "Please enter a correct username and password"
        in page.locator(".error-summary").inner_text()
    )
    assert_accessible(page)


@pytest.mark.parametrize(
    ("username", "sees", "does_not_see"),
    [
        ("teacher", "Report an incident", "Back office"),
        ("district_admin", "Back office", None),
    ],
)
def test_home_navigation_fits_the_role(page, live_server, demo, username, sees, does_not_see):
    sign_in(page, live_server, username)
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name=sees).is_visible()
    if does_not_see:
        assert nav.get_by_role("link", name=does_not_see).count() == 0
    assert_accessible(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
