"""Responder queues: the actions (services and API), who may take them, and the access log."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents import live, services
from incidents.models import (
    AccessLogEntry,
    EventKind,
    Incident,
    ItemOrigin,
    QueueItem,
    ResponderQueue,
    Status,
    TimelineEvent,
)
from policies.services import ruleset_ensure_default
from schools.demo import seed_people_and_roster
from schools.models import School, Student, User
from tests.conftest import api_client_for
from tests.factories import user_with_role

NARRATIVE = "Jordan was crying in the hallway and said <b>nobody</b> listens."
ROUTE_INPUTS = {
    "counselor": {"category": "emotional_crisis"},
    "administrator": {"category": "disruption"},
    "sro": {"category": "weapon", "weapon": "firearm"},
    "co_responder": {"category": "self_harm", "danger_now": "to_self"},
}
ROUTES = list(ROUTE_INPUTS)
# Who works which queue at WAS-MS (the demo staff hold their role at every demo school).
MEMBERS = {
    "teacher": set(),
    "teacher2": set(),
    "counselor": {"counselor"},
    "administrator": {"administrator"},
    "clinician": {"co_responder"},
    "sro": {"sro", "co_responder"},
    "district_admin": set(ROUTES),
    "other_school_counselor": set(),
}
ACTIONS = ["read", "claim", "acknowledge", "notes", "handoff", "resolve"]


@pytest.fixture
def demo(db):
    district = seed_people_and_roster(students_per_school=5)
    ruleset_ensure_default(district=district)
    user_with_role(
        "counselor", School.objects.get(code="JEF-HS"), username="other_school_counselor"
    )
    user_with_role("counselor", School.objects.get(code="WAS-MS"), username="counselor2")
    return district


def person(username: str) -> User:
    return User.objects.get(username=username)


def routed_item(route: str, *, reporter: str = "teacher", students=()) -> QueueItem:
    incident, _ = services.incident_file(
        reporter=person(reporter),
        school=School.objects.get(code="WAS-MS"),
        narrative=NARRATIVE,
        students=list(students),
        **ROUTE_INPUTS[route],
    )
    services.incident_route(incident_id=incident.pk)
    return QueueItem.objects.get(incident=incident, route=route, origin=ItemOrigin.ROUTING)


def other_route(route: str) -> str:
    return "administrator" if route != "administrator" else "counselor"


def call(client, action: str, item: QueueItem):
    base = f"/api/queue-items/{item.pk}/"
    if action == "read":
        return client.get(base)
    body = {
        "notes": {"text": "Spoke with the student."},
        "handoff": {"route": other_route(item.route), "reason": "Needs the other team."},
        "resolve": {"outcome": "parent_contacted", "summary": "We talked it through."},
    }.get(action, {})
    return client.post(f"{base}{action}/", body, format="json")


def snapshot(item: QueueItem) -> tuple:
    item.refresh_from_db()
    return (
        item.state,
        item.owner_id,
        item.outcome,
        TimelineEvent.objects.filter(incident_id=item.incident_id).count(),
        QueueItem.objects.filter(incident_id=item.incident_id).count(),
        Incident.objects.get(pk=item.incident_id).status,
        AccessLogEntry.objects.count(),
    )


# --- Permission matrix ---------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("username", list(MEMBERS))
def test_permission_matrix(demo, username, route, action):
    item = routed_item(route)
    before = snapshot(item)
    response = call(api_client_for(person(username)), action, item)
    if route in MEMBERS[username]:
        assert response.status_code == (201 if action == "notes" else 200), response.data
        assert snapshot(item) != before
    else:
        # The reporter knows the incident exists: 403. Everyone else learns nothing: 404.
        assert response.status_code == (403 if username == "teacher" else 404), response.data
        assert snapshot(item) == before


@pytest.mark.parametrize("username", ["teacher", "teacher2", "other_school_counselor"])
def test_outsiders_do_not_see_the_queue_lists(demo, username):
    routed_item("counselor")
    client = api_client_for(person(username))
    response = client.get("/api/queues/")
    assert response.status_code == 200
    assert [q for q in response.data if q["school"] == "WAS-MS"] == []
    assert client.get("/api/queues/WAS-MS/counselor/items/").status_code == 404


def test_unauthenticated_requests_get_401(demo, api):
    item = routed_item("counselor")
    assert api.get("/api/queues/").status_code == 401
    assert api.get(f"/api/queue-items/{item.pk}/").status_code == 401
    assert api.post(f"/api/queue-items/{item.pk}/claim/").status_code == 401
    item.refresh_from_db()
    assert item.state == "queued"


# --- Lists ---------------------------------------------------------------------------------


def test_queue_list_counts_items_by_state(demo):
    first = routed_item("counselor")
    routed_item("counselor")
    services.queue_item_claim(user=person("counselor"), item_id=first.pk)
    response = api_client_for(person("counselor")).get("/api/queues/")
    assert response.status_code == 200
    queues = {(q["school"], q["route"]): q for q in response.data}
    # Every queue the counselor works exists from the start, empty or not.
    assert set(queues) == {
        ("LIN-ES", "counselor"),
        ("WAS-MS", "counselor"),
        ("JEF-HS", "counselor"),
    }
    assert set(queues["JEF-HS", "counselor"]["counts"].values()) == {0}
    assert queues["WAS-MS", "counselor"]["counts"] == {
        "queued": 1,
        "claimed": 1,
        "acknowledged": 0,
        "resolved": 0,
        "handed_off": 0,
    }


def test_queue_items_are_paginated_most_urgent_then_oldest(demo):
    sro_item = routed_item("sro")  # also notifies the administrator queue
    discipline = routed_item("administrator")
    client = api_client_for(person("administrator"))
    response = client.get("/api/queues/was-ms/administrator/items/")
    assert response.status_code == 200
    assert response.data["count"] == 2
    rows = response.data["results"]
    assert [r["incident"] for r in rows] == [sro_item.incident_id, discipline.incident_id]
    assert rows[0]["origin"] == "notify"
    assert rows[0]["ack_deadline"] is None
    required = (
        "id incident route state owner queued_at origin urgency ack_deadline escalation_level"
    )
    assert set(rows[1]) >= set(required.split())
    assert rows[1]["owner"] is None
    assert rows[1]["ack_deadline"] is not None
    assert client.get("/api/queues/WAS-MS/sro/items/").status_code == 404
    assert client.get("/api/queues/WAS-MS/administrator/items/?state=bogus").status_code == 400


# --- The state machine ---------------------------------------------------------------------


def test_claim_takes_the_item_and_a_second_claim_is_a_conflict_naming_the_owner(demo):
    item = routed_item("counselor")
    counselor = api_client_for(person("counselor"))
    response = counselor.post(f"/api/queue-items/{item.pk}/claim/")
    assert response.status_code == 200
    assert (response.data["state"], response.data["owner"]) == ("claimed", "counselor")
    events = TimelineEvent.objects.filter(incident_id=item.incident_id, kind=EventKind.CLAIMED)
    assert [(e.actor.username, e.data["item"]) for e in events] == [("counselor", item.pk)]

    again = counselor.post(f"/api/queue-items/{item.pk}/claim/")
    assert again.status_code == 200
    assert events.count() == 1  # claiming your own item is a no-op

    other = api_client_for(person("counselor2")).post(f"/api/queue-items/{item.pk}/claim/")
    assert other.status_code == 409
    assert other.data["state"] == "claimed"
    assert "Casey Counselor (counselor)" in other.data["detail"]


@pytest.mark.parametrize("action", ["acknowledge", "handoff", "resolve"])
def test_only_the_owner_may_act_on_a_claimed_item(demo, action):
    item = routed_item("counselor")
    services.queue_item_claim(user=person("counselor"), item_id=item.pk)
    before = snapshot(item)
    response = call(api_client_for(person("counselor2")), action, item)
    assert response.status_code == 409
    assert response.data["state"] == "claimed"
    assert snapshot(item) == before


def test_any_member_may_add_a_private_note_to_a_claimed_item(demo):
    item = routed_item("counselor")
    services.queue_item_claim(user=person("counselor"), item_id=item.pk)
    response = api_client_for(person("counselor2")).post(
        f"/api/queue-items/{item.pk}/notes/", {"text": "Mom is on her way."}, format="json"
    )
    assert response.status_code == 201
    note = TimelineEvent.objects.get(incident_id=item.incident_id, kind=EventKind.NOTE)
    assert (note.private, note.actor.username, note.data["text"]) == (
        True,
        "counselor2",
        "Mom is on her way.",
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [("", "Write the note"), ("   \n", "Write the note"), ("x" * 5001, "5,000 characters")],
)
def test_bad_notes_are_refused_by_field(demo, text, error):
    item = routed_item("counselor")
    before = snapshot(item)
    response = api_client_for(person("counselor")).post(
        f"/api/queue-items/{item.pk}/notes/", {"text": text}, format="json"
    )
    assert response.status_code == 400
    assert error in str(response.data["text"][0])
    assert snapshot(item) == before
    with pytest.raises(ValidationError):
        services.queue_item_note(user=person("counselor"), item_id=item.pk, text=text)


def test_acknowledging_an_unowned_item_claims_it(demo):
    item = routed_item("counselor")
    response = api_client_for(person("counselor")).post(f"/api/queue-items/{item.pk}/acknowledge/")
    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.state, item.owner.username) == ("acknowledged", "counselor")
    assert item.acknowledged_at is not None and item.claimed_at is not None
    assert Incident.objects.get(pk=item.incident_id).status == Status.ACKNOWLEDGED
    event = TimelineEvent.objects.get(incident_id=item.incident_id, kind=EventKind.ACKNOWLEDGED)
    assert (event.actor.username, event.data["claimed"]) == ("counselor", True)


def test_resolve_sets_outcome_and_resolves_the_incident(demo):
    item = routed_item("counselor")
    counselor = api_client_for(person("counselor"))
    counselor.post(f"/api/queue-items/{item.pk}/acknowledge/")
    response = counselor.post(
        f"/api/queue-items/{item.pk}/resolve/",
        {"outcome": "parent_contacted", "summary": "We called home together."},
        format="json",
    )
    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.state, item.outcome, item.summary) == (
        "resolved",
        "parent_contacted",
        "We called home together.",
    )
    assert item.closed_at is not None
    assert Incident.objects.get(pk=item.incident_id).status == Status.RESOLVED
    event = TimelineEvent.objects.get(incident_id=item.incident_id, kind=EventKind.RESOLVED)
    assert (event.private, event.data["outcome"], event.data["summary"]) == (
        False,
        "parent_contacted",
        "We called home together.",
    )


def test_an_open_notification_does_not_keep_the_incident_open(demo):
    item = routed_item("sro")
    assert QueueItem.objects.filter(incident_id=item.incident_id, origin="notify").count() == 1
    services.queue_item_resolve(
        user=person("sro"), item_id=item.pk, outcome="no_action_needed", summary=""
    )
    assert Incident.objects.get(pk=item.incident_id).status == Status.RESOLVED


@pytest.mark.parametrize(
    ("final", "action"),
    [(f, a) for f in ("resolved", "handed_off") for a in ACTIONS if a != "read"],
)
def test_final_states_answer_409_with_the_current_state(demo, final, action):
    item = routed_item("counselor")
    if final == "resolved":
        services.queue_item_resolve(
            user=person("counselor"), item_id=item.pk, outcome="no_action_needed"
        )
    else:
        services.queue_item_handoff(
            user=person("counselor"), item_id=item.pk, route="administrator", reason="Discipline."
        )
    before = snapshot(item)
    response = call(api_client_for(person("counselor")), action, item)
    assert response.status_code == 409
    assert response.data["state"] == final
    assert "nothing more can be done" in response.data["detail"]
    assert snapshot(item) == before


def test_handoff_opens_an_item_in_the_target_queue_and_records_the_direction(demo):
    item = routed_item("sro")
    services.queue_item_acknowledge(user=person("sro"), item_id=item.pk)
    before = timezone.now()
    response = api_client_for(person("sro")).post(
        f"/api/queue-items/{item.pk}/handoff/",
        {"route": "counselor", "reason": "No weapon after all: a stapler."},
        format="json",
    )
    assert response.status_code == 200
    item.refresh_from_db()
    new = QueueItem.objects.get(pk=response.data["new_item"]["id"])
    assert (item.state, item.handed_off_to_id) == ("handed_off", new.pk)
    assert item.closed_at is not None
    assert (new.route, new.origin, new.state, new.owner_id) == (
        "counselor",
        "handoff",
        "queued",
        None,
    )
    assert new.queue == ResponderQueue.objects.get(school__code="WAS-MS", route="counselor")
    assert (
        before + timedelta(minutes=15) <= new.ack_deadline <= timezone.now() + timedelta(minutes=15)
    )
    event = TimelineEvent.objects.get(incident_id=item.incident_id, kind=EventKind.HANDED_OFF)
    assert event.actor.username == "sro"
    assert {k: event.data[k] for k in ("from", "to", "reason", "direction", "override")} == {
        "from": "sro",
        "to": "counselor",
        "reason": "No weapon after all: a stapler.",
        "direction": "sro -> counselor",
        "override": True,
    }
    # The new item waits for the counselor: the incident is no longer "being handled".
    assert Incident.objects.get(pk=item.incident_id).status == Status.ROUTED
    assert api_client_for(person("counselor")).get(f"/api/queue-items/{new.pk}/").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"route": "counselor", "reason": "Same again."}, "route"),
        ({"route": "police", "reason": "Nope."}, "route"),
        ({"route": "administrator", "reason": ""}, "reason"),
        ({"route": "administrator"}, "reason"),
    ],
)
def test_bad_handoffs_are_refused_by_field(demo, body, field):
    item = routed_item("counselor")
    before = snapshot(item)
    response = api_client_for(person("counselor")).post(
        f"/api/queue-items/{item.pk}/handoff/", body, format="json"
    )
    assert response.status_code == 400
    assert list(response.data) == [field, "errors"]
    assert [e["field"] for e in response.data["errors"]] == [field]
    assert snapshot(item) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "expelled"}, "outcome"),
        ({}, "outcome"),
        ({"outcome": "safety_plan", "summary": "x" * 2001}, "summary"),
    ],
)
def test_bad_resolutions_are_refused_by_field(demo, body, field):
    item = routed_item("counselor")
    before = snapshot(item)
    response = api_client_for(person("counselor")).post(
        f"/api/queue-items/{item.pk}/resolve/", body, format="json"
    )
    assert response.status_code == 400
    assert list(response.data) == [field, "errors"]
    assert snapshot(item) == before


def test_actions_publish_live_updates_after_commit(demo, django_capture_on_commit_callbacks):
    item = routed_item("counselor")
    published = []
    original = live.publish_item
    live.publish_item = lambda it, event: published.append((it.pk, event))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.queue_item_claim(user=person("counselor"), item_id=item.pk)
            assert published == []  # not before the commit
        with django_capture_on_commit_callbacks(execute=True):
            services.queue_item_note(user=person("counselor"), item_id=item.pk, text="Hi.")
        with django_capture_on_commit_callbacks(execute=True):
            services.queue_item_acknowledge(user=person("counselor"), item_id=item.pk)
        with django_capture_on_commit_callbacks(execute=True):
            services.queue_item_resolve(
                user=person("counselor"), item_id=item.pk, outcome="safety_plan"
            )
    finally:
        live.publish_item = original
    assert published == [
        (item.pk, "claimed"),
        (item.pk, "note"),
        (item.pk, "acknowledged"),
        (item.pk, "resolved"),
    ]


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_claims_give_one_owner_and_one_conflict():
    district = seed_people_and_roster(students_per_school=2)
    ruleset_ensure_default(district=district)
    user_with_role("counselor", School.objects.get(code="WAS-MS"), username="counselor2")
    item = routed_item("counselor")
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def claim(username: str) -> None:
        user = person(username)
        start.wait()
        try:
            results[username] = services.queue_item_claim(user=user, item_id=item.pk)
        except services.QueueItemConflict as conflict:
            results[username] = conflict
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(u,)) for u in ("counselor", "counselor2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    conflicts = [r for r in results.values() if isinstance(r, services.QueueItemConflict)]
    claimed = [r for r in results.values() if isinstance(r, QueueItem)]
    assert (len(claimed), len(conflicts)) == (1, 1), results
    item.refresh_from_db()
    assert item.state == "claimed"
    assert item.owner_id == claimed[0].owner_id
    assert conflicts[0].state == "claimed"
    assert item.owner.username in conflicts[0].message
    assert TimelineEvent.objects.filter(incident_id=item.incident_id, kind="claimed").count() == 1


# --- What a responder reads ----------------------------------------------------------------


def test_item_detail_has_narrative_facts_routing_and_private_notes(demo):
    item = routed_item("counselor")
    services.queue_item_note(user=person("counselor"), item_id=item.pk, text="Private words.")
    response = api_client_for(person("counselor")).get(f"/api/queue-items/{item.pk}/")
    assert response.status_code == 200
    incident = response.data["incident"]
    assert incident["narrative"] == NARRATIVE
    assert incident["facts"]["category"] == "emotional_crisis"
    assert incident["routing"]["route"] == "counselor"
    assert incident["routing"]["ruleset_version"] == 1
    assert incident["routing"]["reasons"]
    notes = [e for e in response.data["timeline"] if e["kind"] == "note"]
    assert [(n["private"], n["data"]["text"]) for n in notes] == [(True, "Private words.")]


@pytest.mark.parametrize(
    ("route", "username", "shown", "hidden"),
    [
        ("counselor", "counselor", {"iep", "section_504", "bip"}, {"plan_contact"}),
        ("administrator", "administrator", {"iep", "section_504", "bip"}, {"plan_contact"}),
        ("sro", "sro", {"bip", "plan_contact"}, {"iep", "section_504"}),
        ("co_responder", "clinician", {"bip", "plan_contact"}, {"iep", "section_504"}),
    ],
)
def test_students_show_only_what_the_route_needs(demo, route, username, shown, hidden):
    jordan = Student.objects.get(student_id="WAS9001")
    item = routed_item(route, students=[services.InvolvedStudent(role="subject", student=jordan)])
    if item.route != route:  # a guardrail may move the incident; the item under test is route's
        pytest.fail(f"expected a {route} item")
    response = api_client_for(person(username)).get(f"/api/queue-items/{item.pk}/")
    students = response.data["incident"]["students"]
    assert [s["name"] for s in students] == ["Jordan Rivera"]
    assert shown <= set(students[0])
    assert not hidden & set(students[0])
    assert students[0]["bip"] is True
    others = Student.objects.filter(school__code="WAS-MS").exclude(pk=jordan.pk)
    body = response.content.decode()
    assert not any(s.last_name + '"' in body or s.student_id in body for s in others)


# --- Access log ----------------------------------------------------------------------------


def test_views_by_responders_are_logged_and_the_reporters_are_not(demo, client):
    item = routed_item("counselor")
    api_client_for(person("counselor")).get(f"/api/queue-items/{item.pk}/")
    client.force_login(person("district_admin"))
    assert client.get(f"/queues/items/{item.pk}/").status_code == 200
    entries = AccessLogEntry.objects.order_by("id")
    assert [(e.user.username, e.action, e.incident_id, e.queue_item_id) for e in entries] == [
        ("counselor", "view_item", item.incident_id, item.pk),
        ("district_admin", "view_item", item.incident_id, item.pk),
    ]

    # A counselor who files an incident that comes to their own queue is its reporter.
    own = routed_item("counselor", reporter="counselor")
    assert api_client_for(person("counselor")).get(f"/api/queue-items/{own.pk}/").status_code == 200
    assert (
        services.access_record(
            user=person("counselor"), incident=own.incident, action="view_incident"
        )
        is None
    )
    assert AccessLogEntry.objects.filter(incident_id=own.incident_id).count() == 0
    # Refused views are not logged either.
    api_client_for(person("teacher2")).get(f"/api/queue-items/{item.pk}/")
    assert AccessLogEntry.objects.count() == 2


@pytest.mark.parametrize("username", ["teacher", "counselor", "administrator", "clinician", "sro"])
def test_access_log_page_is_for_district_admins_only(demo, client, username):
    client.force_login(person(username))
    assert client.get("/access-log/").status_code == 403


def test_access_log_page_filters_and_paginates(demo, client):
    first = routed_item("counselor")
    second = routed_item("administrator")
    for _ in range(3):
        services.access_record(
            user=person("counselor"), incident=first.incident, action="view_item", queue_item=first
        )
    services.access_record(
        user=person("administrator"), incident=second.incident, action="view_incident"
    )
    client.force_login(person("district_admin"))
    page = client.get("/access-log/")
    assert page.status_code == 200
    assert page.context["page"].paginator.count == 4
    by_user = client.get("/access-log/", {"user": "administrator"})
    assert [e.user.username for e in by_user.context["page"]] == ["administrator"]
    by_incident = client.get("/access-log/", {"incident": first.incident_id})
    assert by_incident.context["page"].paginator.count == 3
    today = timezone.localdate()
    dated = client.get("/access-log/", {"since": today, "until": today})
    assert dated.context["page"].paginator.count == 4
    past = client.get("/access-log/", {"until": today - timedelta(days=1)})
    assert past.context["page"].paginator.count == 0
    backwards = client.get("/access-log/", {"since": today, "until": today - timedelta(days=2)})
    assert "The end date is before the start date." in backwards.content.decode()


def test_access_log_is_read_only_in_the_admin(demo, client):
    item = routed_item("counselor")
    entry = services.access_record(
        user=person("counselor"), incident=item.incident, action="view_item", queue_item=item
    )
    client.force_login(person("district_admin"))
    listing = client.get("/admin/incidents/accesslogentry/", {"q": "counselor"})
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [entry]
    assert client.get("/admin/incidents/accesslogentry/add/").status_code == 403
    assert client.post(f"/admin/incidents/accesslogentry/{entry.pk}/delete/").status_code == 403
    assert (
        client.post(
            f"/admin/incidents/accesslogentry/{entry.pk}/change/", {"action": "view_incident"}
        ).status_code
        == 403
    )
    entry.refresh_from_db()
    assert entry.action == "view_item"
    assert AccessLogEntry.objects.count() == 1


# --- Pages ---------------------------------------------------------------------------------


def _many_items(count: int) -> None:
    school = School.objects.get(code="WAS-MS")
    queue, _ = ResponderQueue.objects.get_or_create(school=school, route="counselor")
    teacher = person("teacher")
    incidents = Incident.objects.bulk_create(
        Incident(
            school=school,
            filed_by=teacher,
            occurred_at=timezone.now(),
            category="emotional_crisis",
            narrative=f"Bulk {n}",
            route="counselor",
            routed_at=timezone.now(),
            status=Status.ROUTED,
        )
        for n in range(count)
    )
    QueueItem.objects.bulk_create(
        QueueItem(incident=incident, queue=queue, route="counselor", urgency=2)
        for incident in incidents
    )


# The first page of "My queues" costs this many queries, whatever the number of items (the
# session, the user and their roles, the queues and their members, counts by state, the page
# of items with what it shows, the paginator's count, and the "for your information" list).
QUEUE_PAGE_QUERIES = 11


def test_queue_page_renders_with_the_same_queries_for_5_or_10_000_items(
    demo, client, django_assert_num_queries
):
    client.force_login(person("counselor"))
    _many_items(5)
    with CaptureQueriesContext(connection) as five:
        response = client.get("/queues/")
    assert response.status_code == 200
    assert response.content.decode().count('class="queue-item state-queued') == 5
    _many_items(9_995)
    with django_assert_num_queries(len(five)):
        response = client.get("/queues/")
    assert response.content.decode().count('class="queue-item state-queued') == 25
    assert response.context["page"].paginator.count == 10_000
    assert len(five) == QUEUE_PAGE_QUERIES, [q["sql"][:90] for q in five.captured_queries]


def test_queue_page_filters_and_fragment(demo, client):
    counselor_item = routed_item("counselor")
    routed_item("sro")
    client.force_login(person("district_admin"))
    page = client.get("/queues/").context
    assert page["page"].paginator.count == 2  # counselor and sro
    assert [i.route for i in page["fyi"]] == ["administrator"]  # notified of the SRO's
    only = client.get("/queues/", {"route": "counselor", "state": "queued"})
    assert [i.pk for i in only.context["page"]] == [counselor_item.pk]
    services.queue_item_claim(user=person("district_admin"), item_id=counselor_item.pk)
    assert client.get("/queues/", {"route": "counselor"}).context["page"].paginator.count == 1
    assert (
        client.get("/queues/", {"state": "queued", "route": "counselor"})
        .context["page"]
        .paginator.count
        == 0
    )
    fragment = client.get("/queues/", {"fragment": "1"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.content.decode()
    assert f'id="item-{counselor_item.pk}"' in fragment.content.decode()


def test_queue_page_is_refused_to_teachers(demo, client):
    client.force_login(person("teacher"))
    assert client.get("/queues/").status_code == 403
    assert client.get("/queues/events/").status_code == 403


def test_item_page_shows_the_narrative_escaped_and_takes_actions(demo, client):
    item = routed_item("counselor")
    client.force_login(person("counselor"))
    page = client.get(f"/queues/items/{item.pk}/")
    body = page.content.decode()
    assert "said &lt;b&gt;nobody&lt;/b&gt; listens." in body
    assert "Rule set" in body and "Version 1" in body
    url = f"/queues/items/{item.pk}/"
    response = client.post(url + "claim/", follow=True)
    assert "You claimed this item." in response.content.decode()
    response = client.post(url + "note/", {"text": "  "})
    assert response.status_code == 400
    assert "Write the note before saving it." in response.content.decode()
    response = client.post(url + "handoff/", {"route": "sro", "reason": ""})
    assert response.status_code == 400
    assert "Say why you are handing this off." in response.content.decode()
    resolution = {"outcome": "safety_plan", "summary": "Done."}
    response = client.post(url + "resolve/", resolution, follow=True)
    assert "Resolved: Safety plan." in response.content.decode()
    response = client.post(url + "acknowledge/", follow=True)
    assert "nothing more can be done" in response.content.decode()
    item.refresh_from_db()
    assert (item.state, item.summary) == ("resolved", "Done.")


def test_item_page_is_404_for_outsiders_and_403_for_the_reporter(demo, client):
    item = routed_item("counselor")
    client.force_login(person("teacher"))
    assert client.get(f"/queues/items/{item.pk}/").status_code == 403
    assert client.post(f"/queues/items/{item.pk}/claim/").status_code == 403
    client.force_login(person("sro"))
    assert client.get(f"/queues/items/{item.pk}/").status_code == 404
    assert client.post(f"/queues/items/{item.pk}/note/", {"text": "hi"}).status_code == 404
    item.refresh_from_db()
    assert item.state == "queued"
    assert AccessLogEntry.objects.count() == 0
