"""A counselor's queue in a real browser: a routed incident arrives live and is resolved."""

import re

import pytest
from playwright.sync_api import expect

from incidents import services
from incidents.models import QueueItem
from policies.services import ruleset_ensure_default
from schools.demo import seed_people_and_roster
from schools.models import School, User
from tests.e2e.conftest import assert_accessible, sign_in, sign_out_by_forgetting

NARRATIVE = "Ava put her head down and cried; she said she <can't> go home today."


@pytest.fixture
def demo(transactional_db):
    district = seed_people_and_roster(students_per_school=5)
    ruleset_ensure_default(district=district)
    return district


def test_incident_arrives_live_and_the_reporter_sees_the_outcome(page, asgi_live_server, demo):
    sign_in(page, asgi_live_server, "counselor")
    with page.expect_response(lambda r: "/queues/events/" in r.url):
        page.goto(f"{asgi_live_server.url}/queues/")
    expect(page.get_by_role("heading", name="My queues")).to_be_visible()
    assert_accessible(page)

    # Filed and routed while the page is open; delivery is what the worker does next.
    incident, _ = services.incident_file(
        reporter=User.objects.get(username="teacher"),
        school=School.objects.get(code="WAS-MS"),
        category="emotional_crisis",
        narrative=NARRATIVE,
    )
    services.incident_route(incident_id=incident.pk)
    item = QueueItem.objects.get(incident=incident, route="counselor")
    services.queue_items_deliver(item_ids=[item.pk])

    row = page.locator(f"#item-{item.pk}")
    expect(row).to_be_visible(timeout=15_000)
    expect(page.locator("#queue-live")).to_have_text("New incident in WAS-MS Counselor")
    assert_accessible(page)

    row.get_by_role("link", name=f"Incident #{incident.pk}").click()
    expect(page.get_by_role("heading", name=re.compile(f"Incident #{incident.pk}"))).to_be_visible()
    expect(page.locator(".narrative").first).to_have_text(NARRATIVE)
    assert_accessible(page)

    claim = page.get_by_role("button", name="Claim")
    claim.focus()
    page.keyboard.press("Enter")  # keyboard only
    expect(page.locator(".messages")).to_contain_text("You claimed this item.")
    page.get_by_role("button", name="Acknowledge: I am on it").click()
    expect(page.locator(".messages")).to_contain_text("Acknowledged: you are on it.")
    page.locator("summary", has_text="Add a note").click()
    page.get_by_label("Private note").fill("Grandmother can pick her up at 3.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".messages")).to_contain_text("Note added.")
    page.locator("summary", has_text="Resolve with an outcome").click()
    page.get_by_label("Outcome").select_option(label="Safety plan")
    page.get_by_label("Summary for the person who reported it").fill(
        "Ava is safe; we made a plan with her family."
    )
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".messages")).to_contain_text("Resolved: Safety plan.")
    assert_accessible(page)

    sign_out_by_forgetting(page)
    sign_in(page, asgi_live_server, "teacher")
    page.goto(f"{asgi_live_server.url}/incidents/{incident.pk}/")
    main = page.locator("main")
    expect(main).to_contain_text("Safety plan")
    expect(main).to_contain_text("Ava is safe; we made a plan with her family.")
    expect(main).not_to_contain_text("Grandmother can pick her up")

    sign_out_by_forgetting(page)
    sign_in(page, asgi_live_server, "district_admin")
    page.goto(f"{asgi_live_server.url}/access-log/")
    expect(page.get_by_role("heading", name="Access log")).to_be_visible()
    expect(page.locator("tbody")).to_contain_text("Casey Counselor")
    page.get_by_label("Incident number").fill(str(incident.pk))
    page.get_by_role("button", name="Filter").click()
    # The counselor opened the item page five times: on arrival and after each action.
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.filter(has_text="Casey Counselor")).to_have_count(5)
    assert_accessible(page)
