"""Live updates in real Chromium against the ASGI server: the reporter's incident page."""

import time

from playwright.sync_api import expect

from incidents import services
from schools.models import School, User
from tests.e2e.conftest import assert_accessible, sign_in


def test_the_reporter_sees_the_route_appear_without_reloading(
    page, asgi_live_server, demo_routed_in_test
):
    incident, _ = services.incident_file(
        reporter=User.objects.get(username="teacher"),
        school=School.objects.get(code="WAS-MS"),
        category="weapon",
        weapon="firearm",
        narrative="A student showed a handgun in his backpack by the gym.",
        students=[],
    )
    sign_in(page, asgi_live_server, "teacher")
    with page.expect_response(lambda r: r.url.endswith(f"/incidents/{incident.pk}/events/")):
        page.goto(f"{asgi_live_server.url}/incidents/{incident.pk}/")
    status = page.locator("#incident-status")
    expect(status).to_contain_text("Choosing the right responder")
    assert_accessible(page)
    page.evaluate("window.notReloaded = true")

    services.incident_route(incident_id=incident.pk)
    routed_at = time.monotonic()
    expect(status).to_contain_text("School resource officer", timeout=2_000)
    assert time.monotonic() - routed_at < 2.0
    assert page.evaluate("window.notReloaded") is True
    expect(status).to_contain_text("Routed to a responder")
    assert_accessible(page)
