"""Routing an incident: facts from the roster, the published version, one decision and item."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from incidents import services
from incidents.facts import incident_facts
from incidents.models import Incident, QueueItem
from policies.services import ruleset_ensure_default
from schools.models import Role
from tests.conftest import api_client_for
from tests.factories import StudentFactory, user_with_role

DENVER = ZoneInfo("America/Denver")


@pytest.fixture
def teacher(school):
    ruleset_ensure_default(district=school.district)
    return user_with_role(Role.TEACHER, school, username="t")


@pytest.fixture
def other_district_school(db):
    """A school of a district that has not published a rule set."""
    from tests.factories import SchoolFactory

    return SchoolFactory(code="ELS-ES")


def file(teacher, school, students=(), **answers):
    answers.setdefault("category", "physical_aggression")
    answers.setdefault("narrative", "what happened")
    incident, _ = services.incident_file(
        reporter=teacher, school=school, students=list(students), **answers
    )
    return incident


def test_douglas_county_facts_route_to_the_counselor_never_the_sro(teacher, school):
    jordan = StudentFactory(
        school=school,
        student_id="WAS9001",
        birth_date=timezone.localdate() - timedelta(days=11 * 366),
        iep=True,
        bip=True,
    )
    incident = file(
        teacher,
        school,
        students=[services.InvolvedStudent(role="subject", student=jordan)],
        narrative="He poked a classmate with a pencil and is calming down with Dr. Reyes.",
        weapon="object_used_as_weapon",
        student_state="calming_down",
        with_now="school_psychologist",
    )
    routed = services.incident_route(incident_id=incident.pk)
    assert routed.route == "counselor"
    assert routed.rule_id == "calming-with-clinician"
    assert routed.facts["any_iep"] is True and routed.facts["any_bip"] is True
    assert routed.facts["youngest_subject_age"] == 11
    assert list(QueueItem.objects.values_list("route", "origin")) == [("counselor", "routing")]
    body = api_client_for(teacher).get(f"/api/incidents/{incident.pk}/").json()
    assert body["status"] == "routed"
    assert body["routing"]["route"] == "counselor"
    assert body["routing"]["rule"] == {
        "id": "calming-with-clinician",
        "name": routed.rule_name,
    }
    assert body["routing"]["ruleset_version"] == 1
    assert body["routing"]["reasons"] == [
        {"fact": "student_state", "value": "calming_down"},
        {"fact": "with_now", "value": "school_psychologist"},
    ]


def test_firearm_goes_to_the_sro_with_the_administrator_notified(teacher, school):
    incident = file(teacher, school, category="weapon", weapon="firearm")
    routed = services.incident_route(incident_id=incident.pk)
    assert routed.route == "sro"
    items = QueueItem.objects.order_by("urgency", "route")
    # The principal's notification is as urgent as the firearm itself.
    assert [(i.route, i.origin, i.urgency) for i in items] == [
        ("administrator", "notify", 0),
        ("sro", "routing", 0),
    ]
    items = [items[1], items[0]]
    assert items[0].ack_deadline == routed.routed_at + timedelta(minutes=2)
    assert items[1].ack_deadline is None
    kinds = list(routed.timeline.values_list("kind", flat=True))
    assert kinds == ["filed", "routed", "queued", "notified"]


def test_routing_twice_makes_one_decision_and_one_item(teacher, school):
    incident = file(teacher, school, category="emotional_crisis")
    first = services.incident_route(incident_id=incident.pk)
    second = services.incident_route(incident_id=incident.pk)
    assert first.routed_at == second.routed_at
    assert QueueItem.objects.count() == 1
    assert incident.timeline.filter(kind="routed").count() == 1


def test_the_incident_records_the_version_that_routed_it(teacher, school):
    from policies.services import ruleset_create_draft, ruleset_publish, ruleset_update

    admin = user_with_role(Role.DISTRICT_ADMIN, school, username="da")
    draft = ruleset_create_draft(user=admin)
    spec = draft.spec()
    spec["default_route"] = "counselor"
    spec["rules"] = []
    ruleset_update(user=admin, version=draft.version, spec=spec)
    old = file(teacher, school, category="other")
    services.incident_route(incident_id=old.pk)
    ruleset_publish(user=admin, version=draft.version)
    new = file(teacher, school, category="other")
    services.incident_route(incident_id=new.pk)
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.ruleset_version, old.route) == (1, "administrator")
    assert (new.ruleset_version, new.route, new.rule_id) == (2, "counselor", "")


def test_facts_from_the_roster_time_and_history(teacher, school):
    school.district.timezone = "America/Denver"
    school.district.save()
    kid = StudentFactory(school=school, birth_date=date(2014, 6, 1), section_504=True)
    witness = StudentFactory(school=school, iep=True)
    earlier = file(
        teacher,
        school,
        occurred_at=datetime(2026, 9, 2, 10, 0, tzinfo=DENVER),
        students=[services.InvolvedStudent(role="subject", student=kid)],
    )
    last_year = file(
        teacher,
        school,
        occurred_at=datetime(2026, 5, 2, 10, 0, tzinfo=DENVER),
        students=[services.InvolvedStudent(role="subject", student=kid)],
    )
    incident = file(
        teacher,
        school,
        occurred_at=datetime(2026, 10, 7, 17, 30, tzinfo=DENVER),
        students=[
            services.InvolvedStudent(role="subject", student=kid),
            services.InvolvedStudent(role="witness", student=witness),
            services.InvolvedStudent(role="subject", name="Visitor", age=9),
        ],
    )
    facts = incident_facts(incident)
    assert facts == {
        "category": "physical_aggression",
        "location": "other",
        "weapon": "unknown",
        "injury": "unknown",
        "threat": "unknown",
        "danger_now": "unknown",
        "student_state": "unknown",
        "with_now": "unknown",
        "any_iep": True,
        "any_504": True,
        "any_bip": False,
        "any_disability": True,
        "youngest_subject_age": 9,
        "school_grade_low": 6,
        "school_grade_high": 8,
        "subject_prior_incidents": 1,
        "hour_of_day": 17,
        "within_school_hours": False,
        "student_count": 3,
    }
    assert earlier.pk and last_year.pk


def test_unrouted_incidents_are_sent_again_by_the_sweep(teacher, school, monkeypatch):
    incident = file(teacher, school)
    Incident.objects.filter(pk=incident.pk).update(filed_at=timezone.now() - timedelta(minutes=1))
    sent = []
    monkeypatch.setattr(
        services.routing,
        "incident_dispatch",
        lambda *, incident_id, force=False: sent.append(incident_id) or True,
    )
    assert services.incidents_resend_unrouted() == 1
    assert sent == [incident.pk]
    # Not again right away: it was just sent.
    assert services.incidents_resend_unrouted() == 0
    services.incident_route(incident_id=incident.pk)
    Incident.objects.filter(pk=incident.pk).update(
        last_dispatch_at=timezone.now() - timedelta(minutes=1)
    )
    assert services.incidents_resend_unrouted() == 0


def test_filing_sends_the_routing_task_after_commit(
    teacher, school, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    from incidents import tasks

    monkeypatch.setattr(
        tasks.incident_route_task, "apply_async", lambda args, **kw: sent.append(args)
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        incident = file(teacher, school)
        assert sent == []
    for callback in callbacks:
        callback()
    assert sent == [[incident.pk]]


def test_a_broker_outage_does_not_fail_the_filing(
    teacher, school, monkeypatch, django_capture_on_commit_callbacks
):
    from incidents import tasks

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.incident_route_task, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(teacher).post(
            "/api/incidents/",
            {"school": school.code, "category": "theft", "narrative": "x"},
            format="json",
        )
    assert response.status_code == 201
    assert Incident.objects.get().route is None


def test_a_failed_first_send_is_re_sent_at_the_next_sweep(teacher, school, monkeypatch):
    from incidents import tasks

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.incident_route_task, "apply_async", down)
    incident = file(teacher, school)
    assert services.incident_dispatch(incident_id=incident.pk) is False
    incident.refresh_from_db()
    assert (incident.dispatch_attempts, incident.last_dispatch_at) == (1, None)
    sent = []
    monkeypatch.setattr(
        services.routing,
        "incident_dispatch",
        lambda *, incident_id, force=False: sent.append(incident_id) or True,
    )
    assert services.incidents_resend_unrouted() == 1
    assert sent == [incident.pk]


def test_a_backlog_is_not_flooded_with_copies(teacher, school, monkeypatch):
    """An incident waiting in a busy queue is re-sent once after 30 s, then ever more rarely."""
    sent = []
    monkeypatch.setattr(
        services.routing,
        "incident_dispatch",
        lambda *, incident_id, force=False: sent.append(incident_id) or True,
    )
    waiting = file(teacher, school)
    Incident.objects.filter(pk=waiting.pk).update(filed_at=timezone.now() - timedelta(seconds=10))
    assert services.incidents_resend_unrouted() == 0  # sent on filing; just waiting its turn
    Incident.objects.filter(pk=waiting.pk).update(filed_at=timezone.now() - timedelta(seconds=31))
    assert services.incidents_resend_unrouted() == 1
    # Swept twice now (attempts 1): the next re-send waits 30 s, the one after 60 s.
    Incident.objects.filter(pk=waiting.pk).update(
        last_dispatch_at=timezone.now() - timedelta(seconds=31)
    )
    assert services.incidents_resend_unrouted() == 1
    Incident.objects.filter(pk=waiting.pk).update(
        last_dispatch_at=timezone.now() - timedelta(seconds=45)
    )
    assert services.incidents_resend_unrouted() == 0
    Incident.objects.filter(pk=waiting.pk).update(
        last_dispatch_at=timezone.now() - timedelta(seconds=61)
    )
    assert services.incidents_resend_unrouted() == 1
    assert sent == [waiting.pk] * 3


def test_undelivered_items_are_re_sent_with_the_same_back_off(teacher, school, monkeypatch):
    incident = file(teacher, school, category="emotional_crisis")
    services.incident_route(incident_id=incident.pk)
    item = QueueItem.objects.get()
    sent = []
    monkeypatch.setattr(
        services.delivery,
        "queue_items_deliver_later",
        lambda *, item_ids, route: sent.append((item_ids, route)),
    )
    assert services.queue_items_resend_undelivered() == 0  # just queued
    QueueItem.objects.filter(pk=item.pk).update(queued_at=timezone.now() - timedelta(seconds=31))
    assert services.queue_items_resend_undelivered() == 1
    assert services.queue_items_resend_undelivered() == 0  # not again at once
    services.queue_items_deliver(item_ids=[item.pk])
    QueueItem.objects.filter(pk=item.pk).update(
        last_delivery_at=timezone.now() - timedelta(hours=1)
    )
    assert services.queue_items_resend_undelivered() == 0  # delivered: never again
    assert sent == [([item.pk], "counselor")]


def test_a_routing_message_routes_the_incidents_waiting_with_it(teacher, school):
    """Group commit: one message's transaction routes the others waiting; their own
    messages then change nothing."""
    first, second, third = (file(teacher, school, category="emotional_crisis") for _ in range(3))
    routed = services.incident_route(incident_id=second.pk, batch=services.ROUTING_BATCH)
    assert routed.pk == second.pk
    assert set(Incident.objects.values_list("route", flat=True)) == {"counselor"}
    assert QueueItem.objects.count() == 3
    for incident in (first, second, third):
        kinds = list(incident.timeline.values_list("kind", flat=True))
        assert kinds == ["filed", "routed", "queued"]
        assert incident.queue_items.get().origin == "routing"
    for incident in (first, third):  # their own messages arrive later
        assert services.incident_route(incident_id=incident.pk, batch=services.ROUTING_BATCH)
    assert QueueItem.objects.count() == 3
    assert Incident.objects.get(pk=first.pk).facts["category"] == "emotional_crisis"


def test_a_batch_stores_each_incidents_own_decision(teacher, school, other_district_school):
    """One statement stores the batch's decisions (PostgreSQL): each row gets its own values,
    as ``bulk_update`` wrote them, and rows outside the batch are left alone."""
    from incidents.services.routing import _ROUTED_FIELDS

    firearm = file(teacher, school, category="weapon", weapon="firearm")
    crisis = file(teacher, school, category="emotional_crisis")
    vaping = file(teacher, school, category="substance", narrative="vape in the restroom")
    other_teacher = user_with_role(Role.TEACHER, other_district_school, username="ot")
    waiting = file(other_teacher, other_district_school, category="emotional_crisis")
    services.incident_route(incident_id=crisis.pk, batch=services.ROUTING_BATCH)
    stored = {i.pk: i for i in Incident.objects.filter(pk__in=[firearm.pk, crisis.pk, vaping.pk])}
    assert {i.route for i in stored.values()} == {"sro", "counselor", stored[vaping.pk].route}
    assert stored[firearm.pk].route == "sro" and stored[crisis.pk].route == "counselor"
    for incident in stored.values():
        assert incident.status == "routed" and incident.routed_at is not None
        assert incident.ruleset.version == incident.ruleset_version
        assert incident.decision["route"] == incident.route
        assert incident.facts == incident_facts(incident)
        assert incident.rule_name == (incident.decision.get("rule_name") or "")
    assert stored[firearm.pk].facts["weapon"] == "firearm"
    assert stored[crisis.pk].facts["category"] == "emotional_crisis"
    untouched = Incident.objects.get(pk=waiting.pk)
    assert all(
        getattr(untouched, name) == getattr(waiting, name)
        for name in _ROUTED_FIELDS
        if name not in ("decision", "facts")
    )
    assert untouched.route is None and untouched.status == "received"


def test_a_batch_sends_one_delivery_message_per_route(
    teacher, school, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        services.delivery,
        "queue_items_deliver_later",
        lambda *, item_ids, route: sent.append((route, item_ids)),
    )
    calm = file(teacher, school, category="emotional_crisis")
    gun = file(teacher, school, category="weapon", weapon="firearm")
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_route(incident_id=calm.pk, batch=10)
    items = {(i.incident_id, i.route): i.pk for i in QueueItem.objects.all()}
    assert sorted(sent) == sorted(
        [
            ("counselor", [items[calm.pk, "counselor"]]),
            ("sro", [items[gun.pk, "sro"]]),
            ("administrator", [items[gun.pk, "administrator"]]),
        ]
    )


def test_the_routing_task_routes_everything_waiting_a_batch_at_a_time(teacher, school):
    incidents = [file(teacher, school, category="emotional_crisis") for _ in range(7)]
    services.incidents_route_waiting(incident_id=incidents[3].pk, batch=3, rounds=5)
    assert not Incident.objects.filter(route__isnull=True).exists()
    assert QueueItem.objects.count() == 7


def test_a_task_past_its_rounds_goes_on_in_a_new_message(teacher, school, monkeypatch):
    incidents = [file(teacher, school, category="emotional_crisis") for _ in range(7)]
    sent = []
    monkeypatch.setattr(
        services.routing,
        "incident_dispatch",
        lambda *, incident_id, force=False: sent.append((incident_id, force)) or True,
    )
    services.incidents_route_waiting(incident_id=incidents[0].pk, batch=2, rounds=2)
    assert Incident.objects.filter(route__isnull=True).count() == 3
    assert sent == [(incidents[0].pk, True)]


class FakeRedis:
    """SET NX PX and DEL, as the routing wake-up uses them (expiry not modelled)."""

    def __init__(self):
        self.keys = {}

    def set(self, key, value, nx=False, px=None):
        if nx and key in self.keys:
            return None
        self.keys[key] = value
        return True

    def delete(self, key):
        return int(self.keys.pop(key, None) is not None)


@pytest.fixture
def wakeup(settings, monkeypatch):
    """Filing with the Redis wake-up on, and the routing messages it sends recorded."""
    from incidents import tasks

    fake = FakeRedis()
    settings.REDIS_URL = "redis://wake-up.invalid/0"
    # The routing service imported the client by name: patch its reference, not the module's.
    monkeypatch.setattr(services.routing, "client", lambda timeout=5.0: fake)
    fake.sent = []
    monkeypatch.setattr(
        tasks.incident_route_task, "apply_async", lambda args, **kw: fake.sent.append(args[0])
    )
    return fake


def test_filing_sends_no_second_message_while_one_is_pending(
    teacher, school, wakeup, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = file(teacher, school, category="emotional_crisis")
        second = file(teacher, school, category="emotional_crisis")
    assert wakeup.sent == [first.pk]  # the second waits for the first's task
    services.incidents_route_waiting(incident_id=first.pk)
    assert Incident.objects.get(pk=second.pk).route == "counselor"
    with django_capture_on_commit_callbacks(execute=True):
        third = file(teacher, school, category="emotional_crisis")
    assert wakeup.sent == [first.pk, third.pk]  # the task cleared the wake-up


def test_a_life_safety_filing_always_sends_its_own_message(
    teacher, school, wakeup, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        calm = file(teacher, school, category="emotional_crisis")
        gun = file(teacher, school, category="weapon", weapon="firearm")
        knife = file(teacher, school, category="weapon", weapon="weapon_possessed")
        fight = file(teacher, school, category="physical_aggression", danger_now="to_others")
        calm_again = file(teacher, school, category="emotional_crisis")
    assert wakeup.sent == [calm.pk, gun.pk, knife.pk, fight.pk]
    assert calm_again.pk not in wakeup.sent  # routed by the pending task's search
    services.incidents_route_waiting(incident_id=gun.pk)
    assert Incident.objects.get(pk=gun.pk).route == "sro"
    assert Incident.objects.get(pk=calm_again.pk).route == "counselor"


@pytest.fixture
def sent_with_options(monkeypatch):
    """The routing messages sent, with their keyword arguments and countdown."""
    from incidents import tasks

    sent = []
    monkeypatch.setattr(
        tasks.incident_route_task,
        "apply_async",
        lambda args, **kw: sent.append((args[0], kw.get("kwargs"), kw.get("countdown"))),
    )
    return sent


def test_a_task_remembers_how_many_it_routed(teacher, school):
    waiting = [file(teacher, school, category="emotional_crisis") for _ in range(12)]
    services.incidents_route_waiting(incident_id=waiting[0].pk, batch=5, rounds=5)
    assert services.routing.pace.last_tasks == (0, 12)  # three rounds: 5 + 5 + 2
    lone = file(teacher, school, category="emotional_crisis")
    services.incidents_route_waiting(incident_id=lone.pk)
    assert services.routing.pace.last_tasks == (12, 1)


def test_one_big_task_after_a_quiet_one_is_not_load(teacher, school, wakeup):
    """A backlog caught up after a stall (at a steady rate) makes one big task: the next
    filing's message is not put off for it."""
    busy = services.ROUTING_BUSY
    services.routing.pace.last_tasks = (1, busy + 20)
    incident = file(teacher, school, category="emotional_crisis")
    services.incidents_route_waiting(incident_id=incident.pk, coalesce=True)
    assert Incident.objects.get(pk=incident.pk).route == "counselor"
    assert wakeup.sent == []


def test_under_load_a_filings_message_waits_with_the_wake_up_held(
    teacher, school, wakeup, sent_with_options, django_capture_on_commit_callbacks
):
    busy = services.ROUTING_BUSY
    services.routing.pace.last_tasks = (busy, busy)  # the last two tasks were big ones
    with django_capture_on_commit_callbacks(execute=True):
        first = file(teacher, school, category="emotional_crisis")
    assert sent_with_options == [(first.pk, {"coalesce": True}, None)]
    assert services.incidents_route_waiting(incident_id=first.pk, coalesce=True) is None
    assert Incident.objects.get(pk=first.pk).route is None  # it waits...
    # ... in a message of its own, due ROUTING_COALESCE_S later, which will not wait again.
    assert sent_with_options[1] == (first.pk, {"coalesce": False}, services.ROUTING_COALESCE_S)
    assert services.routing_wakeup_key() in wakeup.keys  # held: filings meanwhile send nothing
    with django_capture_on_commit_callbacks(execute=True):
        second = file(teacher, school, category="emotional_crisis")
    assert len(sent_with_options) == 2
    services.incidents_route_waiting(incident_id=first.pk, coalesce=False)
    assert Incident.objects.get(pk=first.pk).route == "counselor"
    assert Incident.objects.get(pk=second.pk).route == "counselor"  # the same round
    assert wakeup.keys == {}  # cleared: the next filing sends again


def test_under_load_life_safety_is_routed_at_once(
    teacher, school, wakeup, sent_with_options, django_capture_on_commit_callbacks
):
    services.routing.pace.last_tasks = (50, 50)
    with django_capture_on_commit_callbacks(execute=True):
        calm = file(teacher, school, category="emotional_crisis")
        gun = file(teacher, school, category="weapon", weapon="firearm")
        fight = file(teacher, school, category="physical_aggression", danger_now="to_others")
    assert sent_with_options == [
        (calm.pk, {"coalesce": True}, None),
        (gun.pk, {"coalesce": False}, None),
        (fight.pk, {"coalesce": False}, None),
    ]
    services.incidents_route_waiting(incident_id=gun.pk, coalesce=False)
    assert Incident.objects.get(pk=gun.pk).route == "sro"
    assert Incident.objects.get(pk=fight.pk).route is not None
    assert len(sent_with_options) == 3  # nothing was put off


def test_when_quiet_a_filings_message_routes_at_once(teacher, school, wakeup, sent_with_options):
    services.routing.pace.last_tasks = (50, services.ROUTING_BUSY - 1)
    incident = file(teacher, school, category="emotional_crisis")
    services.incidents_route_waiting(incident_id=incident.pk, coalesce=True)
    assert Incident.objects.get(pk=incident.pk).route == "counselor"
    assert sent_with_options == []


def test_under_load_without_redis_or_broker_the_message_routes_at_once(
    teacher, school, monkeypatch, settings
):
    """Nothing can hold filings back without Redis (the embedded default), and a message
    that cannot be sent again must not leave its incident waiting for the sweep."""
    from incidents import tasks

    settings.REDIS_URL = ""
    services.routing.pace.last_tasks = (50, 50)
    incident = file(teacher, school, category="emotional_crisis")
    services.incidents_route_waiting(incident_id=incident.pk, coalesce=True)
    assert Incident.objects.get(pk=incident.pk).route == "counselor"

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(services.routing, "_routing_wakeup_hold", lambda: True)
    monkeypatch.setattr(tasks.incident_route_task, "apply_async", down)
    services.routing.pace.last_tasks = (50, 50)
    other = file(teacher, school, category="emotional_crisis")
    services.incidents_route_waiting(incident_id=other.pk, coalesce=True)
    assert Incident.objects.get(pk=other.pk).route == "counselor"


def test_a_backlog_is_routed_life_safety_first(teacher, school):
    """A task working through a backlog takes the incidents filing sent a message of its own
    for (the same rule) before older ones: with one routing process, a life-safety incident
    does not wait for the backlog ahead of it."""
    older = [file(teacher, school, category="emotional_crisis") for _ in range(4)]
    gun = file(teacher, school, category="weapon", weapon="firearm")
    unknown_weapon = file(teacher, school, category="weapon", weapon="unknown")
    danger = file(teacher, school, category="physical_aggression", danger_now="to_others")
    newest = file(teacher, school, category="emotional_crisis")
    # A round of 3 from a task whose own incident is routed already (own_id=None: search only).
    services.routing._route_round(None, 3)
    routed = set(Incident.objects.filter(route__isnull=False).values_list("pk", flat=True))
    assert routed == {gun.pk, unknown_weapon.pk, danger.pk}
    services.routing._route_round(None, 3)  # then the oldest first
    routed = set(Incident.objects.filter(route__isnull=False).values_list("pk", flat=True))
    assert routed - {gun.pk, unknown_weapon.pk, danger.pk} == {p.pk for p in older[:3]}
    assert Incident.objects.get(pk=newest.pk).route is None


def test_a_failed_send_clears_the_wake_up_and_the_sweep_always_sends(
    teacher, school, wakeup, monkeypatch, django_capture_on_commit_callbacks
):
    from incidents import tasks

    def down(args, **kw):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.incident_route_task, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        lost = file(teacher, school, category="emotional_crisis")
    assert wakeup.keys == {}  # nothing pending: the next filing sends again
    monkeypatch.setattr(
        tasks.incident_route_task, "apply_async", lambda args, **kw: wakeup.sent.append(args[0])
    )
    wakeup.set(services.routing_wakeup_key(), "1", nx=True)
    assert services.incidents_resend_unrouted() == 1
    assert wakeup.sent == [lost.pk]


def test_a_district_without_a_published_policy_does_not_hold_up_a_batch(
    teacher, school, other_district_school, caplog
):
    other_teacher = user_with_role(Role.TEACHER, other_district_school, username="ot")
    waiting = file(other_teacher, other_district_school, category="emotional_crisis")
    mine = file(teacher, school, category="emotional_crisis")
    services.incidents_route_waiting(incident_id=mine.pk)
    assert Incident.objects.get(pk=mine.pk).route == "counselor"
    assert "no published rule set" not in caplog.text  # batches do not pick it up
    assert services.incident_route(incident_id=waiting.pk, batch=services.ROUTING_BATCH) is None
    assert Incident.objects.get(pk=waiting.pk).route is None
    assert "has no published rule set" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_two_workers_routing_at_once_route_each_incident_once(school, monkeypatch):
    """Two routing transactions at the same time, each with a batch: every incident gets one
    decision and one item (locks, SKIP LOCKED and the unique constraint), nothing waits."""
    import threading

    from django.db import connection

    monkeypatch.setattr(
        services.routing, "incident_dispatch", lambda *, incident_id, force=False: True
    )
    monkeypatch.setattr(
        services.delivery, "queue_items_deliver_later", lambda *, item_ids, route: None
    )
    ruleset_ensure_default(district=school.district)
    teacher = user_with_role(Role.TEACHER, school, username="t")
    incidents = [file(teacher, school, category="emotional_crisis") for _ in range(40)]
    barrier = threading.Barrier(2)
    errors = []

    def worker(incident_id):
        try:
            barrier.wait()
            services.incident_route(incident_id=incident_id, batch=services.ROUTING_BATCH)
        except Exception as exc:  # shown by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i.pk,)) for i in (incidents[0], incidents[-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert not Incident.objects.filter(route__isnull=True).exists()
    assert QueueItem.objects.filter(origin="routing").count() == 40
    assert sorted(QueueItem.objects.values_list("incident_id", flat=True)) == sorted(
        i.pk for i in incidents
    )
