"""POST/GET /api/incidents/: every field's validation, permissions, and nothing half-written."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident, IncidentStudent, TimelineEvent
from schools.models import Role
from tests.conftest import api_client_for
from tests.factories import StudentFactory, user_with_role


@pytest.fixture
def teacher(school):
    return user_with_role(Role.TEACHER, school, username="teacher-a")


@pytest.fixture
def jordan(school):
    return StudentFactory(
        school=school,
        student_id="WAS9001",
        first_name="Jordan",
        last_name="Rivera",
        iep=True,
        bip=True,
    )


def valid(**overrides):
    body = {
        "school": "WAS-MS",
        "category": "physical_aggression",
        "narrative": "Poked a classmate with a pencil, then walked out to calm down.",
    }
    body.update(overrides)
    return body


def post(client, body):
    return client.post("/api/incidents/", body, format="json")


def nothing_written():
    return (
        Incident.objects.count(),
        IncidentStudent.objects.count(),
        TimelineEvent.objects.count(),
    ) == (0, 0, 0)


def test_filing_with_only_the_required_fields_stores_unanswered_as_unknown(teacher):
    # Issue 12 reversed the earlier "safe defaults": an omitted answer is not a "no".
    response = post(api_client_for(teacher), valid())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "received"
    assert body["routing"] is None
    assert {
        k: body[k]
        for k in (
            "weapon",
            "injury",
            "threat",
            "danger_now",
            "student_state",
            "with_now",
            "location",
        )
    } == {
        "weapon": "unknown",
        "injury": "unknown",
        "threat": "unknown",
        "danger_now": "unknown",
        "student_state": "unknown",
        "with_now": "unknown",
        "location": "other",
    }
    incident = Incident.objects.get(pk=body["id"])
    assert (incident.weapon, incident.danger_now, incident.with_now) == (
        "unknown",
        "unknown",
        "unknown",
    )
    assert incident.filed_by == teacher
    assert abs(incident.occurred_at - timezone.now()) < timedelta(seconds=10)
    assert list(incident.timeline.values_list("kind", "actor")) == [("filed", teacher.pk)]


def test_every_fact_and_students_are_stored(teacher, jordan):
    response = post(
        api_client_for(teacher),
        valid(
            location="classroom",
            weapon="object_used_as_weapon",
            injury="first_aid",
            threat="to_others",
            threat_words="I'll get you",
            danger_now="none",
            student_state="calming_down",
            with_now="school_psychologist",
            occurred_at=(timezone.now() - timedelta(minutes=20)).isoformat(),
            students=[
                {"student_id": "WAS9001", "role": "subject"},
                {"name": "Visiting cousin", "age": 11, "role": "witness"},
            ],
        ),
    )
    assert response.status_code == 201, response.json()
    assert response.json()["students"] == [
        {"student_id": "WAS9001", "name": "Jordan Rivera", "role": "subject"},
        {"student_id": None, "name": "Visiting cousin", "role": "witness"},
    ]
    incident = Incident.objects.get()
    assert (incident.weapon, incident.threat_words, incident.with_now) == (
        "object_used_as_weapon",
        "I'll get you",
        "school_psychologist",
    )
    stored = incident.students.order_by("id")
    assert [(s.student_id, s.name, s.age, s.role) for s in stored] == [
        (jordan.pk, "", None, "subject"),
        (None, "Visiting cousin", 11, "witness"),
    ]


def test_zero_students_is_allowed_for_an_intruder(teacher):
    response = post(api_client_for(teacher), valid(category="intruder", students=[]))
    assert response.status_code == 201
    assert response.json()["students"] == []


def test_narrative_with_html_is_stored_verbatim(teacher):
    text = '<script>alert("x")</script>\n  He said "<b>no</b>" & left.  '
    response = post(api_client_for(teacher), valid(narrative=text))
    assert response.status_code == 201
    assert Incident.objects.get().narrative == text
    assert response.json()["narrative"] == text


CHOICE_FIELDS = [
    "category",
    "location",
    "weapon",
    "injury",
    "threat",
    "danger_now",
    "student_state",
    "with_now",
]


@pytest.mark.parametrize("field", CHOICE_FIELDS)
def test_bad_choice_names_the_allowed_values(teacher, field):
    response = post(api_client_for(teacher), valid(**{field: "banana"}))
    assert response.status_code == 400
    (message,) = response.json()[field]
    assert message.startswith('"banana" is not one of: ')
    assert nothing_written()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (valid(narrative=""), "narrative", "Describe what happened in your own words."),
        (valid(narrative="   \n "), "narrative", "Describe what happened in your own words."),
        (valid(narrative="x" * 10_001), "narrative", "Keep the narrative under 10,000 characters."),
        (valid(narrative=42), "narrative", "Not a valid string."),
        ({"school": "WAS-MS", "category": "theft"}, "narrative", "This field is required."),
        (valid(category=None), "category", "This field may not be null."),
        (valid(school="NOPE-01"), "school", 'Unknown school code "NOPE-01".'),
        (
            valid(occurred_at="yesterday"),
            "occurred_at",
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
        ),
        (valid(threat_words=["a"]), "threat_words", "Not a valid string."),
        (valid(weapn="none"), "weapn", None),
        (valid(students="WAS9001"), "students", None),
    ],
)
def test_field_validation(teacher, body, field, message):
    response = post(api_client_for(teacher), body)
    assert response.status_code == 400
    errors = response.json()
    assert field in errors
    if message is not None:
        assert errors[field] == [message]
    assert nothing_written()


def test_occurred_at_allows_clock_skew_but_not_the_future(teacher):
    client = api_client_for(teacher)
    skew = post(client, valid(occurred_at=(timezone.now() + timedelta(minutes=4)).isoformat()))
    assert skew.status_code == 201
    future = post(client, valid(occurred_at=(timezone.now() + timedelta(minutes=6)).isoformat()))
    assert future.status_code == 400
    message = "This time is in the future; give when it happened."
    assert future.json() == {
        "occurred_at": [message],
        "errors": [{"field": "occurred_at", "code": "invalid", "message": message}],
    }
    assert Incident.objects.count() == 1


def test_student_errors_are_nested_by_position(teacher, jordan, other_school):
    StudentFactory(school=other_school, student_id="JEF0001")
    response = post(
        api_client_for(teacher),
        valid(
            students=[
                {"student_id": "WAS9001", "role": "subject"},
                {"student_id": "NOPE", "role": "target"},
                {"student_id": "JEF0001", "role": "witness"},
                {"student_id": "WAS9001", "role": "witness"},
                {"role": "witness"},
                {"student_id": "WAS9001", "name": "x", "role": "target"},
                {"name": "Kid", "age": "old", "role": "bystander"},
            ]
        ),
    )
    assert response.status_code == 400
    assert response.json()["students"] == [
        {},
        {},
        {},
        {},
        {
            "student_id": [
                "Give a roster student_id, or a name (and age) for someone not on the roster."
            ]
        },
        {"student_id": ["Give either a roster student_id or a name and age, not both."]},
        {
            "age": ["A valid integer is required."],
            "role": ['"bystander" is not one of: subject, target, witness.'],
        },
    ]
    assert nothing_written()


def test_roster_errors_name_the_student_and_school(teacher, jordan, other_school):
    StudentFactory(school=other_school, student_id="JEF0001")
    response = post(
        api_client_for(teacher),
        valid(
            students=[
                {"student_id": "NOPE", "role": "target"},
                {"student_id": "JEF0001", "role": "witness"},
                {"student_id": "WAS9001", "role": "subject"},
                {"student_id": "WAS9001", "role": "witness"},
            ]
        ),
    )
    assert response.status_code == 400
    assert response.json() == {
        "students": [
            {"student_id": ['No student "NOPE" on the roster of WAS-MS.']},
            {"student_id": ['No student "JEF0001" on the roster of WAS-MS.']},
            {},
            {"student_id": ['Student "WAS9001" is listed twice.']},
        ],
        "errors": [
            {
                "path": "students.0.student_id",
                "code": "invalid",
                "message": 'No student "NOPE" on the roster of WAS-MS.',
            },
            {
                "path": "students.1.student_id",
                "code": "invalid",
                "message": 'No student "JEF0001" on the roster of WAS-MS.',
            },
            {
                "path": "students.3.student_id",
                "code": "invalid",
                "message": 'Student "WAS9001" is listed twice.',
            },
        ],
    }
    assert nothing_written()


def test_malformed_json_and_non_object_bodies(teacher):
    client = api_client_for(teacher)
    bad = client.post("/api/incidents/", data="{not json", content_type="application/json")
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("JSON parse error")
    listed = client.post("/api/incidents/", data="[1, 2]", content_type="application/json")
    assert listed.status_code == 400
    message = "Expected a JSON object with the incident's fields."
    assert listed.json() == {
        "non_field_errors": [message],
        "errors": [{"code": "invalid", "message": message}],
    }
    assert nothing_written()


def test_oversized_payload_is_refused(teacher):
    body = json.dumps(valid(threat_words="x" * 1_100_000))
    response = api_client_for(teacher).post(
        "/api/incidents/", data=body, content_type="application/json"
    )
    assert response.status_code in (400, 413)
    assert nothing_written()


def test_anonymous_is_401(db, school, api):
    response = post(api, valid())
    assert response.status_code == 401
    assert nothing_written()


def test_school_without_a_role_is_403_and_reveals_no_roster(teacher, other_school):
    StudentFactory(school=other_school, student_id="JEF0001")
    response = post(
        api_client_for(teacher),
        valid(school="JEF-HS", students=[{"student_id": "JEF0001", "role": "subject"}]),
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "You have no role at JEF-HS.",
        "errors": [{"code": "permission_denied", "message": "You have no role at JEF-HS."}],
    }
    assert nothing_written()


def test_same_idempotency_key_files_one_incident(teacher):
    client = api_client_for(teacher)
    first = client.post("/api/incidents/", valid(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/incidents/", valid(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    in_body = post(client, valid(idempotency_key="k-2"))
    in_body_again = post(client, valid(idempotency_key="k-2"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert (in_body.status_code, in_body_again.status_code) == (201, 200)
    assert Incident.objects.count() == 2


def test_list_is_newest_first_and_only_what_the_user_may_see(teacher, school):
    other = user_with_role(Role.TEACHER, school, username="teacher-b")
    mine_old = post(api_client_for(teacher), valid(narrative="first")).json()["id"]
    theirs = post(api_client_for(other), valid(narrative="theirs")).json()["id"]
    mine_new = post(api_client_for(teacher), valid(narrative="second")).json()["id"]
    listing = api_client_for(teacher).get("/api/incidents/?page_size=500").json()
    assert [i["id"] for i in listing["results"]] == [mine_new, mine_old]
    assert listing["count"] == 2
    assert api_client_for(teacher).get(f"/api/incidents/{theirs}/").status_code == 404
    assert api_client_for(teacher).get(f"/api/incidents/{mine_old}/").status_code == 200
    assert api_client_for(teacher).get("/api/incidents/?page_size=501").json()["count"] == 2


def test_district_admin_sees_the_districts_incidents_and_the_view_is_logged(teacher, school):
    from incidents.models import AccessLogEntry

    filed = post(api_client_for(teacher), valid()).json()["id"]
    assert api_client_for(teacher).get(f"/api/incidents/{filed}/").status_code == 200
    assert AccessLogEntry.objects.count() == 0  # the reporter reading their own report
    admin = user_with_role(Role.DISTRICT_ADMIN, school, username="da")
    assert api_client_for(admin).get(f"/api/incidents/{filed}/").status_code == 200
    assert list(AccessLogEntry.objects.values_list("user__username", "incident_id", "action")) == [
        ("da", filed, "view_incident")
    ]


def test_schema_and_docs_are_served(teacher, api):
    api.force_login(teacher)
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/incidents/" in schema.content and b"/api/rulesets/" in schema.content
    assert api.get("/api/docs/").status_code == 200


def test_filing_costs_a_fixed_handful_of_queries(teacher, school, django_assert_num_queries):
    """The hot path: the incident and its first event in one statement (the roles are already
    on the user here; in production one query reads the token, its user and their roles),
    and nothing read back for the answer, which knows a just-filed incident has no queue
    item yet."""
    client = api_client_for(teacher)
    body = {"school": school.code, "category": "emotional_crisis", "narrative": "Crying."}
    assert client.post("/api/incidents/", body, format="json").status_code == 201
    with django_assert_num_queries(1):
        response = client.post("/api/incidents/", body, format="json")
    assert response.status_code == 201
    assert (response.json()["current_route"], response.json()["outcomes"]) == (None, [])


def test_the_incident_is_written_as_drfs_own_fields_write_it(teacher, school, jordan):
    """IncidentOutSerializer writes its fields directly (the filing request's hot path): the
    result must be what DRF's generic path makes of the declared fields, for every kind of
    incident and reader, in a district's own time zone."""
    from zoneinfo import ZoneInfo

    from rest_framework import serializers
    from rest_framework.renderers import JSONRenderer
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from incidents import services
    from incidents.intake_serializers import IncidentOutSerializer
    from incidents.models import QueueItem
    from policies.services import ruleset_ensure_default

    ruleset_ensure_default(district=school.district)
    bare = post(api_client_for(teacher), valid()).json()["id"]
    full = post(
        api_client_for(teacher),
        valid(
            category="emotional_crisis",
            location="classroom",
            weapon="none",
            injury="first_aid",
            threat="to_self",
            threat_words='Said "I\'m done" <b>twice</b>',
            danger_now="none",
            student_state="calming_down",
            with_now="counselor",
            students=[
                {"student_id": jordan.student_id, "role": "subject"},
                {"name": "Visitor Kid", "age": 12, "role": "witness"},
            ],
        ),
    ).json()["id"]
    gun = post(api_client_for(teacher), valid(category="weapon", weapon="firearm")).json()["id"]
    for incident_id in (full, gun):
        services.incident_route(incident_id=incident_id)
    counselor = user_with_role(Role.COUNSELOR, school, username="counselor-a")
    item = QueueItem.objects.get(incident_id=full, origin="routing")
    services.queue_item_acknowledge(user=counselor, item_id=item.pk)
    services.queue_item_resolve(
        user=counselor, item_id=item.pk, outcome="counseling_provided", summary="Talked it out."
    )
    admin = user_with_role(Role.DISTRICT_ADMIN, school, username="da-a")

    def as_json(data):
        return json.loads(JSONRenderer().render(data))

    checked = 0
    with timezone.override(ZoneInfo("America/Denver")):
        for reader in (teacher, admin, counselor):
            request = Request(APIRequestFactory().get("/api/incidents/"))
            request.user = reader
            for incident in Incident.objects.filter(pk__in=[bare, full, gun]).select_related(
                "school", "filed_by"
            ):
                serializer = IncidentOutSerializer(incident, context={"request": request})
                generic = serializers.Serializer.to_representation(serializer, incident)
                assert as_json(serializer.data) == as_json(generic)
                assert list(serializer.data) == list(generic)  # the same order of keys
                checked += 1
    assert checked == 9
    shown = IncidentOutSerializer(Incident.objects.get(pk=full), context={"request": request}).data
    assert [s["name"] for s in shown["students"]] == ["Jordan Rivera", "Visitor Kid"]
    assert shown["outcomes"][0]["summary"] == "Talked it out."
    assert shown["filed_at"].endswith("-07:00") or shown["filed_at"].endswith("-06:00")
