"""The report rollups agree with the rows they count: after any filings, routings,
acknowledgements, hand-offs and resolutions (through the services), under concurrent writers,
and after a rebuild."""

import random
import threading
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connections, transaction

from incidents import services
from incidents.models import (
    ACK_WAIT_LIMITS,
    AckWaitDistrictRollup,
    AckWaitRollup,
    HandoffRollup,
    IncidentRollup,
    ItemOrigin,
    ItemState,
    QueueItem,
    Route,
    StudentReferralRollup,
)
from incidents.selectors import outcomes_for_user
from incidents.services.rollups import (
    STUDENT_GROUPS,
    ack_wait_bucket,
    incident_flags,
    rollups_rebuild,
)
from policies.services import ruleset_ensure_default
from reports.counts import DIRECT, ROLLUPS
from reports.crdc import crdc_file
from reports.figures import EquityFilter, equity_figures
from schools.demo import seed_people_and_roster
from schools.models import District, RaceEthnicity, School, Student, User

ROUTE_INPUTS = {
    "counselor": {"category": "emotional_crisis"},
    "administrator": {"category": "disruption"},
    "sro": {"category": "weapon", "weapon": "firearm"},
    "co_responder": {"category": "self_harm", "danger_now": "to_self"},
}
# Who acts on each route's items (the SRO may record a citation or an arrest).
ACTOR = {"counselor": "counselor", "administrator": "administrator"}
ACTOR |= {"co_responder": "sro", "sro": "sro"}
YEAR = (date(2025, 8, 1), date(2026, 7, 31))


def person(username: str) -> User:
    return User.objects.get(username=username)


def file_and_route(rng: random.Random, school: School, when: datetime, route: str) -> None:
    kids = list(Student.objects.filter(school=school))
    involved = [
        services.InvolvedStudent(role=role, student=kid)
        for kid, role in zip(
            rng.sample(kids, rng.randint(0, 3)), ["subject", "subject", "target"], strict=False
        )
    ]
    incident, _ = services.incident_file(
        reporter=person("teacher"),
        school=school,
        narrative="Generated for the rollup test.",
        occurred_at=when,
        students=involved,
        **ROUTE_INPUTS[route],
    )
    # Routed (queued) minutes later: sometimes on the next local day.
    with clock(when + timedelta(minutes=rng.choice([0, 2, 30]))):
        services.incident_route(incident_id=incident.pk)


@contextmanager
def clock(at: datetime):
    """The services' "now" (and the timeline's) is ``at``."""
    with mock.patch("django.utils.timezone.now", return_value=at):
        yield


# Waits to acknowledge: on and next to bucket bounds (to the microsecond), and spread out.
EDGE_WAITS = [timedelta(0), timedelta(microseconds=1), ACK_WAIT_LIMITS[0], ACK_WAIT_LIMITS[-1]]
EDGE_WAITS += [ACK_WAIT_LIMITS[14] + timedelta(microseconds=d) for d in (-1, 0, 1)]


def acknowledge(rng: random.Random, item: QueueItem) -> None:
    """Acknowledge after a random wait; sometimes twice (the second changes nothing)."""
    if rng.random() < 0.3:
        wait = rng.choice(EDGE_WAITS)
    else:
        wait = timedelta(seconds=round(rng.lognormvariate(0, 1.2) * 600, 3))
    with clock(item.queued_at + wait):
        services.queue_item_acknowledge(user=person(ACTOR[item.route]), item_id=item.pk)
    if rng.random() < 0.2:
        with clock(item.queued_at + wait + timedelta(minutes=5)):
            services.queue_item_acknowledge(user=person(ACTOR[item.route]), item_id=item.pk)


def act(rng: random.Random, item: QueueItem) -> None:
    """Hand off or resolve, hours or days after the item was queued (a hand-off is dated by
    its own day, which may be the next one or in the next month)."""
    user = person(ACTOR[item.route])
    later = item.queued_at + timedelta(minutes=rng.choice([1, 90, 600, 1500, 3 * 1440]))
    with clock(later):
        if rng.random() < 0.4:
            to = rng.choice([r for r in Route.values if r != item.route])
            services.queue_item_handoff(user=user, item_id=item.pk, route=to, reason="test")
        else:
            outcome = rng.choice(outcomes_for_user(user, item))
            services.queue_item_resolve(user=user, item_id=item.pk, outcome=outcome)


def open_items():
    return QueueItem.objects.filter(
        state__in=[ItemState.QUEUED, ItemState.CLAIMED, ItemState.ACKNOWLEDGED]
    ).exclude(origin=ItemOrigin.NOTIFY)


def ops_rollup_rows() -> tuple[set, set, set]:
    """The hand-off and acknowledgement rollups without the rows that count nothing."""
    ack = ("day", "month", "route", "bucket", "items")
    return (
        set(
            HandoffRollup.objects.exclude(handoffs=0).values_list(
                "school_id", "day", "month", "from_route", "to_route", "handoffs"
            )
        ),
        set(AckWaitRollup.objects.exclude(items=0).values_list("school_id", *ack)),
        set(AckWaitDistrictRollup.objects.exclude(items=0).values_list("district_id", *ack)),
    )


def rollup_rows(*, months: bool = False) -> tuple[set, ...]:
    """The rollups without the rows that count nothing (left behind when an incident moves);
    the day rows (``months``: and the incidents' month rows, the students' school year rows
    with the groups they copy from the roster, and the operations' rollups)."""
    incidents = IncidentRollup.objects.exclude(incidents=0)
    students = StudentReferralRollup.objects.exclude(instances=0, arrest_instances=0)
    columns = ("school_id", "day", "student_id", "instances", "arrest_instances")
    if months:
        columns += ("year", *STUDENT_GROUPS)
    else:
        incidents = incidents.filter(month=False)
        students = students.filter(year=False)
    return (
        set(
            incidents.values_list(
                "school_id", "day", "route", "referred", "arrested", "incidents", "month"
            )
        ),
        set(students.values_list(*columns)),
        *(ops_rollup_rows() if months else ()),
    )


def assert_rollups_match(district: District, rng: random.Random) -> None:
    schools = tuple(School.objects.filter(district=district).order_by("name"))
    # The school year (whole months; the students' year rows) and a period that is not, each
    # over every school, all but one (the district's rows less one school's) and one school;
    # two school years (year rows, a student counted once).
    filters = [
        EquityFilter(district=district, schools=picked, start=start, end=end)
        for start, end in [YEAR, (date(2025, 8, 20), date(2026, 2, 11))]
        for picked in (schools, schools[1:], schools[:1])
    ]
    filters.append(
        EquityFilter(district=district, schools=schools, start=date(2024, 8, 1), end=YEAR[1])
    )
    for _ in range(6):  # random periods and schools, month ends and single days included
        start = YEAR[0] + timedelta(days=rng.randrange(365))
        end = start + timedelta(days=rng.choice([0, 1, 30, 90]))
        picked = tuple(rng.sample(schools, rng.randint(1, len(schools))))
        filters.append(EquityFilter(district=district, schools=picked, start=start, end=end))
    sizes = set()
    for flt in filters:
        assert ROLLUPS.incident_counts(flt) == DIRECT.incident_counts(flt), flt
        assert ROLLUPS.student_cells(flt) == DIRECT.student_cells(flt), flt
        assert ROLLUPS.enrolment(flt) == DIRECT.enrolment(flt), flt
        assert sorted(ROLLUPS.handoffs(flt)) == sorted(DIRECT.handoffs(flt)), flt
        medians = DIRECT.ack_medians(flt)
        assert ROLLUPS.ack_medians(flt) == medians, flt
        sizes |= {n for _median, n in medians.values()}
    whole_year = DIRECT.ack_medians(filters[0])
    assert len(whole_year) >= 3, "several routes' medians compared"
    assert {n % 2 for n in sizes} == {0, 1}, "even and odd counts compared"
    assert DIRECT.handoffs(filters[0]), "hand-offs compared"
    for source in (ROLLUPS, DIRECT):
        figures = equity_figures(filters[0], source=source)
        shown = (
            figures.display,
            figures.total.display,
            [row.display for row in figures.by_disability + figures.by_race_sex],
            [row.display for row in figures.by_school],
            [month["cells"] for month in figures.routes_by_month],
            figures.overrides,
            figures.ack_medians,
        )
        if source is ROLLUPS:
            from_rollups = shown
    assert from_rollups == shown
    for suppressed in (False, True):
        exact = {
            source.name: crdc_file(
                district=district, year=2025, suppressed=suppressed, source=source
            ).table()
            for source in (ROLLUPS, DIRECT)
        }
        assert exact["rollups"] == exact["direct"]


@pytest.fixture
def demo(db):
    district = seed_people_and_roster(students_per_school=8)
    ruleset_ensure_default(district=district)
    return district


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_equal_the_direct_counts_after_random_work(demo, seed, caplog):
    rng = random.Random(seed)
    zone = ZoneInfo(demo.timezone)
    schools = list(School.objects.filter(district=demo))
    for _ in range(30):
        # Days in the district's time zone, some just before or after local midnight (a
        # different UTC day), some on the last day of a month.
        day = YEAR[0] + timedelta(days=rng.choice([0, 29, 30, 60, 61, rng.randrange(300)]))
        minute = rng.choice([1, 12 * 60, 23 * 60 + 59])
        when = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minute)
        file_and_route(rng, rng.choice(schools), when, rng.choice(list(ROUTE_INPUTS)))
    for _ in range(3):
        items = list(open_items())
        for item in rng.sample(items, len(items) * 2 // 3):
            if item.acknowledged_at is None and rng.random() < 0.7:
                acknowledge(rng, item)
                item.refresh_from_db()
            if rng.random() < 0.8:  # some stay acknowledged, open
                act(rng, item)
    assert IncidentRollup.objects.filter(referred=True).exists()
    assert_rollups_match(demo, rng)
    # The medians were read through the rollups, not from the items after a disagreement.
    assert not [r for r in caplog.records if "disagree" in r.getMessage()]

    # The roster changes afterwards, by every kind of write: the report groups students as
    # the roster has them now, and the rollup rows follow (the trigger on the roster table).
    referred = list(
        Student.objects.filter(pk__in=StudentReferralRollup.objects.values("student_id")).order_by(
            "pk"
        )
    )
    assert len(referred) >= 6
    for kid in referred[:3]:  # one by one, as the back office saves them
        kid.iep, kid.section_504 = not kid.iep, kid.iep
        others = [c for c in RaceEthnicity.values if c != kid.race_ethnicity]
        kid.race_ethnicity = rng.choice(others)
        kid.save()
    for kid in referred[3:6]:  # in bulk, as the OneRoster import does
        kid.sex = "F" if kid.sex == "M" else "M"
        kid.english_learner = not kid.english_learner
        kid.grade = -1 if kid.grade > 0 else 5
    Student.objects.bulk_update(referred[3:6], ["sex", "english_learner", "grade"])
    Student.objects.filter(pk=referred[-1].pk).update(section_504=True, iep=False)
    assert_rollups_match(demo, rng)

    kept = rollup_rows(months=True)
    call_command("rollups_rebuild")
    assert rollup_rows(months=True) == kept
    call_command("rollups_rebuild", district=demo.slug)  # idempotent
    assert rollup_rows(months=True) == kept


def test_an_item_acknowledged_again_moves_to_its_new_wait_and_counts_once(demo):
    """The services acknowledge an item once (a second acknowledgement changes nothing); if
    it were marked again, its wait would move, not be counted twice."""
    school = School.objects.get(code="WAS-MS")
    when = datetime(2025, 10, 1, 23, 50, tzinfo=ZoneInfo(demo.timezone))
    for route in ("counselor", "administrator"):
        incident, _ = services.incident_file(
            reporter=person("teacher"),
            school=school,
            narrative="Acknowledged twice.",
            occurred_at=when,
            **ROUTE_INPUTS[route],
        )
        with clock(when):
            services.incident_route(incident_id=incident.pk)
    items = QueueItem.objects.filter(origin=ItemOrigin.ROUTING, incident__school=school)
    user = {item.pk: person(ACTOR[item.route]) for item in items}
    for item in items:
        with clock(when + timedelta(seconds=20)):
            services.queue_item_acknowledge(user=user[item.pk], item_id=item.pk)
        with clock(when + timedelta(hours=2)):  # a no-op: already acknowledged
            services.queue_item_acknowledge(user=user[item.pk], item_id=item.pk)
    item = items.get(route="counselor")
    with transaction.atomic():  # as if marked again, 15 minutes later
        locked = services.queue_actions._queue_item_locked(user[item.pk], item.pk)
        services.queue_actions._item_acknowledged_mark(
            locked, user[item.pk], when + timedelta(minutes=15)
        )
    flt = EquityFilter(district=demo, schools=(school,), start=when.date(), end=when.date())
    medians = DIRECT.ack_medians(flt)
    assert medians == {
        "counselor": (timedelta(minutes=15), 1),
        "administrator": (timedelta(seconds=20), 1),
    }
    assert ROLLUPS.ack_medians(flt) == medians
    schools, districts = ops_rollup_rows()[1:]
    assert sum(n for *_key, month, _route, _bucket, n in schools if not month) == 2
    assert {(r, b, n) for *_k, month, r, b, n in districts if not month} == {
        ("counselor", ack_wait_bucket(timedelta(minutes=15)), 1),
        ("administrator", ack_wait_bucket(timedelta(seconds=20)), 1),
    }


def test_a_hand_off_to_the_sro_moves_the_incident_and_counts_its_student(demo):
    school = School.objects.get(code="WAS-MS")
    kid = Student.objects.filter(school=school).first()
    incident, _ = services.incident_file(
        reporter=person("teacher"),
        school=school,
        narrative="Counselor first.",
        students=[services.InvolvedStudent(role="subject", student=kid)],
        **ROUTE_INPUTS["counselor"],
    )
    services.incident_route(incident_id=incident.pk)
    item = QueueItem.objects.get(incident=incident, origin=ItemOrigin.ROUTING)
    assert rollup_rows()[0] == {(school.pk, *_day(incident), "counselor", False, False, 1, False)}
    assert rollup_rows()[1] == set()

    _handoff, new = services.queue_item_handoff(
        user=person("counselor"), item_id=item.pk, route="sro", reason="A weapon after all."
    )
    incidents, students = rollup_rows()
    assert incidents == {(school.pk, *_day(incident), "counselor", True, False, 1, False)}
    assert students == {(school.pk, *_day(incident), kid.pk, 1, 0)}

    services.queue_item_resolve(user=person("sro"), item_id=new.pk, outcome="arrest")
    incidents, students = rollup_rows()
    assert incidents == {(school.pk, *_day(incident), "counselor", True, True, 1, False)}
    assert students == {(school.pk, *_day(incident), kid.pk, 1, 1)}


def _day(incident) -> tuple[date]:
    zone = ZoneInfo(incident.school.district.timezone)
    return (incident.occurred_at.astimezone(zone).date(),)


@pytest.mark.parametrize(
    ("route", "items", "flags"),
    [
        ("counselor", [], (False, False)),
        ("sro", [], (True, False)),
        ("co_responder", [], (True, False)),
        ("counselor", [("notify", "sro", "")], (True, False)),
        ("counselor", [("notify", "co_responder", "")], (False, False)),
        ("counselor", [("handoff", "co_responder", "")], (True, False)),
        ("sro", [("handoff", "counselor", "")], (True, False)),
        ("administrator", [("routing", "administrator", "citation")], (True, False)),
        ("counselor", [("handoff", "sro", "arrest")], (True, True)),
        ("counselor", [("routing", "counselor", "parent_contacted")], (False, False)),
    ],
)
def test_incident_flags_follow_the_definitions(route, items, flags):
    assert incident_flags(route, items) == flags


@pytest.mark.django_db(transaction=True)
def test_concurrent_hand_offs_and_resolves_keep_the_rollups_exact(is_postgres):
    """Eight incidents of one school and day, one student the subject of all of them: every
    thread adds to the same rollup rows. Within each incident, a hand-off of the counselor's
    item to the SRO races a resolve of the administrator's notification as a referral: each
    alone makes the incident a referral, so counting both would count it twice."""
    if not is_postgres:
        pytest.skip("row locks and concurrent transactions: PostgreSQL")
    district = seed_people_and_roster(students_per_school=8)
    ruleset_ensure_default(district=district)
    school = School.objects.get(code="WAS-MS")
    kid = Student.objects.filter(school=school).first()
    Student.objects.filter(pk=kid.pk).update(iep=True)
    when = datetime(2025, 10, 1, 9, tzinfo=ZoneInfo(district.timezone))
    pairs = []
    for _ in range(8):
        incident, _ = services.incident_file(
            reporter=person("teacher"),
            school=school,
            narrative="A student with an IEP, out of control.",
            occurred_at=when,
            students=[services.InvolvedStudent(role="subject", student=kid)],
            category="disruption",
            student_state="dysregulated",
        )
        services.incident_route(incident_id=incident.pk)
        items = {item.origin: item for item in QueueItem.objects.filter(incident=incident)}
        assert items["routing"].route == "counselor", "the disability rule routes it"
        pairs.append((items["routing"].pk, items["notify"].pk))
    start = threading.Barrier(len(pairs) * 2 + 2)
    errors: list[BaseException] = []
    late: list[int] = []

    def run(work) -> None:
        try:
            start.wait()
            work()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    def handoff_then_arrest(item_id: int) -> None:
        _closed, new = services.queue_item_handoff(
            user=person("counselor"), item_id=item_id, route="sro", reason="race"
        )
        services.queue_item_resolve(user=person("sro"), item_id=new.pk, outcome="arrest")

    def regroup(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(12):
            Student.objects.filter(pk=kid.pk).update(
                race_ethnicity=rng.choice(RaceEthnicity.values),
                sex=rng.choice("MF"),
                english_learner=rng.random() < 0.5,
            )

    def refer(item_id: int) -> None:
        try:
            services.queue_item_resolve(
                user=person("administrator"), item_id=item_id, outcome="referred_to_law_enforcement"
            )
        except services.QueueItemConflict as conflict:
            # The arrest came first: resolving the incident closed its notification, so the
            # administrator is told it is already resolved (409). Either order is a referral.
            assert conflict.state == "resolved", conflict
            late.append(item_id)

    threads = []
    for routing_id, notify_id in pairs:
        threads.append(
            threading.Thread(target=run, args=(lambda i=routing_id: handoff_then_arrest(i),))
        )
        threads.append(threading.Thread(target=run, args=(lambda i=notify_id: refer(i),)))
    for seed in (1, 2):  # the roster sync changes the student's groups meanwhile
        threads.append(threading.Thread(target=run, args=(lambda s=seed: regroup(s),)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    kid.refresh_from_db()
    groups = {
        (
            "idea" if kid.iep else "504" if kid.section_504 else "none",
            kid.race_ethnicity,
            kid.sex,
            kid.english_learner,
            kid.grade,
        )
    }
    assert set(StudentReferralRollup.objects.values_list(*STUDENT_GROUPS)) == groups
    day = when.date()
    assert rollup_rows() == (
        {(school.pk, day, "counselor", True, True, len(pairs), False)},
        {(school.pk, day, kid.pk, len(pairs), len(pairs))},
    )
    assert rollup_rows(months=True)[0] == {
        (school.pk, day, "counselor", True, True, len(pairs), False),
        (school.pk, day.replace(day=1), "counselor", True, True, len(pairs), True),
    }
    kept = rollup_rows(months=True)
    call_command("rollups_rebuild")
    assert rollup_rows(months=True) == kept


@pytest.mark.django_db(transaction=True)
def test_concurrent_acknowledgements_hand_offs_and_a_rebuild_keep_the_ops_rollups_exact(
    is_postgres,
):
    """Twelve routing items of one school and day: for each, two people acknowledge at once
    (it is counted once) and one of them then hands it off, while the rollups are rebuilt:
    every writer adds to the same rows, and the rebuild's table locks meet the writers'."""
    if not is_postgres:
        pytest.skip("row locks and concurrent transactions: PostgreSQL")
    district = seed_people_and_roster(students_per_school=4)
    ruleset_ensure_default(district=district)
    school = School.objects.get(code="WAS-MS")
    item_ids = []
    for n in range(12):
        route = ("counselor", "administrator")[n % 2]
        incident, _ = services.incident_file(
            reporter=person("teacher"), school=school, narrative="Race.", **ROUTE_INPUTS[route]
        )
        services.incident_route(incident_id=incident.pk)
        item_ids.append(QueueItem.objects.get(incident=incident, origin=ItemOrigin.ROUTING).pk)
    routes = dict(QueueItem.objects.filter(pk__in=item_ids).values_list("pk", "route"))
    start = threading.Barrier(len(item_ids) * 2 + 1)
    errors: list[BaseException] = []

    def run(work) -> None:
        try:
            start.wait()
            work()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    def acknowledge_then_hand_off(item_id: int) -> None:
        user = person(ACTOR[routes[item_id]])
        services.queue_item_acknowledge(user=user, item_id=item_id)
        services.queue_item_handoff(user=user, item_id=item_id, route="sro", reason="race")

    def acknowledge_too(item_id: int) -> None:
        try:
            services.queue_item_acknowledge(user=person(ACTOR[routes[item_id]]), item_id=item_id)
        except services.QueueItemConflict as conflict:
            assert conflict.state == "handed_off", conflict  # came after the hand-off

    threads = [threading.Thread(target=run, args=(lambda: rollups_rebuild(district=district),))]
    for item_id in item_ids:
        threads.append(
            threading.Thread(target=run, args=(lambda i=item_id: acknowledge_then_hand_off(i),))
        )
        threads.append(threading.Thread(target=run, args=(lambda i=item_id: acknowledge_too(i),)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    today = QueueItem.objects.get(pk=item_ids[0]).queued_at.astimezone(ZoneInfo(district.timezone))
    flt = EquityFilter(district=district, schools=(school,), start=today.date(), end=today.date())
    medians = DIRECT.ack_medians(flt)
    assert {route: n for route, (_median, n) in medians.items()} == {
        "counselor": 6,
        "administrator": 6,
    }
    assert ROLLUPS.ack_medians(flt) == medians
    assert sorted(ROLLUPS.handoffs(flt)) == sorted(DIRECT.handoffs(flt))
    assert sorted(DIRECT.handoffs(flt)) == [("administrator", "sro", 6), ("counselor", "sro", 6)]
    kept = ops_rollup_rows()
    call_command("rollups_rebuild")
    assert ops_rollup_rows() == kept
