"""The rule-set API: versioning, immutability, publishing, rollback, preview and permissions."""

import pytest

from policies.models import PublishEvent, RuleSet
from policies.services import ruleset_ensure_default
from schools.models import Role
from tests.conftest import api_client_for
from tests.factories import SchoolFactory, StudentFactory, user_with_role


@pytest.fixture
def admin(school):
    ruleset_ensure_default(district=school.district)
    return user_with_role(Role.DISTRICT_ADMIN, school, username="dana")


@pytest.fixture
def client(admin):
    return api_client_for(admin)


def test_default_policy_is_published_as_version_1(client):
    active = client.get("/api/rulesets/active/").json()
    assert (active["version"], active["status"], active["default_route"]) == (
        1,
        "published",
        "administrator",
    )
    assert [r["id"] for r in active["rules"]][:3] == [
        "life-safety",
        "danger-with-mental-health",
        "danger-to-others",
    ]
    assert len(active["rules"]) == 12
    assert all(r["rationale"] and r["source"] for r in active["rules"])
    assert active["guardrails"]["minimum_age"] == {"enabled": True, "age": 10, "reason": ""}


def test_draft_edit_publish_and_rollback(client, admin):
    draft = client.post("/api/rulesets/", {}, format="json")
    assert draft.status_code == 201
    assert (draft.json()["version"], draft.json()["status"], draft.json()["based_on"]) == (
        2,
        "draft",
        1,
    )
    body = draft.json()
    body["rules"] = body["rules"][:1]
    body["default_route"] = "counselor"
    saved = client.put("/api/rulesets/2/", body, format="json")
    assert saved.status_code == 200, saved.json()
    again = client.get("/api/rulesets/2/").json()
    assert again["rules"] == body["rules"] and again["default_route"] == "counselor"
    # What GET returns, PUT accepts as it is.
    assert client.put("/api/rulesets/2/", again, format="json").status_code == 200

    published = client.post("/api/rulesets/2/publish/")
    assert published.status_code == 200
    assert published.json()["published_by"] == "dana"
    statuses = {r["version"]: r["status"] for r in client.get("/api/rulesets/").json()}
    assert statuses == {1: "archived", 2: "published"}

    # Immutable once published.
    refused = client.put("/api/rulesets/2/", again, format="json")
    assert refused.status_code == 409
    assert refused.json()["status"] == "published"
    assert client.post("/api/rulesets/2/publish/").status_code == 409

    rollback = client.post("/api/rulesets/1/publish/")
    assert rollback.status_code == 200
    statuses = {r["version"]: r["status"] for r in client.get("/api/rulesets/").json()}
    assert statuses == {1: "published", 2: "archived"}
    events = list(
        PublishEvent.objects.values_list("ruleset__version", "replaced_version", "rollback")
    )
    assert events == [(1, 2, True), (2, 1, False)]
    assert RuleSet.objects.filter(status="published").count() == 1


def test_draft_based_on_a_given_version(client):
    client.post("/api/rulesets/", {}, format="json")
    third = client.post("/api/rulesets/", {"based_on": 1}, format="json").json()
    assert (third["version"], third["based_on"]) == (3, 1)
    missing = client.post("/api/rulesets/", {"based_on": 99}, format="json")
    assert missing.status_code == 400
    assert missing.json() == {
        "based_on": ["version 99 does not exist"],
        "errors": [
            {"field": "based_on", "code": "invalid", "message": "version 99 does not exist"}
        ],
    }


def test_put_reports_each_problem_with_its_path(client):
    client.post("/api/rulesets/", {}, format="json")
    body = client.get("/api/rulesets/2/").json()
    body["rules"][1]["when"] = {
        "all": [
            {"fact": "danger_now", "op": "eq", "value": "to_others"},
            {"fact": "categry", "op": "eq", "value": "theft"},
        ]
    }
    body["rules"][2]["route"] = "police"
    body["default_route"] = "sro"
    response = client.put("/api/rulesets/2/", body, format="json")
    assert response.status_code == 400
    messages = [f"{e['path']}: {e['message']}" for e in response.json()["errors"]]
    assert (
        "rules[1].when.all[1].fact: unknown fact 'categry' (did you mean 'category'?)" in messages
    )
    assert any(m.startswith("rules[2].route: ") for m in messages)
    assert any(m.startswith("default_route: ") for m in messages)
    # Nothing was saved.
    assert client.get("/api/rulesets/2/").json()["default_route"] == "administrator"


def test_put_returns_lint_warnings_without_blocking(client):
    client.post("/api/rulesets/", {}, format="json")
    body = client.get("/api/rulesets/2/").json()
    body["rules"].insert(
        0,
        {
            "name": "Vaping to the SRO",
            "route": "sro",
            "when": {"fact": "category", "op": "eq", "value": "substance_use"},
        },
    )
    response = client.put("/api/rulesets/2/", body, format="json")
    assert response.status_code == 200
    assert [w["path"] for w in response.json()["warnings"]] == ["rules[0].route"]
    assert client.post("/api/rulesets/2/publish/").status_code == 200


def test_preview_decides_without_saving(client, school):
    from incidents.models import Incident

    StudentFactory(school=school, student_id="K1", iep=True, bip=True)
    response = client.post(
        "/api/rulesets/1/preview/",
        {
            "school": school.code,
            "category": "physical_aggression",
            "narrative": "x",
            "danger_now": "to_others",
            "students": [{"student_id": "K1", "role": "subject"}],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    decision = response.json()["decision"]
    assert (decision["route"], decision["rule_id"]) == ("co_responder", "danger-with-mental-health")
    assert response.json()["facts"]["any_bip"] is True
    assert Incident.objects.count() == 0
    bad = client.post("/api/rulesets/1/preview/", {"school": school.code}, format="json")
    assert bad.status_code == 400 and "narrative" in bad.json()


def test_admin_of_another_district_cannot_see_this_districts_versions(client, school):
    elsewhere = SchoolFactory(code="FAR-01")
    ruleset_ensure_default(district=elsewhere.district)
    outsider = api_client_for(user_with_role(Role.DISTRICT_ADMIN, elsewhere, username="other-da"))
    client.post("/api/rulesets/", {}, format="json")
    assert outsider.get("/api/rulesets/2/").status_code == 404
    assert [r["version"] for r in outsider.get("/api/rulesets/").json()] == [1]


ENDPOINTS = [
    ("get", "/api/rulesets/"),
    ("get", "/api/rulesets/active/"),
    ("post", "/api/rulesets/"),
    ("get", "/api/rulesets/1/"),
    ("put", "/api/rulesets/1/"),
    ("post", "/api/rulesets/1/publish/"),
    ("post", "/api/rulesets/1/preview/"),
    ("post", "/api/rulesets/1/validate/"),
    ("get", "/api/rulesets/fields/"),
]


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.DISTRICT_ADMIN])
@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_only_district_admins(admin, school, role, method, url):
    user = user_with_role(role, school, username=f"u-{role}")
    response = getattr(api_client_for(user), method)(url, {}, format="json")
    assert response.status_code == 403
    assert RuleSet.objects.count() == 1


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_anonymous_is_401(admin, api, method, url):
    assert getattr(api, method)(url, {}, format="json").status_code == 401


def test_field_registry_lists_facts_with_types(client):
    data = client.get("/api/rulesets/fields/").json()
    facts = {f["name"]: f for f in data["facts"]}
    assert facts["weapon"]["type"] == "choice"
    assert facts["weapon"]["values"] == [
        "none",
        "object_used_as_weapon",
        "weapon_possessed",
        "firearm",
        "unknown",
    ]
    assert facts["youngest_subject_age"]["type"] == "int"
    assert "lt" in facts["youngest_subject_age"]["operators"]
    assert facts["any_bip"]["operators"] == ["eq", "ne"]
