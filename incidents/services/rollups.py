"""Keeping the report rollups (``incidents/rollup_models.py``) current, and rebuilding them.

Four writes change what the equity report counts, and each calls one function here inside
its own transaction, so a rollup never disagrees with the rows it counts:

- routing counts the incident (``rollups_incidents_routed``): its route, and whether the items
  routing created (an SRO notification) make it a referral to law enforcement;
- a hand-off or a resolve (``rollups_item_changed``) can make it a referral (handed off to the
  SRO side; a police outcome) or an arrest: the incident then moves from one row to another;
- a hand-off is counted by its route pair and day (``rollups_handed_off``);
- acknowledging a routing item counts its wait (``rollups_item_acknowledged``), once: an item
  acknowledged again would move to its new wait's bucket; a later hand-off or resolve leaves
  the wait as it was, as it leaves ``acknowledged_at``.

Increments are ``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`` (PostgreSQL and
SQLite), in key order, so concurrent writers add up and never deadlock on rollup rows. Moving
an incident needs its flags before and after the change; ``rollups_item_changed`` reads them
with the incident row locked (the lock the services already take, after the item's, to
refresh the incident's status), so two hand-offs or resolves of one incident are counted one
after the other, each seeing the other's items.

What counts as a referral or an arrest is ``reports/definitions.py``; ``incident_flags`` is its
twin over an incident's items in memory (this app cannot import reports), and the tests check
that the rollups give the same figures as the direct queries.
"""

from __future__ import annotations

import bisect
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate

from schools.models import District, EnrolmentRollup, Student, disability_group

from ..facts import school_year_start
from ..models import (
    ACK_WAIT_LIMITS,
    LAW_ENFORCEMENT_ITEM,
    LAW_ENFORCEMENT_OUTCOMES,
    LAW_ENFORCEMENT_ROUTES,
    AckWaitDistrictRollup,
    AckWaitRollup,
    EventKind,
    HandoffRollup,
    Incident,
    IncidentRollup,
    IncidentStudent,
    InvolvementRole,
    ItemOrigin,
    Outcome,
    QueueItem,
    Route,
    StudentReferralRollup,
    TimelineEvent,
)

Flags = tuple[bool, bool]  # (referral to law enforcement, arrest)
ItemFacts = tuple[str, str, str]  # an item's (origin, route, outcome)
INCIDENT_KEY = ("school_id", "month", "day", "route", "referred", "arrested")
STUDENT_KEY = ("year", "day", "school_id", "student_id")
# The roster groups a student rollup row copies, as SQL over the student row ``s``.
STUDENT_GROUPS = {
    "disability": "CASE WHEN s.iep THEN 'idea' WHEN s.section_504 THEN '504' ELSE 'none' END",
    "race_ethnicity": "s.race_ethnicity",
    "sex": "s.sex",
    "english_learner": "s.english_learner",
    "grade": "s.grade",
}
HANDOFF_KEY = ("school_id", "month", "day", "from_route", "to_route")
ACK_KEY = ("school_id", "month", "day", "route", "bucket")
ACK_DISTRICT_KEY = ("district_id", "month", "day", "route", "bucket")


def incident_flags(route: str | None, items: Iterable[ItemFacts]) -> Flags:
    """Whether a routed incident is a referral to law enforcement and an arrest, from its
    route and its queue items: ``referral_q`` and ``arrest_q`` of ``reports/definitions.py``
    (``LAW_ENFORCEMENT_ITEM``) over rows in memory."""
    referred = route in LAW_ENFORCEMENT_ROUTES
    arrested = False
    for origin, item_route, outcome in items:
        arrested = arrested or outcome == Outcome.ARREST
        referred = (
            referred
            or (origin == ItemOrigin.NOTIFY and item_route == Route.SRO)
            or (origin == ItemOrigin.HANDOFF and item_route in LAW_ENFORCEMENT_ROUTES)
            or outcome in LAW_ENFORCEMENT_OUTCOMES
        )
    return referred, arrested


@dataclass
class _Changes:
    incidents: Counter = field(default_factory=Counter)
    students: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def move(
        self,
        *,
        incident: Incident,
        subjects: list[int],
        before: Flags | None,
        after: Flags,
    ) -> None:
        """The incident leaves its row (``before``; None: not counted yet) for ``after``."""
        if before == after:
            return
        rows = _day_and_month(incident.occurred_at, incident.school.district.timezone)
        day = rows[0][1]
        for month, row_day in rows:
            key = (incident.school_id, month, row_day, incident.route)
            if before is not None:
                self.incidents[(*key, *before)] -= 1
            self.incidents[(*key, *after)] += 1
        was_referred, was_arrested = before or (False, False)
        referred = int(after[0]) - int(was_referred)
        arrests = int(after[1]) - int(was_arrested)
        if referred or arrests:
            for student_id in subjects:
                for key in (
                    (False, day, incident.school_id, student_id),
                    (True, school_year_start(day), incident.school_id, student_id),
                ):
                    counts = self.students[key]
                    counts[0] += referred
                    counts[1] += arrests

    def apply(self) -> None:
        _add(
            IncidentRollup,
            INCIDENT_KEY,
            ("incidents",),
            [(*key, n) for key, n in sorted(self.incidents.items()) if n],
        )
        _students_add([(*key, *n) for key, n in sorted(self.students.items()) if any(n)])


def _add(model, key: tuple[str, ...], counts: tuple[str, ...], rows: list[tuple]) -> None:
    """Add ``rows`` (key values, then count values; sorted by key) to the rollup: one
    statement, concurrency-safe on PostgreSQL and SQLite."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join((*key, *counts))
    values = ", ".join(["(" + ", ".join(["%s"] * (len(key) + len(counts))) + ")"] * len(rows))
    sums = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counts)
    # Table and column names come from the model, every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES {values} "  # noqa: S608
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sums}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [v for row in rows for v in row])


def _students_add(rows: list[tuple]) -> None:
    """Add (year, day, school, student, instances, arrest instances) rows, sorted by key, to
    the student rollup with the students' groups read from the roster in the same statement.

    On PostgreSQL the students are share-locked first (in id order): a roster change of one of
    them waits for this transaction, and its trigger then rewrites the rows this one added; a
    roster change already made waits to commit before this one reads the groups. SQLite runs
    one writer at a time."""
    if not rows:
        return
    table = connection.ops.quote_name(StudentReferralRollup._meta.db_table)
    students = connection.ops.quote_name(Student._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ids = sorted({row[3] for row in rows})
            cursor.execute(
                f"SELECT 1 FROM {students} WHERE id = ANY(%s) ORDER BY id FOR SHARE",  # noqa: S608
                [ids],
            )
        groups = ", ".join(STUDENT_GROUPS)
        values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
        refresh = ", ".join(f"{c} = excluded.{c}" for c in STUDENT_GROUPS)
        # Table and column names come from the models, every value is a parameter. VALUES
        # names its columns column1..column6 on both databases; SQLite needs the WHERE to
        # read ON CONFLICT as the upsert's.
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(STUDENT_KEY)}, instances, arrest_instances, "  # noqa: S608
            f"{groups}) SELECT v.column1, v.column2, v.column3, v.column4, v.column5, "
            f"v.column6, {', '.join(STUDENT_GROUPS.values())} FROM (VALUES {values}) v "
            f"JOIN {students} s ON s.id = v.column4 WHERE 1 = 1 "
            "ORDER BY v.column1, v.column2, v.column3, v.column4 "
            f"ON CONFLICT ({', '.join(STUDENT_KEY)}) DO UPDATE SET "
            f"instances = {table}.instances + excluded.instances, "
            f"arrest_instances = {table}.arrest_instances + excluded.arrest_instances, "
            f"{refresh}",
            [v for row in rows for v in row],
        )


def _subjects(incident_ids: Iterable[int]) -> dict[int, list[int]]:
    """{incident: [rostered subject student]}: the students a referral counts."""
    out: dict[int, list[int]] = defaultdict(list)
    for incident_id, student_id in IncidentStudent.objects.filter(
        incident_id__in=list(incident_ids),
        role=InvolvementRole.SUBJECT,
        student__isnull=False,
    ).values_list("incident_id", "student_id"):
        out[incident_id].append(student_id)
    return out


def rollups_incidents_routed(*, incidents: list[Incident], items: list[QueueItem]) -> None:
    """Count incidents just routed (inside the routing transaction), with the items routing
    created for them. ``incident.school.district`` is loaded by the caller."""
    assert connection.in_atomic_block, "call inside the routing transaction"
    facts: dict[int, list[ItemFacts]] = defaultdict(list)
    for item in items:
        facts[item.incident_id].append((item.origin, item.route, item.outcome))
    flags = {
        incident.pk: incident_flags(incident.route, facts[incident.pk]) for incident in incidents
    }
    subjects = _subjects(pk for pk, (referred, _arrested) in flags.items() if referred)
    changes = _Changes()
    for incident in incidents:
        changes.move(
            incident=incident,
            subjects=subjects.get(incident.pk, []),
            before=None,
            after=flags[incident.pk],
        )
    changes.apply()


def rollups_item_changed(*, item: QueueItem, added: bool = False) -> None:
    """After a hand-off (``added``: ``item`` is the new item) or a resolve (``item`` had no
    outcome before): move the incident to the row of its flags now, inside that transaction.

    The incident row is locked first, so a concurrent hand-off or resolve of the same
    incident waits here until this one commits, and then reads its items: each sees the
    flags the other left (READ COMMITTED reads the latest committed rows per statement)."""
    assert connection.in_atomic_block, "call inside the hand-off or resolve transaction"
    incident = (
        Incident.objects.select_for_update(of=("self",))
        .select_related("school__district")
        .get(pk=item.incident_id)
    )
    if incident.route is None:  # not routed: not counted (hand-offs come after routing)
        return
    rows = list(
        QueueItem.objects.filter(incident_id=incident.pk).values_list(
            "pk", "origin", "route", "outcome"
        )
    )
    if added:
        earlier = [row[1:] for row in rows if row[0] != item.pk]
    else:
        earlier = [(o, r, "" if pk == item.pk else out) for pk, o, r, out in rows]
    before = incident_flags(incident.route, earlier)
    after = incident_flags(incident.route, [row[1:] for row in rows])
    if before == after:
        return
    changes = _Changes()
    changes.move(
        incident=incident,
        subjects=_subjects([incident.pk]).get(incident.pk, []),
        before=before,
        after=after,
    )
    changes.apply()


def ack_wait_bucket(wait: timedelta) -> int:
    """The bucket of a wait: ``i`` when ``ACK_WAIT_LIMITS[i - 1] <= wait < ACK_WAIT_LIMITS[i]``."""
    return bisect.bisect_right(ACK_WAIT_LIMITS, wait)


def _day_and_month(moment: datetime, zone_name: str) -> tuple[tuple[bool, date], ...]:
    """The (month flag, day) of a moment's day row and of its month row, in local time."""
    day = moment.astimezone(zoneinfo.ZoneInfo(zone_name)).date()
    return (False, day), (True, day.replace(day=1))


def rollups_handed_off(*, event: TimelineEvent) -> None:
    """Count a hand-off (inside its transaction), from its timeline event: the day of the
    event, its ``from`` and ``to`` routes. ``event.incident.school.district`` is loaded."""
    assert connection.in_atomic_block, "call inside the hand-off transaction"
    school = event.incident.school
    rows = [
        (school.pk, month, day, event.data["from"], event.data["to"], 1)
        for month, day in _day_and_month(event.at, school.district.timezone)
    ]
    _add(HandoffRollup, HANDOFF_KEY, ("handoffs",), sorted(rows))


def rollups_item_acknowledged(*, item: QueueItem, previous: datetime | None) -> None:
    """Count the wait of an item just acknowledged (inside that transaction, the item row
    locked); ``previous``: its ``acknowledged_at`` before, whose count is taken back, so an
    item is counted once however often it is acknowledged. Only routing items count (the
    report's medians are the time to acknowledge what routing sent).
    ``item.queue.school.district`` is loaded."""
    assert connection.in_atomic_block, "call inside the acknowledge transaction"
    if item.origin != ItemOrigin.ROUTING or previous == item.acknowledged_at:
        return
    school = item.queue.school
    changes: Counter = Counter()
    for acknowledged_at, sign in ((previous, -1), (item.acknowledged_at, 1)):
        if acknowledged_at is None:
            continue
        bucket = ack_wait_bucket(acknowledged_at - item.queued_at)
        for month, day in _day_and_month(item.queued_at, school.district.timezone):
            changes[month, day, item.route, bucket] += sign
    rows = sorted((key, n) for key, n in changes.items() if n)
    # School rows, then district rows: every writer takes the two tables in this order.
    _add(AckWaitRollup, ACK_KEY, ("items",), [(school.pk, *key, n) for key, n in rows])
    _add(
        AckWaitDistrictRollup,
        ACK_DISTRICT_KEY,
        ("items",),
        [(school.district_id, *key, n) for key, n in rows],
    )


# --- rebuild -------------------------------------------------------------------------------


def _flag(condition: Q) -> Case:
    return Case(
        When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()
    )


def _source_rows(district: District) -> tuple[list[IncidentRollup], list[StudentReferralRollup]]:
    """The rollup rows of a district, computed from the incidents and their items."""
    zone = zoneinfo.ZoneInfo(district.timezone)
    flagged = QueueItem.objects.filter(LAW_ENFORCEMENT_ITEM)
    referred = Q(route__in=LAW_ENFORCEMENT_ROUTES) | Q(pk__in=flagged.values("incident_id"))
    arrests = flagged.filter(outcome=Outcome.ARREST).values("incident_id")
    routed = Incident.objects.filter(school__district=district, route__isnull=False).order_by()
    incident_rows = (
        routed.annotate(
            day=TruncDate("occurred_at", tzinfo=zone),
            is_referred=_flag(referred),
            is_arrest=_flag(Q(pk__in=arrests)),
        )
        .values_list("school_id", "day", "route", "is_referred", "is_arrest")
        .annotate(n=Count("pk"))
        .order_by()
    )
    disability = disability_group("student__")
    student_rows = (
        IncidentStudent.objects.filter(
            role=InvolvementRole.SUBJECT,
            student__isnull=False,
            incident_id__in=routed.filter(referred).values("pk"),
        )
        .annotate(day=TruncDate("incident__occurred_at", tzinfo=zone))
        .values_list(
            "incident__school_id",
            "day",
            "student_id",
            disability,
            "student__race_ethnicity",
            "student__sex",
            "student__english_learner",
            "student__grade",
        )
        .annotate(n=Count("pk"), arrests=Count("pk", filter=Q(incident_id__in=arrests)))
        .order_by()
    )
    days, years = [], {}
    for school, day, student, *groups, n, a in student_rows:
        cells = dict(zip(STUDENT_GROUPS, groups, strict=True))
        days.append(
            StudentReferralRollup(
                school_id=school,
                day=day,
                student_id=student,
                instances=n,
                arrest_instances=a,
                **cells,
            )
        )
        start = school_year_start(day)
        year = years.get((school, start, student))
        if year is None:
            year = years[school, start, student] = StudentReferralRollup(
                school_id=school, day=start, year=True, student_id=student, **cells
            )
        year.instances += n
        year.arrest_instances += a
    return (
        [
            IncidentRollup(
                school_id=school,
                month=month,
                day=day,
                route=route,
                referred=r,
                arrested=a,
                incidents=n,
            )
            for school, month, day, route, r, a, n in _with_months(incident_rows)
        ],
        days + list(years.values()),
    )


def _enrolment_rows(district: District) -> list[EnrolmentRollup]:
    """The enrolment rollup (kept by triggers on the roster) recomputed from the roster."""
    disability = disability_group()
    return [
        EnrolmentRollup(
            school_id=school,
            disability=dis,
            race_ethnicity=race,
            sex=sex,
            english_learner=el,
            students=n,
        )
        for school, dis, race, sex, el, n in Student.objects.filter(school__district=district)
        .values_list("school_id", disability, "race_ethnicity", "sex", "english_learner")
        .annotate(n=Count("pk"))
        .order_by()
    ]


def _with_months(rows: Iterable[tuple]) -> list[tuple]:
    """Day rows (scope, day, *rest, n) as (scope, False, day, *rest, n), followed by their
    month rows (scope, True, first of the month, *rest, summed n)."""
    days, months = [], Counter()
    for scope, day, *rest, n in rows:
        days.append((scope, False, day, *rest, n))
        months[(scope, True, day.replace(day=1), *rest)] += n
    return days + [(*key, n) for key, n in sorted(months.items())]


def _handoff_rows(district: District) -> list[HandoffRollup]:
    zone = zoneinfo.ZoneInfo(district.timezone)
    rows = (
        TimelineEvent.objects.filter(kind=EventKind.HANDED_OFF, incident__school__district=district)
        .annotate(day=TruncDate("at", tzinfo=zone))
        .values_list("incident__school_id", "day", KT("data__from"), KT("data__to"))
        .annotate(n=Count("pk"))
        .order_by()
    )
    return [
        HandoffRollup(
            school_id=school, month=month, day=day, from_route=frm, to_route=to, handoffs=n
        )
        for school, month, day, frm, to, n in _with_months(rows)
    ]


def _ack_wait_rows(district: District) -> tuple[list[AckWaitRollup], list[AckWaitDistrictRollup]]:
    zone = zoneinfo.ZoneInfo(district.timezone)
    wait = ExpressionWrapper(F("acknowledged_at") - F("queued_at"), DurationField())
    bucket = Case(
        *(When(wait__lt=limit, then=Value(i)) for i, limit in enumerate(ACK_WAIT_LIMITS)),
        default=Value(len(ACK_WAIT_LIMITS)),
        output_field=IntegerField(),
    )
    rows = list(
        QueueItem.objects.filter(
            origin=ItemOrigin.ROUTING,
            acknowledged_at__isnull=False,
            queue__school__district=district,
        )
        .annotate(wait=wait)
        .annotate(day=TruncDate("queued_at", tzinfo=zone), bucket=bucket)
        .values_list("queue__school_id", "day", "route", "bucket")
        .annotate(n=Count("pk"))
        .order_by()
    )
    whole: Counter = Counter()
    for _school, day, route, bucket_no, n in rows:
        whole[district.pk, day, route, bucket_no] += n
    return (
        [
            AckWaitRollup(school_id=s, month=m, day=d, route=r, bucket=b, items=n)
            for s, m, d, r, b, n in _with_months(rows)
        ],
        [
            AckWaitDistrictRollup(district_id=s, month=m, day=d, route=r, bucket=b, items=n)
            for s, m, d, r, b, n in _with_months((*key, n) for key, n in sorted(whole.items()))
        ],
    )


# The rollups in the order every writer takes them (``rollups_item_changed`` before
# ``rollups_handed_off`` in a hand-off; school rows before district rows), so that the
# rebuild's table locks, taken in this order, cannot deadlock with a writer.
ROLLUP_MODELS = (
    IncidentRollup,
    StudentReferralRollup,
    HandoffRollup,
    AckWaitRollup,
    AckWaitDistrictRollup,
    # Kept by triggers on the roster, after the student rows' groups (in one roster write,
    # the row triggers that regroup a student's rollup rows run before the statement trigger
    # that counts the enrolment).
    EnrolmentRollup,
)


def rollups_rebuild(*, district: District) -> dict[str, int]:
    """Recompute a district's rollups from the source rows, in one transaction; returns the
    number of rows of each rollup. Idempotent.

    On PostgreSQL the rollup tables are locked against writers first (readers go on): a
    routing, hand-off or acknowledgement committed before the lock is in the recomputed rows,
    and one still running adds its increment after the rebuild commits, on top of rows that
    do not count it yet. Either way nothing is counted twice or lost."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in ROLLUP_MODELS)
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        for model in ROLLUP_MODELS:
            if model is AckWaitDistrictRollup:
                model.objects.filter(district=district).delete()
            else:
                model.objects.filter(school__district=district).delete()
        incident_rows, student_rows = _source_rows(district)
        school_waits, district_waits = _ack_wait_rows(district)
        built = (
            incident_rows,
            student_rows,
            _handoff_rows(district),
            school_waits,
            district_waits,
            _enrolment_rows(district),
        )
        for model, rows in zip(ROLLUP_MODELS, built, strict=True):
            model.objects.bulk_create(rows, batch_size=5000)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # fresh statistics for the report's plans
                cursor.execute(f"ANALYZE {tables}")
    return {
        model._meta.verbose_name: len(rows)
        for model, rows in zip(ROLLUP_MODELS, built, strict=True)
    }
