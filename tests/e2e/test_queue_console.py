"""The responder console in real Chromium (served over ASGI, as in production): alerts that
are noticed, cards on a phone, the full table on a laptop, axe clean in every state."""

import re

import pytest
from playwright.sync_api import expect

from incidents import services
from incidents.models import ItemOrigin, QueueItem
from policies.services import ruleset_ensure_default
from schools.demo import seed_people_and_roster
from schools.models import School, User
from tests.e2e.conftest import (
    assert_accessible,
    fits_a_phone,
    sign_in,
    sign_out_by_forgetting,
)

RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
const RealNotification = window.Notification;
class RecordedNotification extends RealNotification {
  constructor(title, options) {
    super(title, options);
    window.shownNotifications.push({ title: title, body: (options || {}).body });
  }
}
Object.defineProperty(RecordedNotification, "permission", {
  get: () => RealNotification.permission,
});
RecordedNotification.requestPermission = RealNotification.requestPermission.bind(RealNotification);
window.Notification = RecordedNotification;
"""


@pytest.fixture
def demo(transactional_db):
    district = seed_people_and_roster(students_per_school=5)
    ruleset_ensure_default(district=district)
    return district


def file_and_deliver(**facts) -> QueueItem:
    incident, _ = services.incident_file(
        reporter=User.objects.get(username="teacher"),
        school=School.objects.get(code="WAS-MS"),
        narrative="Reported from the e2e test.",
        **facts,
    )
    services.incident_route(incident_id=incident.pk)
    items = list(incident.queue_items.all())
    services.queue_items_deliver(item_ids=[item.pk for item in items])
    return next(item for item in items if item.origin == ItemOrigin.ROUTING)


def test_a_new_sro_item_raises_a_notification_and_counts_in_the_title(
    browser, asgi_live_server, demo
):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["notifications"], origin=asgi_live_server.url)
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, asgi_live_server, "sro")
        with page.expect_response(lambda r: r.url.endswith("/queues/events/")):
            page.goto(f"{asgi_live_server.url}/queues/")
        expect(page).to_have_title("My queues · Triage")
        expect(page.locator("#alerts-offer")).to_be_hidden()  # already allowed: not asked
        assert_accessible(page)

        item = file_and_deliver(category="weapon", weapon="firearm")
        row = page.locator(f"#item-{item.pk}")
        expect(row).to_be_visible(timeout=5_000)
        expect(row).to_have_class(re.compile(r"\bflash\b"))
        expect(row).to_have_class(re.compile(r"\blife-safety\b"))
        expect(page).to_have_title("(1) My queues · Triage")
        page.wait_for_function("window.shownNotifications.length === 1")
        shown = page.evaluate("window.shownNotifications")
        assert shown == [
            {
                "title": "URGENT: new item in WAS-MS School resource officer",
                "body": f"Incident #{item.incident_id}. Open My queues to respond.",
            }
        ]
        expect(page.locator("#queue-live")).to_have_text(
            "New incident in WAS-MS School resource officer"
        )
        # The table uses the width: the deadline column is on screen at 1280 px.
        box = row.locator("td").last.bounding_box()
        assert box["x"] + box["width"] <= 1280
        expect(row.locator(".countdown")).to_have_class(re.compile(r"countdown-(ok|amber|red)"))
        assert_accessible(page)

    finally:
        context.close()


def test_the_page_asks_for_alerts_once_and_says_why(browser, asgi_live_server, demo):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, asgi_live_server, "counselor")
        page.goto(f"{asgi_live_server.url}/queues/")
        offer = page.locator("#alerts-offer")
        expect(offer).to_be_visible()
        expect(offer).to_contain_text("life-safety item")
        assert_accessible(page)
        page.get_by_role("button", name="Not now").click()
        expect(offer).to_be_hidden()
        page.reload()
        expect(page.get_by_role("heading", name="My queues")).to_be_visible()
        expect(offer).to_be_hidden()
    finally:
        context.close()


def test_the_queue_at_390_px_is_cards_without_sideways_scrolling(page, asgi_live_server, demo):
    firearm = file_and_deliver(category="weapon", weapon="firearm")
    vaping = file_and_deliver(category="substance_use")
    sign_in(page, asgi_live_server, "district_admin")
    page.goto(f"{asgi_live_server.url}/queues/")
    page.locator('#queue-list[data-live="ready"]').wait_for()  # live, and the list re-read
    rows = page.locator("table.queue-items tbody tr")
    expect(rows).to_have_count(2)
    assert rows.first.get_attribute("id") == f"item-{firearm.pk}"
    assert rows.last.get_attribute("id") == f"item-{vaping.pk}"
    assert rows.first.evaluate("row => getComputedStyle(row).display") == "block"
    assert fits_a_phone(page)
    # The items come before the per-queue counts on a phone.
    items_top = page.locator("#items-heading").bounding_box()["y"]
    counts_top = page.locator("#queues-heading").bounding_box()["y"]
    assert items_top < counts_top
    assert_accessible(page)
    page.locator("summary", has_text="Per-queue counts").click()
    assert fits_a_phone(page)
    assert_accessible(page)


def test_co_response_read_only_and_error_pages_are_accessible(page, asgi_live_server, demo):
    from datetime import timedelta

    co = file_and_deliver(category="self_harm", danger_now="to_self")
    assert co.route == "co_responder"
    services.queue_item_acknowledge(user=User.objects.get(username="clinician"), item_id=co.pk)
    counselor_item = file_and_deliver(category="emotional_crisis")
    services.queue_item_escalate(
        item_id=counselor_item.pk, now=counselor_item.ack_deadline + timedelta(seconds=1)
    )

    sign_in(page, asgi_live_server, "sro")
    page.goto(f"{asgi_live_server.url}/queues/items/{co.pk}/")
    expect(page.locator("#co-lead")).to_have_text("Chris Clinician (Clinician)")
    on_my_way = page.get_by_role("button", name="On my way")
    expect(on_my_way).to_be_visible()
    assert fits_a_phone(page)
    assert_accessible(page)
    on_my_way.click()
    expect(page.locator(".messages")).to_contain_text("On my way")
    expect(page.locator("#co-on-the-way")).to_contain_text("Sam")
    assert_accessible(page)

    sign_out_by_forgetting(page)
    sign_in(page, asgi_live_server, "administrator")
    page.goto(f"{asgi_live_server.url}/queues/items/{counselor_item.pk}/")
    expect(page.locator("#read-only-note")).to_be_visible()
    assert_accessible(page)
    page.goto(f"{asgi_live_server.url}/no/such/page/")
    expect(page.get_by_role("heading", name="We can’t find that page")).to_be_visible()
    assert_accessible(page)
