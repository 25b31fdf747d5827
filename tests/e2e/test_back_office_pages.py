"""The back office passes axe in a real browser; the API docs render offline.

The API docs are Swagger UI, a developer tool we ship as it is (axe finds contrast and
nested-control issues inside Swagger UI itself); school staff never need that page.
"""

import pytest

from schools.demo import seed_people_and_roster
from tests.e2e.conftest import assert_accessible, sign_in


@pytest.fixture
def demo(transactional_db):
    seed_people_and_roster(students_per_school=3)


def test_api_docs_render_from_our_own_static_files(page, live_server, demo):
    external = []
    page.on(
        "request",
        lambda r: external.append(r.url) if not r.url.startswith(live_server.url) else None,
    )
    sign_in(page, live_server, "teacher")
    page.goto(f"{live_server.url}/api/docs/")
    page.get_by_text("/api/incidents/").first.wait_for()
    assert external == []


def test_back_office_pages_for_a_district_admin(page, live_server, demo):
    sign_in(page, live_server, "district_admin")
    for path in ("/admin/", "/admin/schools/student/", "/admin/schools/school/"):
        page.goto(f"{live_server.url}{path}")
        assert page.locator("#content").is_visible()
        assert_accessible(page)
