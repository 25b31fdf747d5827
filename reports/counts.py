"""The queries behind the equity figures.

``ROLLUPS`` reads the rollups kept by ``incidents/services/rollups.py`` (a row per school, day and
route, and per month; a row per referred student, school and day, and per school year, with
the student's groups on the roster now; a row per school, day and hand-off direction; a row per
school, day, route and wait bucket of the acknowledged routing items; a row per school and
group of the enrolment, kept by triggers on the roster): what the dashboard and its CSV use.
``DIRECT`` computes the same figures from the incidents, their students, their queue items,
their timelines and the roster: the definition the rollups must agree with (the tests compare
the two) and the benchmark's "before". Both return the same shapes, so the figures do not know
which one they read.

What is still read from the source rows, and why:
- median times to acknowledge, partly: a median cannot be added up from counts. The rollup
  gives each route's count per wait bucket, so the rank of the median and its bucket are known;
  the one or two middle waits are then read at their rank among that bucket's items only (a
  range of the ``queue_item_ack_wait`` index), not after counting every item of the route.
"""

from __future__ import annotations

import logging
import statistics
import zoneinfo
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, TruncMonth

from incidents.models import (
    ACK_WAIT_LIMITS,
    AckWaitDistrictRollup,
    AckWaitRollup,
    EventKind,
    HandoffRollup,
    IncidentRollup,
    IncidentStudent,
    InvolvementRole,
    ItemOrigin,
    QueueItem,
    ResponderQueue,
    Route,
    StudentReferralRollup,
    TimelineEvent,
)
from schools.models import EnrolmentRollup, School, Student, disability_group

from .definitions import arrest_q, referral_q
from .scope import EquityFilter, incidents_in, period_bounds, school_year_of

logger = logging.getLogger(__name__)
ROUTE_LABELS = dict(Route.choices)

# A referred student's cell: (the school where the incident happened, disability group,
# race/ethnicity, sex, English learner); an enrolled student's: (school of enrolment, ...).
# At one school each student falls in exactly one cell, so the unduplicated student counts of
# cells add up exactly to any coarser group of that school (a disability group, ...).
Cell = tuple[int, str, str, str, bool]

STUDENT_DISABILITY = disability_group()
SUBJECT_DISABILITY = disability_group("student__")


STUDENT_MEASURES = ("instances", "students", "arrest_instances", "arrested_students")
# A subject's groups, from the current roster: disability, race/ethnicity, sex, English learner.
STUDENT_GROUP = (
    SUBJECT_DISABILITY,
    "student__race_ethnicity",
    "student__sex",
    "student__english_learner",
)
# {(school, month, route): (incidents, referred, with an arrest)}
IncidentCounts = dict[tuple[int, date, str], tuple[int, int, int]]
StudentCells = dict[Cell, dict[str, int]]


def month_starts(flt: EquityFilter) -> list[date]:
    months, day = [], flt.start.replace(day=1)
    while day <= flt.end:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _grades(min_grade: int | None) -> dict:
    return {} if min_grade is None else {"student__grade__gte": min_grade}


# --- from the source rows -------------------------------------------------------------------


def _direct_student_cells(flt: EquityFilter, *, min_grade: int | None = None) -> StudentCells:
    """Referral and arrest counts of subject students per cell: one GROUP BY. ``min_grade``:
    only the students in that grade or above (the CRDC counts K-12)."""
    arrested = arrest_q(via_incident=True)
    # The referred incidents first (a small set, from the routed-incidents index), then their
    # subjects: not every subject joined to every incident and filtered afterwards.
    referred = incidents_in(flt).filter(referral_q()).values("pk")
    rows = (
        IncidentStudent.objects.filter(
            role=InvolvementRole.SUBJECT,
            student__isnull=False,
            incident_id__in=referred,
            **_grades(min_grade),
        )
        .values_list("incident__school_id", *STUDENT_GROUP)
        .annotate(
            instances=Count("pk"),
            students=Count("student_id", distinct=True),
            arrest_instances=Count("pk", filter=arrested),
            arrested_students=Count("student_id", distinct=True, filter=arrested),
        )
        .order_by()
    )
    return _cells(rows)


def _direct_incident_counts(flt: EquityFilter) -> IncidentCounts:
    """{(school, month, route): (incidents, referred, with an arrest)}: one pass, one GROUP BY."""
    zone = zoneinfo.ZoneInfo(flt.district.timezone)
    months = month_starts(flt)
    if connection.vendor == "postgresql":
        # The month's number in a sorted list of the months' first instants (binary search):
        # several times cheaper than converting a million timestamps to local time.
        month = Func(
            F("occurred_at"),
            Value([datetime.combine(m, time.min, tzinfo=zone) for m in months]),
            function="WIDTH_BUCKET",
            output_field=IntegerField(),
        )
    else:
        month = TruncMonth("occurred_at", tzinfo=zone)
    rows = (
        incidents_in(flt)
        .annotate(month=month)
        .values_list("school_id", "month", "route")
        .annotate(
            n=Count("pk"),
            referred=Count("pk", filter=referral_q()),
            arrests=Count("pk", filter=arrest_q()),
        )
    )
    out = {}
    for school, bucket, route, n, referred, arrests in rows:
        if isinstance(bucket, int):
            key = months[bucket - 1]
        else:
            key = bucket.date() if isinstance(bucket, datetime) else bucket
        out[school, key, route] = (n, referred, arrests)
    return out


# --- from the rollups -------------------------------------------------------------------------


def _rollup_rows(flt: EquityFilter) -> Q:
    """The month rows of the months the period covers whole, the day rows of the rest."""
    whole = [
        m
        for m in month_starts(flt)
        if m >= flt.start and (m + timedelta(days=32)).replace(day=1) - timedelta(days=1) <= flt.end
    ]
    if not whole:
        return Q(month=False, day__gte=flt.start, day__lte=flt.end)
    after_whole = (whole[-1] + timedelta(days=32)).replace(day=1)
    rows = Q(month=True, day__in=whole)
    # The ends only when there are days there: a period of whole months is then one index
    # range, which the planner sees (an OR of empty ranges hides it).
    if flt.start < whole[0]:
        rows |= Q(month=False, day__gte=flt.start, day__lt=whole[0])
    if after_whole <= flt.end:
        rows |= Q(month=False, day__gte=after_whole, day__lte=flt.end)
    return rows


def _rows_of(queryset: QuerySet) -> list[tuple]:
    """A ``values_list`` query's rows. On PostgreSQL the driver's values are already the
    Python types (dates, booleans, integers): read without the ORM's per-value converters,
    which cost more than the query for the thousands of rows of a report."""
    if connection.vendor != "postgresql":
        return list(queryset)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _rollup_incident_counts(flt: EquityFilter) -> IncidentCounts:
    """The same counts from the rollup: whole months from their month rows, the period's
    ends from day rows (a few thousand rows per school year)."""
    rows = (
        IncidentRollup.objects.filter(
            _rollup_rows(flt), school_id__in=flt.school_ids, incidents__gt=0
        )
        .values_list("school_id", "day", "route")
        .annotate(
            n=Sum("incidents"),
            referred=Coalesce(Sum("incidents", filter=Q(referred=True)), 0),
            arrests=Coalesce(Sum("incidents", filter=Q(arrested=True)), 0),
        )
        .order_by()
    )
    # Grouped by day (a month row's day is the 1st): the days of the period's ends are added
    # to their month here.
    out: dict[tuple[int, date, str], list[int]] = {}
    for school, day, route, *counts in _rows_of(rows):
        key = (school, day.replace(day=1), route)
        total = out.get(key)
        if total is None:
            out[key] = counts
        else:
            out[key] = [a + b for a, b in zip(total, counts, strict=True)]
    return {key: tuple(counts) for key, counts in out.items()}


def _whole_school_years(flt: EquityFilter) -> list[date]:
    """The first days of the school years the period is made of, or [] when it is not made of
    whole school years."""
    starts, day = [], flt.start
    while day <= flt.end:
        start, end = school_year_of(day)
        if start != day or end > flt.end:
            return []
        starts.append(start)
        day = end + timedelta(days=1)
    return starts


def _rollup_student_cells(flt: EquityFilter, *, min_grade: int | None = None) -> StudentCells:
    """The same cells from the per-student rollup, whose rows carry the student's groups on
    the roster now: no join. A period of whole school years reads the year rows (one per
    student and school and year); any other period the day rows. A student referred on
    several days (or years) of the period counts once (COUNT DISTINCT, unless one year)."""
    years = _whole_school_years(flt)
    if years:
        period = Q(year=True, day__in=years)
    else:
        period = Q(year=False, day__gte=flt.start, day__lte=flt.end)
    if len(years) == 1:
        students = Count("pk")  # one row per student: no DISTINCT (and no sort) needed
        arrested = Count("pk", filter=Q(arrest_instances__gt=0))
    else:
        students = Count("student_id", distinct=True)
        arrested = Count("student_id", distinct=True, filter=Q(arrest_instances__gt=0))
    rows = (
        StudentReferralRollup.objects.filter(
            period,
            school_id__in=flt.school_ids,
            instances__gt=0,
            **({} if min_grade is None else {"grade__gte": min_grade}),
        )
        .values_list("school_id", "disability", "race_ethnicity", "sex", "english_learner")
        .annotate(
            # Not named after the columns: the FILTER below reads the column.
            total_instances=Sum("instances"),
            students=students,
            total_arrest_instances=Sum("arrest_instances"),
            arrested_students=arrested,
        )
        .order_by()
    )
    return _cells(_rows_of(rows))


def _cells(rows) -> StudentCells:
    """Rows of (school, *STUDENT_GROUP, *STUDENT_MEASURES) as {cell: {measure: count}}."""
    return {
        (school, dis, race, sex, bool(el)): dict(zip(STUDENT_MEASURES, counts, strict=True))
        for school, dis, race, sex, el, *counts in rows
    }


# --- operations: hand-offs and times to acknowledge ------------------------------------------
# Rows of (from route, to route, hand-offs); {route: (median wait, acknowledged items)}.
HandoffCounts = list[tuple[str, str, int]]
AckMedians = dict[str, tuple[timedelta, int]]
WAIT = ExpressionWrapper(F("acknowledged_at") - F("queued_at"), DurationField())


def _direct_handoffs(flt: EquityFilter) -> HandoffCounts:
    """Hand-offs dated by the hand-off (not the incident): the timeline's hand-off events."""
    since, until = period_bounds(flt.district, flt.start, flt.end)
    return list(
        TimelineEvent.objects.filter(
            kind=EventKind.HANDED_OFF,
            at__gte=since,
            at__lt=until,
            incident__school_id__in=flt.school_ids,
        )
        .values_list(KT("data__from"), KT("data__to"))
        .annotate(n=Count("pk"))
        .order_by()
    )


def _rollup_handoffs(flt: EquityFilter) -> HandoffCounts:
    return list(
        HandoffRollup.objects.filter(_rollup_rows(flt), school_id__in=flt.school_ids)
        .values_list("from_route", "to_route")
        .annotate(n=Sum("handoffs"))
        .filter(n__gt=0)
        .order_by()
    )


def _acknowledged(flt: EquityFilter, in_scope: Q | None = None) -> QuerySet[QueueItem]:
    """The routing items queued in the period at the schools in view (``in_scope``: another
    condition for them), acknowledged."""
    since, until = period_bounds(flt.district, flt.start, flt.end)
    return QueueItem.objects.filter(
        Q(queue__school_id__in=flt.school_ids) if in_scope is None else in_scope,
        origin=ItemOrigin.ROUTING,
        acknowledged_at__isnull=False,
        queued_at__gte=since,
        queued_at__lt=until,
    ).order_by()


def _median_at_rank(items: QuerySet[QueueItem], n: int) -> timedelta:
    """The exact median of ``n`` waits (the mean of the two middle ones when ``n`` is even),
    read at its rank in the order of the ``queue_item_ack_wait`` index: no sort of them all."""
    lower = (n - 1) // 2
    middle = list(
        items.annotate(wait=WAIT)
        .order_by("wait")
        .values_list("wait", flat=True)[lower : lower + 2 - n % 2]
    )
    return _middle(middle)


def _middle(middle: list[timedelta]) -> timedelta:
    """The median of the one or two middle waits, rounded to the microsecond as each
    database's direct computation rounds it."""
    if connection.vendor != "postgresql":
        return statistics.median(middle)  # (a + b) / 2, as the SQLite branch below
    return middle[0] + (middle[1] - middle[0]) / 2 if len(middle) == 2 else middle[0]


def _direct_ack_medians(flt: EquityFilter) -> AckMedians:
    """From the items: a COUNT per route, then its middle waits read off the index."""
    items = _acknowledged(flt)
    medians: AckMedians = {}
    if connection.vendor == "postgresql":
        # PERCENTILE_CONT sorts every wait (a million of them: over a second); counting and
        # then reading the one or two middle waits of each route off the index is exact too.
        for route, n in items.values_list("route").annotate(n=Count("*")):
            medians[route] = (_median_at_rank(items.filter(route=route), n), n)
    else:  # SQLite (development): the data there is small.
        waits: dict[str, list[timedelta]] = defaultdict(list)
        for route, queued_at, acknowledged_at in items.values_list(
            "route", "queued_at", "acknowledged_at"
        ):
            waits[route].append(acknowledged_at - queued_at)
        for route, values in waits.items():
            medians[route] = (statistics.median(values), len(values))
    return medians


def _ack_wait_histogram(flt: EquityFilter) -> dict[str, list[int]]:
    """{route: [acknowledged items per wait bucket]} of the period and schools in view, from
    the rollups. Most of a district's schools are read as the district's rows less the
    other schools' rows: a district-wide period reads a few hundred rows, not one per school."""
    periods = _rollup_rows(flt)
    district = set(School.objects.filter(district=flt.district).values_list("pk", flat=True))
    chosen = set(flt.school_ids)
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * (len(ACK_WAIT_LIMITS) + 1))

    def add(rows: QuerySet, sign: int) -> None:
        for route, bucket, n in rows.values_list("route", "bucket").annotate(n=Sum("items")):
            counts[route][bucket] += sign * n

    if chosen <= district and len(chosen) * 2 > len(district):
        add(AckWaitDistrictRollup.objects.filter(periods, district=flt.district).order_by(), 1)
        others = district - chosen
        if others:
            add(AckWaitRollup.objects.filter(periods, school_id__in=others).order_by(), -1)
    else:
        add(AckWaitRollup.objects.filter(periods, school_id__in=chosen).order_by(), 1)
    return counts


def _waits_at(items: QuerySet[QueueItem], buckets: list[int], ranks: list[int]) -> list[timedelta]:
    """The waits at ``ranks`` (0-based, ascending, one or two adjacent) among ``items``, whose
    counts per wait bucket are ``buckets``: each read from the items of its bucket alone (an
    index range scan of ``queue_item_ack_wait``), at its rank within the bucket."""
    found: list[timedelta] = []
    before = 0
    for bucket, n in enumerate(buckets):
        wanted = [rank - before for rank in ranks if before <= rank < before + n]
        if wanted:
            within = items
            if bucket > 0:
                within = within.filter(wait__gte=ACK_WAIT_LIMITS[bucket - 1])
            if bucket < len(ACK_WAIT_LIMITS):
                within = within.filter(wait__lt=ACK_WAIT_LIMITS[bucket])
            rows = within.order_by("wait").values_list("wait", flat=True)
            found += rows[wanted[0] : wanted[-1] + 1]
        before += n
    return found


def _rollup_ack_medians(flt: EquityFilter) -> AckMedians:
    """The same medians: the counts per route and wait bucket from the rollups, then the one
    or two middle waits read from the items of their bucket."""
    histogram = _ack_wait_histogram(flt)
    # The queues' ids, not a join: the index then returns the bucket's items in wait order.
    queues = list(
        ResponderQueue.objects.filter(school_id__in=flt.school_ids)
        .order_by()
        .values_list("pk", flat=True)
    )
    if connection.vendor == "postgresql":
        # One array parameter, not one per queue: the hundreds of queues of a district cost
        # more to bind than to look up. Cast to the column's type: PostgreSQL hashes a
        # constant array only for the column type's own operator.
        column = f"{connection.ops.quote_name(QueueItem._meta.db_table)}.queue_id"
        sql = f"{column} = ANY(%s::bigint[])"  # a fixed column; the ids are a parameter
        in_scope = Q(RawSQL(sql, (queues,), BooleanField()))  # noqa: S611
    else:
        in_scope = Q(queue_id__in=queues)
    medians: AckMedians = {}
    for route, buckets in histogram.items():
        n = sum(buckets)
        if n <= 0:
            continue
        items = _acknowledged(flt, in_scope).filter(route=route).annotate(wait=WAIT)
        ranks = sorted({(n - 1) // 2, n // 2})
        middle = _waits_at(items, buckets, ranks)
        if len(middle) != len(ranks):
            # The rollup disagrees with the items (not rebuilt after a bulk load?): say so and
            # answer from the items.
            logger.error("ack-wait rollups disagree with the items; run rollups_rebuild")
            return _direct_ack_medians(flt)
        medians[route] = (_middle(middle), n)
    return medians


@dataclass(frozen=True)
class Source:
    name: str
    incident_counts: Callable[[EquityFilter], IncidentCounts]
    student_cells: Callable[..., StudentCells]  # (EquityFilter, *, min_grade=None)
    handoffs: Callable[[EquityFilter], HandoffCounts]
    ack_medians: Callable[[EquityFilter], AckMedians]
    enrolment: Callable[[EquityFilter], dict[Cell, int]]

    def overrides(self, flt: EquityFilter) -> list[dict]:
        """Hand-offs by direction, most first."""
        out = [
            {
                "from": frm,
                "to": to,
                "label": f"{ROUTE_LABELS.get(frm, frm)} → {ROUTE_LABELS.get(to, to)}",
                "short": f"{frm} → {to}",
                "n": n,
            }
            for frm, to, n in self.handoffs(flt)
        ]
        return sorted(out, key=lambda r: (-r["n"], r["short"]))

    def ack_median_rows(self, flt: EquityFilter) -> list[dict]:
        """Median time from routing to acknowledgement of the routing items queued in the
        period, per route, in the routes' order."""
        medians = self.ack_medians(flt)
        return [
            {
                "route": route,
                "label": ROUTE_LABELS[route],
                "median": medians[route][0],
                "seconds": medians[route][0].total_seconds(),
                "n": medians[route][1],
            }
            for route in Route.values
            if route in medians
        ]


# --- enrolment ----------------------------------------------------------------------------------


def _direct_enrolment(flt: EquityFilter) -> dict[Cell, int]:
    """{cell: students enrolled}: the roster as it is now, one GROUP BY over the students."""
    rows = (
        Student.objects.filter(school_id__in=flt.school_ids)
        .values_list("school_id", STUDENT_DISABILITY, "race_ethnicity", "sex", "english_learner")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {(school, dis, race, sex, bool(el)): n for school, dis, race, sex, el, n in rows}


def _rollup_enrolment(flt: EquityFilter) -> dict[Cell, int]:
    """The same from the enrolment rollup that triggers on the roster keep (a few rows per
    school)."""
    rows = EnrolmentRollup.objects.filter(school_id__in=flt.school_ids, students__gt=0).values_list(
        "school_id", "disability", "race_ethnicity", "sex", "english_learner", "students"
    )
    return {(school, dis, race, sex, bool(el)): n for school, dis, race, sex, el, n in rows}


ROLLUPS = Source(
    "rollups",
    _rollup_incident_counts,
    _rollup_student_cells,
    _rollup_handoffs,
    _rollup_ack_medians,
    _rollup_enrolment,
)
DIRECT = Source(
    "direct",
    _direct_incident_counts,
    _direct_student_cells,
    _direct_handoffs,
    _direct_ack_medians,
    _direct_enrolment,
)
