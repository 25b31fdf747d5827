"""The rule editor's pages: permissions, saving drafts with errors, diff, publish, rollback."""

import json
import re

import pytest
from django.test import Client

from incidents import services as incident_services
from incidents.models import Incident
from policies import services
from policies.defaults import default_policy
from policies.diff import Change, describe_condition, ruleset_diff
from policies.engine import normalize_ruleset
from policies.models import PublishEvent, RuleSet
from schools.models import Role
from tests.factories import SchoolFactory, user_with_role

NEW_RULE = {
    "name": "Vaping in the restroom",
    "route": "counselor",
    "also_notify": ["administrator"],
    "enabled": True,
    "rationale": "A health conversation first.",
    "source": "",
    "when": {
        "all": [
            {"fact": "category", "op": "eq", "value": "substance_use"},
            {"fact": "location", "op": "eq", "value": None},
        ]
    },
}


@pytest.fixture
def admin(school):
    services.ruleset_ensure_default(district=school.district)
    return user_with_role(Role.DISTRICT_ADMIN, school, username="dana")


@pytest.fixture
def client(admin):
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def draft(admin):
    return services.ruleset_create_draft(user=admin)


def spec_with(draft: RuleSet, *rules: dict) -> dict:
    spec = draft.spec()
    spec["rules"] = [*rules, *spec["rules"]]
    return spec


def post_spec(client: Client, version: int, spec: dict):
    return client.post(f"/rules/{version}/edit/", {"spec": json.dumps(spec)})


def element(html: str, dom_id: str) -> str:
    """The HTML from the element with this id to the end of its notes (its own part)."""
    start = html.index(f'id="{dom_id}"')
    following = re.compile(r'class="condition[" ]').search(html, start + 1)
    return html[start : following.start() if following else len(html)]


# --------------------------------------------------------------------------- permissions

PAGES = [
    ("get", "/rules/"),
    ("post", "/rules/new/"),
    ("get", "/rules/compare/?old=1&new=2"),
    ("get", "/rules/1/"),
    ("get", "/rules/2/edit/"),
    ("post", "/rules/2/edit/"),
    ("get", "/rules/2/publish/"),
    ("post", "/rules/2/publish/"),
    ("get", "/rules/2/preview/"),
    ("post", "/rules/2/preview/"),
    ("get", "/rules/1/preview/?incident=1"),
]


@pytest.mark.parametrize(
    "role", [Role.TEACHER, Role.COUNSELOR, Role.ADMINISTRATOR, Role.CLINICIAN, Role.SRO]
)
@pytest.mark.parametrize(("method", "url"), PAGES)
def test_only_district_admins_reach_the_editor_pages(draft, school, role, method, url):
    before = list(RuleSet.objects.values_list("version", "status", "rules", "updated_at"))
    client = Client()
    client.force_login(user_with_role(role, school))
    data = {"spec": json.dumps({"rules": [], "default_route": "counselor"}), "based_on": "1"}
    response = getattr(client, method)(url, data if method == "post" else None)
    assert response.status_code == 403
    assert list(RuleSet.objects.values_list("version", "status", "rules", "updated_at")) == before
    assert PublishEvent.objects.count() == 0


@pytest.mark.parametrize(("method", "url"), PAGES)
def test_signed_out_people_are_sent_to_sign_in(draft, method, url):
    response = getattr(Client(), method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/rules/3/"),
        ("get", "/rules/3/edit/"),
        ("post", "/rules/3/edit/"),
        ("get", "/rules/3/publish/"),
        ("post", "/rules/3/publish/"),
        ("get", "/rules/3/preview/"),
        ("post", "/rules/3/preview/"),
    ],
)
def test_versions_of_another_district_are_not_found(client, draft, method, url):
    elsewhere = SchoolFactory(code="OTH-HS")
    outsider = user_with_role(Role.DISTRICT_ADMIN, elsewhere, username="other-da")
    services.ruleset_ensure_default(district=elsewhere.district)
    services.ruleset_create_draft(user=outsider)
    theirs = services.ruleset_create_draft(user=outsider)
    assert theirs.version == 3
    response = getattr(client, method)(url, {"spec": json.dumps(theirs.spec())})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "draft"
    assert PublishEvent.objects.count() == 0


def test_the_nav_links_district_admins_to_the_rules(client):
    response = client.get("/")
    assert b'href="/rules/">Routing rules</a>' in response.content


# --------------------------------------------------------------------------- list and drafts


def test_rule_sets_page_shows_versions_with_who_and_when(client, draft):
    html = client.get("/rules/").content.decode()
    assert "Published version" in html
    assert 'id="version-1"' in html and 'id="version-2"' in html
    assert "Edit version 2" in html
    assert "by Pat Staff" in html  # created_by of the draft
    assert "No archived versions." in html


def test_new_draft_from_a_chosen_version(client, admin):
    response = client.post("/rules/new/", {"based_on": "1"})
    assert response.status_code == 302
    assert response["Location"] == "/rules/2/edit/"
    draft = RuleSet.objects.get(version=2)
    assert (draft.status, draft.based_on, draft.created_by) == ("draft", 1, admin)
    assert draft.rules == RuleSet.objects.get(version=1).rules
    refused = client.post("/rules/new/", {"based_on": "99"})
    assert refused.status_code == 302 and RuleSet.objects.count() == 2


def test_edit_page_renders_every_rule_with_its_conditions(client, draft):
    html = client.get("/rules/2/edit/").content.decode()
    assert html.count('class="rule"') + html.count('class="rule ') == 12 + 1  # + the template
    assert 'id="cond-rules-0-when-any-0"' in html
    # A single-condition rule is shown as a group of one.
    assert 'id="cond-rules-2-when"' in html
    assert 'id="editor-data"' in html
    assert "Life-safety floor" in html and "Always on" in html


def test_a_published_version_is_not_editable(client, draft):
    response = client.get("/rules/1/edit/")
    assert response.status_code == 302 and response["Location"] == "/rules/1/"
    before = RuleSet.objects.get(version=1).rules
    client.post("/rules/1/edit/", {"spec": json.dumps({"rules": [], "default_route": "x"})})
    assert RuleSet.objects.get(version=1).rules == before


def test_saving_with_errors_keeps_the_draft_and_shows_the_error_by_the_condition(client, draft):
    response = post_spec(client, 2, spec_with(draft, NEW_RULE))
    assert response.status_code == 302 and response["Location"] == "/rules/2/edit/"
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert draft.rules[0]["name"] == "Vaping in the restroom"
    assert draft.rules[0]["id"] == "vaping-in-the-restroom"
    assert draft.rules[0]["when"]["all"][1] == {"fact": "location", "op": "eq", "value": None}
    assert len(draft.rules) == 13

    html = client.get("/rules/2/edit/").content.decode()
    assert "Draft saved with 1 problem to fix before it can be published." in html
    assert "One error to fix before publishing" in html
    bad = element(html, "cond-rules-0-when-all-1")
    assert "Choose a value for this condition." in bad
    assert 'aria-invalid="true"' in bad
    good = element(html, "cond-rules-0-when-all-0")
    assert "Error:" not in good
    assert (
        '<a href="#cond-rules-0-when-all-1">Rule 1 (Vaping in the restroom), condition: '
        "Choose a value for this condition.</a>" in html
    )


def test_rule_level_errors_and_warnings_sit_on_the_rule(client, draft):
    nameless = {**NEW_RULE, "name": "", "when": NEW_RULE["when"]["all"][0]}
    nameless.pop("route")
    sro_for_vaping = {
        "name": "Vaping to the SRO",
        "route": "sro",
        "when": {"fact": "category", "op": "eq", "value": "substance_use"},
    }
    post_spec(client, 2, spec_with(draft, nameless))
    html = client.get("/rules/2/edit/").content.decode()
    rule = html[html.index('id="rule-1"') : html.index('id="rule-2"')]
    assert "every rule needs a name" in rule.lower()
    assert "Choose who responds when this rule matches." in rule

    post_spec(client, 2, spec_with(draft, sro_for_vaping))
    html = client.get("/rules/2/edit/").content.decode()
    rule = html[html.index('id="rule-1"') : html.index('id="rule-2"')]
    assert "Warning:</strong> Routes to the SRO but can match without a life-safety fact" in rule
    assert "One warning (publishing is still possible)" in html


def test_guardrail_off_without_a_reason_is_an_error_on_that_guardrail(client, draft):
    spec = draft.spec()
    spec["guardrails"]["minimum_age"] = {"enabled": False, "age": 10, "reason": ""}
    post_spec(client, 2, spec)
    html = client.get("/rules/2/edit/").content.decode()
    fieldset = html[html.index('id="guardrail-minimum_age"') :]
    fieldset = fieldset[: fieldset.index("</fieldset>")]
    assert "Turning off the minimum age requires a written reason; it is logged." in fieldset


def test_unreadable_json_saves_nothing(client, draft):
    before = RuleSet.objects.get(version=2).rules
    response = client.post("/rules/2/edit/", {"spec": "{not json"})
    assert response.status_code == 200
    assert "could not be read" in response.content.decode()
    response = client.post("/rules/2/edit/", {"spec": json.dumps({"rules": "nope"})})
    assert "must be a list of rules" in response.content.decode()
    assert RuleSet.objects.get(version=2).rules == before


def test_save_draft_service_refuses_published_versions(admin, draft):
    with pytest.raises(services.RulesetConflict):
        services.ruleset_save_draft(user=admin, version=1, spec=draft.spec())
    saved, result = services.ruleset_save_draft(
        user=admin, version=2, spec={"rules": [{"name": "x"}]}
    )
    assert saved.rules[0]["id"] == "x" and saved.default_route == "administrator"
    assert [p.path for p in result.errors] == ["rules[0].route", "rules[0].when"]


# --------------------------------------------------------------------------- publish, rollback


def test_publish_is_refused_while_the_draft_has_errors(client, draft):
    post_spec(client, 2, spec_with(draft, NEW_RULE))
    page = client.get("/rules/2/publish/").content.decode()
    assert "Version 2 cannot be published yet" in page
    assert "Publish version 2</button>" not in page
    response = client.post("/rules/2/publish/")
    assert response.status_code == 409
    assert RuleSet.objects.get(version=2).status == "draft"
    assert RuleSet.objects.get(version=1).status == "published"
    assert PublishEvent.objects.count() == 0


def test_publish_and_roll_back_through_the_pages(client, admin, draft):
    fixed = dict(NEW_RULE, when={"fact": "category", "op": "eq", "value": "substance_use"})
    post_spec(client, 2, spec_with(draft, fixed))

    confirm = client.get("/rules/2/publish/").content.decode()
    assert "Version 2 becomes the active version" in confirm
    assert "It replaces version 1" in confirm
    assert "Added rule &#x27;Vaping in the restroom&#x27; at #1" in confirm
    response = client.post("/rules/2/publish/")
    assert response.status_code == 302 and response["Location"] == "/rules/"
    assert dict(RuleSet.objects.values_list("version", "status")) == {
        1: "archived",
        2: "published",
    }

    rollback = client.get("/rules/1/publish/").content.decode()
    assert "Roll back to version 1" in rollback and "It replaces version 2" in rollback
    assert client.post("/rules/1/publish/").status_code == 302
    assert dict(RuleSet.objects.values_list("version", "status")) == {
        1: "published",
        2: "archived",
    }
    events = list(
        PublishEvent.objects.values_list(
            "ruleset__version", "replaced_version", "rollback", "published_by"
        )
    )
    assert events == [(1, 2, True, admin.pk), (2, 1, False, admin.pk)]

    html = client.get("/rules/").content.decode()
    history = html[html.index('id="publish-history"') :]
    name = admin.get_full_name()
    assert f"Rolled back to version 1, replacing version 2 — by {name}" in history
    assert f"Published version 2, replacing version 1 — by {name}" in history
    assert "Roll back to version 2" in html  # archived now
    # Publishing the active version again is not a thing.
    assert client.post("/rules/1/publish/").status_code == 302
    assert PublishEvent.objects.count() == 2


def test_compare_page_lists_changes(client, draft):
    fixed = dict(NEW_RULE, when={"fact": "category", "op": "eq", "value": "substance_use"})
    post_spec(client, 2, spec_with(draft, fixed))
    html = client.get("/rules/compare/?old=1&new=2").content.decode()
    assert (
        "Added rule &#x27;Vaping in the restroom&#x27; at #1: counselor when Category is "
        "substance use." in html
    )
    same = client.get("/rules/compare/?old=1&new=1").content.decode()
    assert "No differences" in same


# --------------------------------------------------------------------------- preview


def test_preview_of_a_sample_incident_shows_both_decisions(client, draft, school):
    fixed = dict(NEW_RULE, when={"fact": "category", "op": "eq", "value": "substance_use"})
    post_spec(client, 2, spec_with(draft, fixed))
    count = Incident.objects.count()
    response = client.post(
        "/rules/2/preview/",
        {
            "school": school.code,
            "category": "substance_use",
            "danger_now": "none",
            "weapon": "none",
            "injury": "none",
            "threat": "none",
            "student_state": "calm",
            "with_now": "nobody",
            "location": "restroom",
            "students-0-name": "Visitor",
            "students-0-age": "13",
            "students-0-role": "subject",
            "students-1-role": "subject",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "The two versions decide differently." in html
    first = html[html.index('id="decision-1"') : html.index('id="decision-2"')]
    second = html[html.index('id="decision-2"') :]
    assert "Published (version 1)" in first and "School discipline" in first
    assert "Version 2 (draft)" in second and "Vaping in the restroom" in second
    assert "Category: substance use" in second
    assert Incident.objects.count() == count


def test_preview_validates_the_sample_like_intake(client, draft, school):
    response = client.post(
        "/rules/2/preview/",
        {"school": school.code, "category": "", "students-0-student_id": "NOPE"},
    )
    html = response.content.decode()
    assert "Fix the sample incident to preview it" in html
    assert "Choose what kind of incident this is." in html
    assert 'id="decision-1"' not in html


def test_preview_of_a_recent_incident_uses_its_facts_snapshot(client, draft, school, admin):
    incident, _ = incident_services.incident_file(
        reporter=admin, school=school, category="disruption", narrative="A chair."
    )
    incident.facts = {"category": "intruder", "danger_now": "none", "weapon": "none"}
    incident.save(update_fields=["facts"])
    html = client.get(f"/rules/2/preview/?incident={incident.pk}").content.decode()
    assert f"Decisions for incident #{incident.pk}" in html
    assert "Firearm, weapon, threat to kill or intruder" in html  # from the snapshot
    assert "Both versions decide the same route." in html
    assert client.get("/rules/2/preview/?incident=999999").status_code == 404


def test_preview_of_a_draft_with_errors_says_so(client, draft, school):
    post_spec(client, 2, spec_with(draft, NEW_RULE))
    html = client.post(
        "/rules/2/preview/", {"school": school.code, "category": "theft"}
    ).content.decode()
    assert "Version 2 has 1 error: fix them in the editor to preview it." in html


# --------------------------------------------------------------------------- diff


def test_diff_lists_exact_changes_in_plain_words():
    old = normalize_ruleset(default_policy())
    new = normalize_ruleset(default_policy())
    rules = {r["id"]: r for r in new["rules"]}
    new["rules"].remove(rules["drug-distribution"])
    # danger-to-self moves before serious-injury-or-sexual-assault.
    new["rules"].remove(rules["danger-to-self"])
    new["rules"].insert(3, rules["danger-to-self"])
    rules["transient-threat"]["name"] = "Transient threat"
    rules["transient-threat"]["route"] = "counselor"
    rules["transient-threat"]["also_notify"] = ["administrator"]
    rules["school-discipline"]["enabled"] = False
    rules["calming-with-clinician"]["rationale"] = "Let the clinician continue."
    rules["danger-to-others"]["when"] = {
        "all": [
            {"fact": "danger_now", "op": "eq", "value": "to_others"},
            {"fact": "youngest_subject_age", "op": "ge", "value": 12},
        ]
    }
    new["rules"].insert(
        0,
        {
            "id": "intruder",
            "name": "Intruder",
            "route": "sro",
            "also_notify": [],
            "enabled": True,
            "rationale": "",
            "source": "",
            "when": {"fact": "category", "op": "eq", "value": "intruder"},
        },
    )
    new["default_route"] = "counselor"
    new["guardrails"]["clinician_safeguard"] = {"enabled": False, "reason": "Board vote 12"}
    new["guardrails"]["minimum_age"]["age"] = 12

    assert ruleset_diff(old, new) == [
        Change("rule_removed", "Removed rule 'Drug distribution' (was #10).", "drug-distribution"),
        Change(
            "rule_added", "Added rule 'Intruder' at #1: SRO when Category is intruder.", "intruder"
        ),
        Change(
            "rule_changed",
            "Rule 'Others in danger right now': conditions changed from “Danger right now is "
            "to others” to “Danger right now is to others and Youngest student's age is at "
            "least 12”.",
            "danger-to-others",
        ),
        Change(
            "rule_moved",
            "Moved rule 'Serious injury or sexual assault' to just after 'Student in danger "
            "right now' (now #6, was #4).",
            "serious-injury-or-sexual-assault",
        ),
        Change(
            "rule_changed",
            "Rule 'Already calming down with a clinician': rationale changed to "
            "'Let the clinician continue.'.",
            "calming-with-clinician",
        ),
        Change(
            "rule_changed",
            "Rule 'Any other threat' renamed to 'Transient threat'.",
            "transient-threat",
        ),
        Change(
            "rule_changed",
            "Rule 'Transient threat': route changed from administrator to counselor.",
            "transient-threat",
        ),
        Change(
            "rule_changed",
            "Rule 'Transient threat' now also notifies administrator.",
            "transient-threat",
        ),
        Change(
            "rule_changed",
            "Rule 'Transient threat' no longer notifies counselor.",
            "transient-threat",
        ),
        Change("rule_changed", "Rule 'School discipline' turned off.", "school-discipline"),
        Change(
            "default_route",
            "Default route (when no rule matches) changed from administrator to counselor.",
        ),
        Change("guardrail", "Already with a clinician turned off (reason: 'Board vote 12')."),
        Change("guardrail", "Minimum age changed from 10 to 12."),
    ]


def test_diff_of_identical_versions_is_empty_and_reorders_are_moves():
    spec = normalize_ruleset(default_policy())
    assert ruleset_diff(spec, spec) == []
    reordered_values = normalize_ruleset(default_policy())
    reordered_values["rules"][0]["when"]["any"][0]["value"].reverse()
    assert ruleset_diff(spec, reordered_values) == []
    swapped = normalize_ruleset(default_policy())
    swapped["rules"][0], swapped["rules"][1] = swapped["rules"][1], swapped["rules"][0]
    changes = ruleset_diff(spec, swapped)
    assert [c.kind for c in changes] == ["rule_moved"]
    assert changes[0].rule_id in {"life-safety", "danger-with-mental-health"}


def test_diff_tolerates_drafts_with_errors():
    broken = {"rules": [{"id": "x", "name": "X", "when": {"fact": "categry"}}, "junk"]}
    changes = ruleset_diff({"rules": []}, broken)
    assert changes == [
        Change(
            "rule_added",
            "Added rule 'X' at #1: (no route) when categry (no operator) (empty).",
            "x",
        )
    ]


def test_describe_condition_reads_like_a_sentence():
    assert (
        describe_condition(
            {
                "all": [
                    {"fact": "weapon", "op": "in", "value": ["firearm", "weapon_possessed"]},
                    {
                        "any": [
                            {"fact": "any_iep", "op": "eq", "value": True},
                            {"not": {"fact": "hour_of_day", "op": "lt", "value": 8}},
                        ]
                    },
                ]
            }
        )
        == "Weapon is one of firearm, weapon possessed and (Has an IEP is yes or "
        "not (Hour of day is less than 8))"
    )


def test_page_ids_in_the_html_are_unique(client, draft):
    post_spec(client, 2, spec_with(draft, NEW_RULE))
    html = client.get("/rules/2/edit/").content.decode()
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
