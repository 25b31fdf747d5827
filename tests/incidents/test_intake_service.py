"""The intake rules as a service: the API and the report page both call these."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from incidents import intake_forms as forms
from incidents.services import intake
from schools.models import Role
from tests.factories import StudentFactory, user_with_role


@pytest.fixture
def teacher(school):
    return user_with_role(Role.TEACHER, school, username="teacher")


def test_the_school_is_found_by_code_in_any_case_and_an_unknown_code_is_refused(
    teacher, school, other_school
):
    assert intake.intake_school_find(reporter=teacher, code="was-ms") == school
    # A school where the reporter has no role is found too: permission is checked later.
    assert intake.intake_school_find(reporter=teacher, code="JEF-HS") == other_school
    with pytest.raises(intake.IntakeInvalid) as refused:
        intake.intake_school_find(reporter=teacher, code="NOPE")
    assert refused.value.messages == ['Unknown school code "NOPE".']


def test_permission_comes_before_the_roster(teacher, other_school):
    StudentFactory(school=other_school, student_id="JEF0001")
    with pytest.raises(PermissionDenied) as refused:
        intake.intake_students_resolve(
            reporter=teacher,
            school=other_school,
            entries=[{"role": "subject", "student_id": "NOT-THERE"}],
        )
    assert str(refused.value) == "You have no role at JEF-HS."


def test_roster_errors_are_keyed_by_position_and_name_no_other_school(
    teacher, school, other_school
):
    jordan = StudentFactory(school=school, student_id="WAS9001")
    StudentFactory(school=other_school, student_id="JEF0001")
    entries = [
        {"role": "subject", "student_id": "WAS9001"},
        {"role": "target", "student_id": "JEF0001"},
        {"role": "witness", "student_id": "WAS9001"},
        {"role": "witness", "name": "  "},
    ]
    with pytest.raises(intake.IntakeInvalid) as refused:
        intake.intake_students_resolve(reporter=teacher, school=school, entries=entries)
    assert refused.value.errors == {
        "students": [
            {},
            {"student_id": ['No student "JEF0001" on the roster of WAS-MS.']},
            {"student_id": ['Student "WAS9001" is listed twice.']},
            {"name": ["Give the person's name."]},
        ]
    }
    resolved = intake.intake_students_resolve(
        reporter=teacher,
        school=school,
        entries=[entries[0], {"role": "witness", "name": " Sam ", "age": 12}],
    )
    assert resolved == [
        intake.InvolvedStudent(role="subject", student=jordan),
        intake.InvolvedStudent(role="witness", name="Sam", age=12),
    ]


def test_time_and_narrative_rules():
    now = timezone.now()
    assert intake.intake_occurred_at_check(now + timedelta(minutes=4)) is not None
    with pytest.raises(intake.IntakeInvalid, match="in the future"):
        intake.intake_occurred_at_check(now + timedelta(minutes=6))
    with pytest.raises(intake.IntakeInvalid, match="more than two years ago"):
        intake.intake_occurred_at_check(now - timedelta(days=2 * 366 + 1))
    with pytest.raises(intake.IntakeInvalid) as blank:
        intake.intake_narrative_check(" \n ")
    assert blank.value.messages == [intake.NARRATIVE_MISSING]
    with pytest.raises(intake.IntakeInvalid, match="At most 50 students"):
        intake.intake_students_count_check([{}] * 51)


def test_the_api_and_the_page_say_the_same_roster_message(client, teacher, school):
    StudentFactory(school=school, student_id="WAS9001")
    body = {
        "school": "WAS-MS",
        "category": "disruption",
        "narrative": "Shouting in class.",
        "students": [{"student_id": "NOPE1", "role": "subject"}],
    }
    from tests.conftest import api_client_for

    api = api_client_for(teacher).post("/api/incidents/", body, format="json")
    client.force_login(teacher)
    page = client.post(
        "/incidents/new/",
        {
            "school": "WAS-MS",
            "category": "disruption",
            "narrative": "Shouting in class.",
            "danger_now": "none",
            "students-0-student_id": "NOPE1",
            "students-0-role": "subject",
        },
    )
    message = 'No student "NOPE1" on the roster of WAS-MS.'
    assert api.status_code == 400
    assert api.json()["students"] == [{"student_id": [message]}]
    assert page.status_code == 200
    assert message.replace('"', "&quot;") in page.content.decode()


def test_the_report_page_runs_no_api_serializer():
    # The form checks the page's shape and calls the intake service, as the API does.
    assert not hasattr(forms, "IncidentInSerializer")
    assert "rest_framework" not in {
        getattr(value, "__module__", "").split(".")[0] for value in vars(forms).values()
    }


def test_a_filing_without_students_is_one_statement_with_its_filed_event(teacher, school):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.models import EventKind, Incident, TimelineEvent
    from incidents.services import incident_file

    with CaptureQueriesContext(connection) as queries:
        incident, created = incident_file(
            reporter=teacher, school=school, category="disruption", narrative="Loud."
        )
    writes = [q["sql"] for q in queries if "INSERT" in q["sql"]]
    assert created and len(writes) == 1
    assert '"incidents_incident"' in writes[0] and '"incidents_timelineevent"' in writes[0]
    stored = Incident.objects.get()
    assert stored.pk == incident.pk and stored.filed_at == incident.filed_at
    assert (stored.weapon, stored.danger_now, stored.route) == ("unknown", "unknown", None)
    assert (stored.status, stored.idempotency_key, stored.decision) == ("received", "", None)
    event = TimelineEvent.objects.get()
    assert (event.incident_id, event.kind, event.actor, event.at, event.data, event.private) == (
        incident.pk,
        EventKind.FILED,
        teacher,
        incident.filed_at,
        {},
        False,
    )
