"""Issue 12 in real Chromium at 390 px: intake that never under-reports danger.

(a) a gun report with only a narrative and "Weapon" cannot be sent as "no weapon";
(b) no safety radio is checked when the form opens or after choosing a category;
(c) a gun in the narrative with "No weapon" answered asks the weapon question again;
(d) a teacher with three schools must choose one, and picking a student chooses it;
(f) axe finds no WCAG 2.1 AA violation in every state of the form;
and the quickest correct firearm report takes at most 6 interactions.
"""

import re

from playwright.sync_api import expect

from incidents import services
from incidents.models import Category, Incident
from schools.models import User
from tests.e2e.conftest import assert_accessible, fits_a_phone, sign_in

GUN = "A student says another student has a gun in his backpack"
SEND = "Send report"


def open_form(page, live_server, username):
    sign_in(page, live_server, username)
    page.goto(f"{live_server.url}/incidents/new/")
    expect(page.get_by_role("button", name=SEND)).to_be_visible()


def checked_radios(page) -> int:
    return page.evaluate("document.querySelectorAll('input[type=radio]:checked').length")


def answer(page, question: str, label: str):
    page.locator(f"#q-{question}").get_by_label(label, exact=True).check()


def route_the_only_incident() -> Incident:
    incident = Incident.objects.get()
    services.incident_route(incident_id=incident.pk)
    incident.refresh_from_db()
    return incident


def test_a_gun_report_with_only_narrative_and_weapon_is_never_sent_as_no_weapon(
    page, live_server, demo_routed_in_test
):
    open_form(page, live_server, "teacher2")
    page.get_by_label("What happened, in your own words").fill(GUN)
    page.get_by_label("What kind of incident is it?").select_option("weapon")
    page.get_by_role("button", name=SEND).click()

    # Not sent: the form asks whether anyone is in danger, and asks the weapon question again.
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Say whether anyone is in danger right now.")
    expect(summary).to_contain_text("You wrote \u201cgun\u201d. Was there a weapon?")
    expect(page.locator("#follow-ups #q-weapon")).to_be_visible()
    assert Incident.objects.count() == 0
    assert checked_radios(page) == 0
    assert fits_a_phone(page)
    assert_accessible(page)

    # The hurried teacher answers only the required question and sends again: the weapon,
    # unanswered, is filed as unknown, which in a weapon report reaches the SRO.
    answer(page, "danger_now", "No one")
    page.get_by_role("button", name=SEND).click()
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    incident = route_the_only_incident()
    assert (incident.category, incident.weapon) == ("weapon", "unknown")
    assert incident.route == "sro"
    expect(page.locator("#incident-status")).to_contain_text(
        "The school resource officer at Washington Middle has been told", timeout=15_000
    )
    expect(page.locator(".facts").nth(2)).to_contain_text("Not sure (not answered)")
    assert fits_a_phone(page)
    assert_accessible(page)

    # The SRO resolves it: "My incidents" shows the first words, the outcome and its summary.
    item = incident.queue_items.get(route="sro", origin="routing")
    services.queue_item_resolve(
        user=User.objects.get(username="sro"),
        item_id=item.pk,
        outcome="no_action_needed",
        summary="The backpack was searched with the principal: a toy, no weapon.",
    )
    page.goto(f"{live_server.url}/incidents/mine/")
    card = page.locator(f"#incident-{incident.pk}")
    expect(card).to_contain_text("A student says another student has a gun in his backpack")
    expect(card).to_contain_text("No action needed: The backpack was searched")
    expect(card).to_contain_text("Resolved")
    assert fits_a_phone(page)
    assert_accessible(page)


def test_no_safety_radio_is_checked_on_opening_or_after_choosing_any_category(
    page, live_server, demo_routed_in_test
):
    open_form(page, live_server, "teacher2")
    assert checked_radios(page) == 0
    assert page.locator("#id_with_now").input_value() == ""

    for value in Category.values:
        page.get_by_label("What kind of incident is it?").select_option(value)
        assert checked_radios(page) == 0, value
        assert page.locator("#id_with_now").input_value() == "", value

    # The category's follow-ups come first: a weapon report asks what kind, "Not sure" included.
    page.get_by_label("What kind of incident is it?").select_option("weapon")
    weapon = page.locator("#follow-ups #q-weapon")
    expect(weapon).to_be_visible()
    expect(weapon.get_by_label("Not sure", exact=True)).to_be_visible()
    expect(page.locator("#q-weapon")).to_contain_text(
        "a weapon report is treated as a weapon, and the school resource officer is sent"
    )
    expect(page.locator("#more-questions-body #q-student_state")).to_be_attached()
    page.get_by_label("What kind of incident is it?").select_option("emotional_crisis")
    expect(page.locator("#follow-ups #q-student_state")).to_be_visible()
    expect(page.locator("#follow-ups #block-with_now")).to_be_visible()
    expect(page.locator("#more-questions-body #q-weapon")).to_be_attached()
    assert checked_radios(page) == 0


def test_a_gun_in_the_narrative_with_no_weapon_answered_asks_again(
    page, live_server, demo_routed_in_test
):
    open_form(page, live_server, "teacher2")
    page.get_by_label("What happened, in your own words").fill(
        "During the fight Sam said Alex had a gun in his locker."
    )
    page.get_by_label("What kind of incident is it?").select_option("physical_aggression")
    answer(page, "danger_now", "No one")
    answer(page, "weapon", "No weapon")
    page.get_by_role("button", name=SEND).click()

    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("You wrote \u201cgun\u201d. Was there a weapon?")
    weapon = page.locator("#follow-ups #q-weapon")
    expect(weapon).to_be_visible()
    expect(weapon.locator(".errorlist")).to_contain_text('Choose what kind, or "Not sure".')
    assert Incident.objects.count() == 0
    assert fits_a_phone(page)
    assert_accessible(page)

    answer(page, "weapon", "A gun")
    page.get_by_role("button", name=SEND).click()
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    incident = route_the_only_incident()
    assert incident.weapon == "firearm"
    assert incident.route == "sro"


def test_a_teacher_with_three_schools_must_choose_and_picking_a_student_chooses(
    page, live_server, demo_routed_in_test
):
    open_form(page, live_server, "teacher")
    school = page.get_by_label("School")
    expect(school).to_have_value("")

    page.get_by_label("What happened, in your own words").fill("Jordan threw a chair.")
    page.get_by_label("What kind of incident is it?").select_option("disruption")
    answer(page, "danger_now", "No one")
    page.get_by_role("button", name=SEND).click()
    expect(page.locator(".error-summary")).to_contain_text("Choose the school where it happened.")
    assert Incident.objects.count() == 0
    expect(page.get_by_label("School")).to_have_value("")

    # The search covers all three schools; picking Jordan sets Washington Middle.
    page.get_by_label("Find a student by name or ID").fill("Rivera")
    result = page.get_by_role(
        "button", name=re.compile(r"^Jordan Rivera, grade 6 \(WAS9001\), Washington Middle")
    )
    result.click()
    expect(page.get_by_label("School")).to_have_value("WAS-MS")
    expect(page.locator("#student-results-status")).to_contain_text(
        "School set to Washington Middle"
    )
    assert fits_a_phone(page)
    assert_accessible(page)
    page.get_by_role("button", name=SEND).click()
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    incident = Incident.objects.get()
    assert incident.school.code == "WAS-MS"
    assert [s.student.student_id for s in incident.students.all()] == ["WAS9001"]

    # Next time no school is chosen for them either; the one they used is listed first.
    page.goto(f"{live_server.url}/incidents/new/")
    expect(page.get_by_label("School")).to_have_value("")
    expect(page.locator("#id_school option").nth(1)).to_have_text("Washington Middle (last used)")


def test_every_state_of_the_form_passes_axe_at_390_px(page, live_server, demo_routed_in_test):
    open_form(page, live_server, "teacher")
    assert_accessible(page)  # opened
    expect(page.locator("a[href='tel:911']")).to_have_text("Call 911")
    for category in ("weapon", "threat", "self_harm", "other"):
        page.get_by_label("What kind of incident is it?").select_option(category)
        assert_accessible(page)  # the category's follow-ups
        assert fits_a_phone(page)
    page.get_by_label("What kind of incident is it?").select_option("disruption")
    page.locator("#more-questions summary").click()  # the other questions opened
    expect(page.locator("#more-questions-body #q-weapon")).to_be_visible()
    assert_accessible(page)
    answer(page, "threat", "To hurt someone else")  # the threat words appear
    expect(page.get_by_label("What words were said, and to whom?")).to_be_visible()
    assert_accessible(page)
    page.locator("#more-details summary").click()  # when and where
    page.get_by_label("Find a student by name or ID").fill("Rivera")
    expect(page.locator("#student-results li").first).to_be_visible()
    assert_accessible(page)  # search results
    page.locator("#student-results button").first.click()
    assert_accessible(page)  # a student chosen
    page.get_by_label("What happened, in your own words").fill("He said he would shoot them.")
    page.get_by_role("button", name=SEND).click()
    expect(page.locator(".error-summary")).to_be_visible()
    assert_accessible(page)  # errors and a cue asking again
    assert fits_a_phone(page)


class Interactions:
    """Counts what a person does: each fill, choice, check or click is one interaction."""

    def __init__(self, page):
        self.page = page
        self.count = 0

    def fill(self, label: str, text: str):
        self.count += 1
        self.page.get_by_label(label).fill(text)

    def choose(self, label: str, value: str):
        self.count += 1
        self.page.get_by_label(label).select_option(value)

    def check(self, question: str, label: str):
        self.count += 1
        answer(self.page, question, label)

    def click(self, name: str):
        self.count += 1
        self.page.get_by_role("button", name=name).click()


def test_the_quickest_correct_firearm_report_takes_at_most_6_interactions(
    page, live_server, demo_routed_in_test
):
    open_form(page, live_server, "teacher2")
    person = Interactions(page)

    person.fill("What happened, in your own words", GUN)
    person.choose("What kind of incident is it?", "weapon")
    person.check("danger_now", "Other people are in danger")
    person.check("weapon", "A gun")
    person.click(SEND)

    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    incident = route_the_only_incident()
    assert (incident.weapon, incident.danger_now, incident.route) == ("firearm", "to_others", "sro")
    assert person.count == 5
    assert person.count <= 6
