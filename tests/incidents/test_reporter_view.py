"""What the person who filed an incident sees of it, and what every other read leaves behind."""

from incidents import selectors, services
from incidents.facts import INTAKE_FACTS
from incidents.models import AccessLogEntry, ItemState, QueueItem
from policies.engine import Decision
from schools.models import School, Student
from tests.conftest import api_client_for
from tests.incidents.test_queue_actions import demo, person, routed_item  # noqa: F401

ROSTER_FACTS_SHOWN = {"any_iep", "any_504", "any_bip", "any_disability"}


def threat_with_an_iep_student() -> QueueItem:
    """Words of a threat to seriously injure, no weapon, a student with an IEP: the rules
    choose the SRO and the disability safeguard makes it a co-responder."""
    student = Student.objects.filter(school__code="WAS-MS").first()
    student.iep = True
    student.save()
    incident, _ = services.incident_file(
        reporter=person("teacher"),
        school=School.objects.get(code="WAS-MS"),
        narrative="He said he would hurt someone after school.",
        category="threat",
        threat="to_kill_or_seriously_injure",
        students=[services.InvolvedStudent(role="subject", student=student)],
    )
    services.incident_route(incident_id=incident.pk)
    return QueueItem.objects.get(incident=incident, origin="routing")


def test_the_reporter_is_not_told_roster_facts_through_the_explanation(demo):  # noqa: F811
    item = threat_with_an_iep_student()
    url = f"/api/incidents/{item.incident_id}/"
    full = api_client_for(person("district_admin")).get(url).json()["routing"]
    assert {g["guardrail"] for g in full["guardrails"]} == {"disability_safeguard"}
    mine = api_client_for(person("teacher")).get(url).json()["routing"]
    assert mine["route"] == full["route"] == "co_responder"
    assert mine["guardrails"] == [] and mine["tried"] == []
    assert all(reason["fact"] in INTAKE_FACTS for reason in mine["reasons"])
    assert not {r["fact"] for r in mine["reasons"]} & ROSTER_FACTS_SHOWN


def test_a_rule_that_reads_the_roster_is_not_named_to_the_reporter(demo):  # noqa: F811
    student = Student.objects.filter(school__code="WAS-MS").first()
    student.bip = True
    student.save()
    incident, _ = services.incident_file(
        reporter=person("teacher"),
        school=School.objects.get(code="WAS-MS"),
        narrative="Throwing chairs, cannot settle.",
        category="disruption",
        student_state="dysregulated",
        students=[services.InvolvedStudent(role="subject", student=student)],
    )
    services.incident_route(incident_id=incident.pk)
    url = f"/api/incidents/{incident.pk}/"
    full = api_client_for(person("district_admin")).get(url).json()["routing"]
    assert full["rule"]["id"] == "disability-dysregulated"
    assert "any_disability" in {r["fact"] for r in full["reasons"]}
    mine = api_client_for(person("teacher")).get(url).json()["routing"]
    assert mine["route"] == "counselor"
    assert mine["rule"] == {
        "id": None,
        "name": "A rule that also reads the students' school records",
    }
    assert mine["rationale"] == ""
    assert [r["fact"] for r in mine["reasons"]] == ["student_state"]


def test_the_reporter_follows_the_hand_off_and_reads_the_outcome(demo):  # noqa: F811
    item = routed_item("sro")
    services.queue_item_handoff(
        user=person("sro"), item_id=item.pk, route="counselor", reason="No weapon after all."
    )
    new = QueueItem.objects.get(incident=item.incident, route="counselor", origin="handoff")
    services.queue_item_resolve(
        user=person("counselor"),
        item_id=new.pk,
        outcome="counseling_provided",
        summary="We met and made a plan together.",
    )
    teacher = api_client_for(person("teacher"))
    data = teacher.get(f"/api/incidents/{item.incident_id}/").json()
    assert (data["routing"]["route"], data["current_route"]) == ("sro", "counselor")
    assert [(o["route"], o["outcome"], o["summary"]) for o in data["outcomes"]] == [
        ("counselor", "counseling_provided", "We met and made a plan together.")
    ]
    (listed,) = [
        i for i in teacher.get("/api/incidents/").json()["results"] if i["id"] == data["id"]
    ]
    assert listed["current_route"] == "counselor" and listed["outcomes"] == data["outcomes"]


def test_the_reporters_page_shows_where_it_is_now_without_names_or_notes(demo, client):  # noqa: F811
    item = routed_item("sro")
    services.queue_item_note(user=person("sro"), item_id=item.pk, text="Private: talked to mum.")
    services.queue_item_handoff(
        user=person("sro"), item_id=item.pk, route="counselor", reason="Clinical need."
    )
    client.force_login(person("teacher"))
    page = client.get(f"/incidents/{item.incident_id}/").content.decode()
    assert "Counselor" in page.split("Sent to", 1)[1][:300]
    assert "talked to mum" not in page
    sro = person("sro")
    assert sro.get_full_name() not in page and sro.username not in page
    assert "Handed off" in page and "a responder" in page


def test_a_team_that_handed_off_does_not_read_the_next_teams_notes(demo):  # noqa: F811
    item = routed_item("sro")
    services.queue_item_note(user=person("sro"), item_id=item.pk, text="Before: our note.")
    services.queue_item_handoff(
        user=person("sro"), item_id=item.pk, route="counselor", reason="Clinical need."
    )
    new = QueueItem.objects.get(incident=item.incident, route="counselor", origin="handoff")
    services.queue_item_note(user=person("counselor"), item_id=new.pk, text="After: disclosure.")
    item.refresh_from_db()
    assert item.state == ItemState.HANDED_OFF
    texts = [
        e.get("data", {}).get("text")
        for e in api_client_for(person("sro"))
        .get(f"/api/queue-items/{item.pk}/")
        .json()["timeline"]
    ]
    assert "Before: our note." in texts and "After: disclosure." not in texts
    counselor_view = api_client_for(person("counselor")).get(f"/api/queue-items/{new.pk}/").json()
    assert "After: disclosure." in [
        e.get("data", {}).get("text") for e in counselor_view["timeline"]
    ]


def test_listing_incidents_logs_each_one_read_by_anyone_but_its_reporter(demo):  # noqa: F811
    mine, other = routed_item("counselor"), routed_item("administrator", reporter="teacher2")
    before = AccessLogEntry.objects.count()
    api_client_for(person("teacher")).get("/api/incidents/")
    assert AccessLogEntry.objects.count() == before  # the reporter reads their own
    api_client_for(person("district_admin")).get("/api/incidents/")
    logged = AccessLogEntry.objects.filter(user=person("district_admin"))
    assert {e.incident_id for e in logged} == {mine.incident_id, other.incident_id}
    assert {e.action for e in logged} == {"view_incident"}


def test_the_access_log_keeps_the_username_and_refuses_changes(demo):  # noqa: F811
    import pytest
    from django.db import DatabaseError, connection, transaction
    from django.db.models import ProtectedError

    item = routed_item("counselor")
    api_client_for(person("counselor")).get(f"/api/queue-items/{item.pk}/")
    entry = AccessLogEntry.objects.get(user=person("counselor"))
    counselor = person("counselor")
    counselor.username = "renamed"
    counselor.save()
    entry.refresh_from_db()
    assert entry.username == "counselor"  # what the log said stays said
    with pytest.raises(ProtectedError):  # nothing it points at can be deleted
        item.incident.delete()
    if connection.vendor == "postgresql":  # and the database itself refuses changes
        for change in (
            lambda: AccessLogEntry.objects.filter(pk=entry.pk).update(action="view_incident"),
            lambda: AccessLogEntry.objects.filter(pk=entry.pk).delete(),
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                change()
        assert AccessLogEntry.objects.get(pk=entry.pk).action == "view_item"


def test_one_selector_gives_each_reader_their_part_of_the_decision(demo):  # noqa: F811
    """The API, the queue item page and the reporter all read routing_decision_for: the
    reporter's part leaves out the roster guardrail and the rules tried; a responder's is whole."""
    item = threat_with_an_iep_student()
    incident = item.incident
    kept = Decision.from_dict(incident.decision)
    assert kept.as_dict() == incident.decision, "the kept decision reads back as it was"

    whole = selectors.routing_decision_for(person("counselor"), incident)
    assert (
        whole["route"] == "co_responder"
        and whole["route_label"] == "Co-responder (clinician and SRO)"
    )
    assert [g["guardrail"] for g in whole["guardrails"]] == ["disability_safeguard"]
    assert whole["tried"] == [dict(t) for t in kept.tried]
    page = selectors.queue_item_detail(person("clinician"), item.pk).routing
    assert page["guardrails"] == whole["guardrails"] and page["rule"] == whole["rule"]

    mine = selectors.routing_decision_for(person("teacher"), incident)
    assert mine["guardrails"] == [] and mine["tried"] == []
    assert {k: mine[k] for k in ("route", "ruleset_version", "routed_at")} == {
        k: whole[k] for k in ("route", "ruleset_version", "routed_at")
    }
    api = api_client_for(person("teacher")).get(f"/api/incidents/{incident.pk}/").json()["routing"]
    assert api["guardrails"] == mine["guardrails"] and api["rule"] == mine["rule"]


def test_an_unrouted_incident_has_no_decision_to_read(demo):  # noqa: F811
    incident, _ = services.incident_file(
        reporter=person("teacher"),
        school=School.objects.get(code="WAS-MS"),
        narrative="Left the room without a word.",
        category="disruption",
    )
    assert selectors.routing_decision_for(person("district_admin"), incident) is None


def test_a_decision_kept_before_every_key_existed_reads_as_empty():
    old = Decision.from_dict({"route": "counselor"})
    assert (old.route, old.rule_route, old.reasons, old.tried, old.also_notify) == (
        "counselor",
        "counselor",
        (),
        (),
        (),
    )
