import re

from playwright.sync_api import expect

from incidents import services
from incidents.models import Incident
from tests.e2e.conftest import assert_accessible, fits_a_phone, sign_in

NARRATIVE = "Jordan tipped a chair over <b>twice</b> & left the room.\nHe is in the hallway now."


def test_teacher_reports_an_incident_with_a_roster_student(page, live_server, demo_routed_in_test):
    sign_in(page, live_server, "teacher")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Report an incident"
    ).click()
    page.wait_for_url(f"{live_server.url}/incidents/new/")
    expect(page.locator(".banner-emergency")).to_contain_text("Call 911")
    assert fits_a_phone(page)
    assert_accessible(page)

    page.get_by_label("School").select_option("WAS-MS")
    search = page.get_by_label("Find a student by name or ID")
    search.fill("Rivera")
    result = page.get_by_role("button", name=re.compile(r"^Jordan Rivera, grade 6 \(WAS9001\)"))
    expect(result).to_be_visible()
    expect(page.locator("#student-results-status")).to_have_text(re.compile(r"students? found"))
    # Keyboard only: the first result is the next stop after the search box.
    search.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").startswith("Jordan Rivera")
    page.keyboard.press("Enter")
    chosen = page.locator("#chosen-students")
    expect(chosen).to_contain_text("Jordan Rivera")
    expect(chosen.locator("input[name$='-student_id']")).to_have_value("WAS9001")
    page.get_by_label("Role").select_option("subject")
    assert fits_a_phone(page)

    # Sent without a narrative: the error is shown, and nothing chosen is lost.
    page.get_by_role("button", name="Send report").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("Describe what happened in your own words.")
    expect(summary).to_be_focused()
    expect(page.locator("#id_narrative")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#chosen-students")).to_contain_text("Jordan Rivera")
    expect(page.get_by_label("School")).to_have_value("WAS-MS")
    assert Incident.objects.count() == 0
    assert fits_a_phone(page)
    assert_accessible(page)

    page.get_by_label("What happened, in your own words").fill(NARRATIVE)
    page.get_by_label("What kind of incident is it?").select_option("disruption")
    page.locator("#q-danger_now").get_by_label("No one", exact=True).check()
    page.get_by_role("button", name="Send report").click()
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))

    incident = Incident.objects.get()
    assert incident.narrative == NARRATIVE
    assert [s.student.student_id for s in incident.students.all()] == ["WAS9001"]
    expect(page.locator(".messages")).to_have_text("Incident filed")
    expect(page.locator(".narrative").first).to_have_text(NARRATIVE)
    expect(page.locator("#incident-status")).to_contain_text("Received")
    assert fits_a_phone(page)
    assert_accessible(page)

    # The status part refreshes itself once the incident is routed.
    services.incident_route(incident_id=incident.pk)
    incident.refresh_from_db()
    expect(page.locator("#incident-status")).to_contain_text(
        incident.get_route_display(), timeout=15_000
    )
    expect(page.locator("#incident-status")).to_contain_text("Routed to a responder")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My incidents").click()
    page.wait_for_url(f"{live_server.url}/incidents/mine/")
    card = page.locator(f"#incident-{incident.pk}")
    expect(card.get_by_role("heading")).to_have_text(f"#{incident.pk} Disruption or defiance")
    expect(card).to_contain_text("WAS-MS")
    expect(card).to_contain_text("Jordan tipped a chair over <b>twice</b> & left the room.")
    assert fits_a_phone(page)
    assert_accessible(page)
    card.get_by_role("link").click()
    page.wait_for_url(f"{live_server.url}/incidents/{incident.pk}/")


def test_someone_not_on_the_roster_can_be_added_and_removed(page, live_server, demo_routed_in_test):
    sign_in(page, live_server, "teacher")
    page.goto(f"{live_server.url}/incidents/new/")
    page.get_by_text("Someone not on the roster").click()
    page.get_by_label("Their name").fill("Visiting cousin")
    page.get_by_label("Age (if you know it)").fill("9")
    page.get_by_role("button", name="Add this person").click()
    expect(page.locator("#chosen-students")).to_contain_text("Visiting cousin")
    page.get_by_label("Their name").fill("Wrong person")
    page.get_by_role("button", name="Add this person").click()
    page.get_by_role("button", name="Remove Wrong person").click()
    expect(page.locator("#chosen-students")).not_to_contain_text("Wrong person")
    assert_accessible(page)

    page.get_by_label("School").select_option("WAS-MS")
    page.get_by_label("What happened, in your own words").fill("A visitor was hit by a ball.")
    page.get_by_label("What kind of incident is it?").select_option("other")
    page.locator("#q-danger_now").get_by_label("No one", exact=True).check()
    page.get_by_role("button", name="Send report").click()
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))

    involved = list(Incident.objects.get().students.values_list("name", "age", "role"))
    assert involved == [("Visiting cousin", 9, "subject")]
