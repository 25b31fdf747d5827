"""Issue 12 over the API: an omitted safety answer is `unknown`, and a weapon report of
unknown kind reaches the SRO side."""

import pytest

from incidents import services
from incidents.models import Incident, QueueItem
from policies.registry import SAFETY_ANSWERS
from policies.services import ruleset_ensure_default
from schools.models import Role
from tests.conftest import api_client_for
from tests.factories import user_with_role

GUN = "A student says another student has a gun in his backpack."


@pytest.fixture
def teacher(school):
    ruleset_ensure_default(district=school.district)
    return user_with_role(Role.TEACHER, school, username="teacher-a")


def file(teacher, **body):
    response = api_client_for(teacher).post(
        "/api/incidents/",
        {"school": "WAS-MS", "narrative": GUN, **body},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_omitted_safety_answers_come_back_unknown_when_filed_and_when_read(teacher):
    body = file(teacher, category="weapon")

    assert {name: body[name] for name in SAFETY_ANSWERS} == dict.fromkeys(SAFETY_ANSWERS, "unknown")
    read = api_client_for(teacher).get(f"/api/incidents/{body['id']}/").json()
    assert {name: read[name] for name in SAFETY_ANSWERS} == dict.fromkeys(SAFETY_ANSWERS, "unknown")


def test_an_answer_given_is_kept_and_only_the_omitted_ones_are_unknown(teacher):
    body = file(teacher, category="physical_aggression", danger_now="none", weapon="none")

    assert {name: body[name] for name in SAFETY_ANSWERS} == {
        "weapon": "none",
        "injury": "unknown",
        "threat": "unknown",
        "danger_now": "none",
        "student_state": "unknown",
        "with_now": "unknown",
    }


def test_unknown_can_also_be_sent_explicitly(teacher):
    body = file(teacher, category="threat", **dict.fromkeys(SAFETY_ANSWERS, "unknown"))

    assert Incident.objects.get(pk=body["id"]).threat == "unknown"


@pytest.mark.parametrize(
    "answers",
    [{}, {"weapon": "unknown", "danger_now": "none"}],
    ids=["only category and narrative", "weapon not sure, no danger"],
)
def test_a_weapon_report_of_unknown_kind_routes_to_the_sro_side(
    teacher, monkeypatch, django_capture_on_commit_callbacks, answers
):
    forced = []
    monkeypatch.setattr(
        services.routing,
        "incident_dispatch",
        lambda *, incident_id, force=False: forced.append(force) or True,
    )
    with django_capture_on_commit_callbacks(execute=True):
        body = file(teacher, category="weapon", **answers)
    # Life safety first: it sends its own routing message, ahead of anything waiting.
    assert forced == [True]

    services.incident_route(incident_id=body["id"])

    read = api_client_for(teacher).get(f"/api/incidents/{body['id']}/").json()
    assert read["routing"]["route"] == "sro"
    assert read["routing"]["rule"] == {
        "id": "life-safety",
        "name": "Firearm, weapon, threat to kill or intruder",
    }
    assert {"fact": "weapon", "value": "unknown"} in read["routing"]["reasons"]
    assert read["routing"]["also_notify"] == ["administrator"]
    assert sorted(
        QueueItem.objects.filter(incident_id=body["id"]).values_list("route", "origin")
    ) == [("administrator", "notify"), ("sro", "routing")]


def test_a_fight_with_unknown_answers_is_not_sent_to_the_sro(teacher):
    body = file(teacher, category="physical_aggression")

    services.incident_route(incident_id=body["id"])

    incident = Incident.objects.get(pk=body["id"])
    assert (incident.route, incident.rule_id) == ("administrator", "school-discipline-unanswered")


def test_the_openapi_schema_lists_unknown_in_each_safety_enum(school):
    # The schema needs a sign-in (issue 13).
    reader = api_client_for(user_with_role(Role.TEACHER, school))
    schema = reader.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]

    def enum_of(serializer: str, field: str) -> list[str]:
        prop = components[serializer]["properties"][field]
        ref = prop.get("$ref") or next(p["$ref"] for p in prop.get("allOf", []) if "$ref" in p)
        return components[ref.rsplit("/", 1)[1]]["enum"]

    for serializer in ("IncidentInRequest", "IncidentOut"):
        for field in SAFETY_ANSWERS:
            assert "unknown" in enum_of(serializer, field), (serializer, field)
    weapon_in = components["IncidentInRequest"]["properties"]["weapon"]
    assert weapon_in["default"] == "unknown"
    assert 'never as "none"' in weapon_in["description"]
