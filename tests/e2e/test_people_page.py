"""The people page in a real browser: keyboard, axe, a phone's width, and no CSP violation."""

import pytest

from schools.demo import seed_people_and_roster
from schools.models import Membership, User
from tests.e2e.conftest import assert_accessible, fits_a_phone, sign_in


@pytest.fixture
def demo(transactional_db):
    seed_people_and_roster(students_per_school=3)


def test_a_district_admin_gives_a_role_and_deactivates_from_the_people_page(
    page, live_server, demo
):
    blocked = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )
    sign_in(page, live_server, "district_admin")
    page.goto(f"{live_server.url}/people/")
    assert page.get_by_role("heading", name="People", exact=True).is_visible()
    assert_accessible(page)
    assert fits_a_phone(page)

    person = User.objects.get(username="teacher2")
    row = page.locator(f"#person-{person.pk}")
    row.get_by_label("School", exact=True).select_option(label="Jefferson High (JEF-HS)")
    row.get_by_label("Role", exact=True).select_option("counselor")
    row.get_by_role("button", name="Give role").focus()
    page.keyboard.press("Enter")
    page.get_by_text("is now counselor at JEF-HS").wait_for()
    assert Membership.objects.filter(user=person, school__code="JEF-HS", role="counselor").exists()

    page.locator(f"#person-{person.pk}").get_by_role("button", name="Deactivate").click()
    page.get_by_text("is deactivated").wait_for()
    assert User.objects.get(pk=person.pk).is_active is False
    assert_accessible(page)
    assert blocked == []
