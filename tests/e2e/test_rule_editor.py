"""The rule editor in real Chromium: draft, edit, validate, preview, publish, roll back."""

import re

import pytest
from playwright.sync_api import expect

from incidents import services
from policies.models import PublishEvent, RuleSet
from schools.models import School, User
from tests.e2e.conftest import assert_accessible, fits_a_phone, sign_in

RULE_NAME = "Medical emergency in the gym"


def test_district_admin_drafts_previews_publishes_and_rolls_back(
    page, live_server, demo_routed_in_test
):
    sign_in(page, live_server, "district_admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Routing rules").click()
    page.wait_for_url(f"{live_server.url}/rules/")
    expect(page.locator("#version-1")).to_contain_text("Published")
    assert fits_a_phone(page)
    assert_accessible(page)

    # A new draft, based on the published version.
    page.get_by_label("Start from").select_option("1")
    page.get_by_role("button", name="New draft").click()
    page.wait_for_url(f"{live_server.url}/rules/2/edit/")
    expect(page.locator(".messages")).to_contain_text("Draft version 2 created from version 1")
    assert fits_a_phone(page)
    assert_accessible(page)

    # Add a rule with two conditions; the second has no value yet.
    page.get_by_role("button", name="Add a rule").click()
    rule = page.locator("#rules > li.rule").last
    expect(rule.locator(".rule-number")).to_have_text("Rule 13")
    expect(rule.get_by_label("Rule name")).to_be_focused()
    rule.get_by_label("Rule name").fill(RULE_NAME)
    # Found by its heading from here on: the heading follows the name as it is typed.
    rule = page.locator("#rules > li.rule").filter(
        has=page.locator(".rule-title-name", has_text=RULE_NAME)
    )
    expect(rule).to_have_count(1)
    rule.get_by_label("Who responds").select_option("counselor")
    rule.get_by_label("Principal or assistant principal", exact=True).check()
    rule.get_by_label("Why (rationale)").fill("The nurse and a counselor, no discipline.")
    first = rule.locator(".condition").nth(0)
    first.get_by_label("Fact").select_option("category")
    expect(first.get_by_label("Operator")).to_have_value("eq")
    first.get_by_label("Value").select_option("medical")
    # "is one of" turns the value into checkboxes, and back.
    first.get_by_label("Operator").select_option("in")
    expect(first.get_by_role("checkbox", name="Medical")).to_be_visible()
    first.get_by_label("Operator").select_option("eq")
    first.get_by_label("Value").select_option("medical")
    rule.get_by_role("button", name="Add condition").click()
    second = rule.locator(".condition").nth(1)
    expect(second.get_by_label("Fact")).to_be_focused()
    second.get_by_label("Fact").select_option("location")

    # Reorder with the keyboard: one place up.
    rule.get_by_role("button", name="Move up: rule 13").focus()
    page.keyboard.press("Enter")
    expect(rule.locator(".rule-number")).to_have_text("Rule 12")
    expect(rule.get_by_role("button", name="Move up: rule 12")).to_be_focused()
    assert fits_a_phone(page)
    assert_accessible(page)

    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(f"{live_server.url}/rules/2/edit/")
    expect(page.locator(".messages")).to_contain_text("Draft saved with 1 problem")
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text(f"Rule 12 ({RULE_NAME}), condition: Choose a value")
    incomplete = page.locator("#cond-rules-11-when-all-1")
    expect(incomplete.locator(".note-error")).to_have_text(
        "Error: Choose a value for this condition."
    )
    expect(page.locator("#cond-rules-11-when-all-0 .note-error")).to_have_count(0)
    assert RuleSet.objects.get(version=2).rules[11]["name"] == RULE_NAME  # the work is kept
    assert fits_a_phone(page)
    assert_accessible(page)

    # Publishing is refused while the error is there.
    page.goto(f"{live_server.url}/rules/2/publish/")
    expect(page.locator("#error-summary")).to_contain_text("cannot be published yet")
    expect(page.get_by_role("button", name="Publish version 2")).to_have_count(0)
    assert_accessible(page)
    page.go_back()

    # Fix it.
    page.locator("#cond-rules-11-when-all-1").get_by_label("Value").select_option("gym")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(f"{live_server.url}/rules/2/edit/")
    expect(page.locator(".messages")).to_have_text("Draft saved. It has no errors.")
    expect(page.locator("#error-summary")).to_have_count(0)
    saved = RuleSet.objects.get(version=2).rules[11]
    assert saved["when"] == {
        "all": [
            {"fact": "category", "op": "eq", "value": "medical"},
            {"fact": "location", "op": "eq", "value": "gym"},
        ]
    }
    assert (saved["route"], saved["also_notify"]) == ("counselor", ["administrator"])

    # Preview a sample incident under both versions.
    page.get_by_role("link", name="Preview this draft").click()
    page.wait_for_url(f"{live_server.url}/rules/2/preview/")
    assert_accessible(page)
    page.get_by_label("School").select_option("WAS-MS")
    page.get_by_label("What kind of incident is it?").select_option("medical")
    page.get_by_label("Where did it happen?").select_option("gym")
    page.get_by_label("Student 1: roster ID").fill("WAS9001")
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.locator("#preview-verdict")).to_have_text("The two versions decide differently.")
    expect(page.locator("#decision-1")).to_contain_text("Published (version 1)")
    expect(page.locator("#decision-1 .decision-rule")).to_contain_text("No rule matched")
    expect(page.locator("#decision-1 .decision-route")).to_contain_text("administrator")
    expect(page.locator("#decision-2 .decision-rule")).to_contain_text(RULE_NAME)
    expect(page.locator("#decision-2 .decision-route")).to_contain_text("counselor")
    expect(page.locator("#decision-2")).to_contain_text("Location: gym")
    assert fits_a_phone(page)
    assert_accessible(page)

    # The diff between the versions.
    page.goto(f"{live_server.url}/rules/compare/?old=1&new=2")
    expect(page.locator(".changes")).to_contain_text(f"Added rule '{RULE_NAME}' at #12")
    assert_accessible(page)

    # Publish, with a confirmation.
    page.goto(f"{live_server.url}/rules/")
    page.get_by_role("link", name="Publish version 2").click()
    page.wait_for_url(f"{live_server.url}/rules/2/publish/")
    confirmation = page.locator("#publish-confirmation")
    expect(confirmation).to_contain_text("Version 2 becomes the active version")
    expect(confirmation).to_contain_text("It replaces version 1")
    assert_accessible(page)
    page.get_by_role("button", name="Publish version 2").click()
    page.wait_for_url(f"{live_server.url}/rules/")
    expect(page.locator(".messages")).to_contain_text("Published version 2, replacing version 1")
    expect(page.locator("#publish-history")).to_contain_text(
        "Published version 2, replacing version 1 — by Dana Admin"
    )

    # A newly filed incident is routed by the new version.
    teacher = User.objects.get(username="teacher")
    incident, _ = services.incident_file(
        reporter=teacher,
        school=School.objects.get(code="WAS-MS"),
        category="medical",
        location="gym",
        narrative="A student fainted during practice.",
    )
    services.incident_route(incident_id=incident.pk)
    incident.refresh_from_db()
    assert (incident.ruleset_version, incident.route, incident.rule_name) == (
        2,
        "counselor",
        RULE_NAME,
    )

    # Roll back to version 1, the same way.
    page.get_by_role("link", name="Roll back to version 1").click()
    page.wait_for_url(f"{live_server.url}/rules/1/publish/")
    expect(page.locator("#publish-confirmation")).to_contain_text("It replaces version 2")
    assert_accessible(page)
    page.get_by_role("button", name="Roll back to version 1").click()
    page.wait_for_url(f"{live_server.url}/rules/")
    expect(page.locator("#publish-history li").first).to_contain_text(
        "Rolled back to version 1, replacing version 2 — by Dana Admin"
    )
    assert RuleSet.objects.get(status="published").version == 1
    assert list(PublishEvent.objects.values_list("ruleset__version", "rollback")) == [
        (1, True),
        (2, False),
    ]
    assert_accessible(page)

    # The archived version can be read, not edited.
    page.goto(f"{live_server.url}/rules/2/edit/")
    page.wait_for_url(f"{live_server.url}/rules/2/")
    expect(page.locator(".rule-summaries")).to_contain_text(RULE_NAME)
    assert_accessible(page)

    # A recent incident can be previewed too, from its facts snapshot.
    page.goto(f"{live_server.url}/rules/2/preview/")
    page.get_by_label("Recent incident", exact=True).select_option(str(incident.pk))
    page.get_by_role("button", name="Preview this incident").click()
    expect(page.locator("#decision-2 .decision-rule")).to_contain_text(RULE_NAME)
    assert_accessible(page)


EDITOR_PAGES = [
    "/rules/",
    "/rules/1/",
    "/rules/1/edit/",
    "/rules/1/publish/",
    "/rules/1/preview/",
    "/rules/compare/?old=1&new=1",
]


@pytest.mark.parametrize("username", ["teacher", "counselor"])
def test_teachers_and_counselors_are_refused_every_editor_page(
    page, live_server, demo_routed_in_test, username
):
    sign_in(page, live_server, username)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Routing rules")).to_have_count(0)
    for url in EDITOR_PAGES:
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 403, url
        expect(page.locator("body")).not_to_contain_text(re.compile("Version 1|Publish"))
