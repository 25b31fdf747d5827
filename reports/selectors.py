"""Every read the reports pages and the CSV use: equity figures (the replay's: replay_selectors).

Permission scoping happens here: replays belong to a district admin's district; the equity
figures cover a district admin's district or a school administrator's own schools.

Equity definitions (CONTRACT.md, DOMAIN.md "What districts must report"):

- A **referral to law enforcement** and a **school-related arrest** are defined once, in
  ``reports/definitions.py`` (routed, notified or handed off to the SRO side, or resolved as a
  police outcome; an arrest is an ``arrest`` outcome).
- Students are counted as the Civil Rights Data Collection does: the student referred, i.e. the
  rostered students involved as **subject**. Targets and witnesses are not referred, so they
  are not counted; students named by the reporter but not on the roster cannot be grouped and
  count in the incident totals only.
- An **instance** is one subject student in one referred incident: a student referred twice
  is two instances and one (unduplicated) student.
- A student counts at the school where the incident happened (their school at the time), not
  where the roster enrols them now; a student referred at two schools counts once at each,
  and the district's figures add the schools' up, as the CRDC's school-level counts do.
- Groups come from the current roster: disability (none, IDEA = has an IEP, 504 only),
  race/ethnicity x sex, English learner x sex. The roster of the schools in view is the
  enrolment denominator of the risk ratio (a school's own enrolment for one school):
  (group's referred students / group's enrolled) / (all others' referred / all others' enrolled).
- Published counts of 10 or fewer (zero included) are hidden, and so are the counts that would
  give one away by subtraction from a total (complementary suppression, ``suppress``); a risk
  ratio is hidden when a count it is computed from is hidden (``ratio_hidden``). Every hidden
  count shows the same mark, SUPPRESSED.
"""

from __future__ import annotations

import statistics
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import TruncMonth

from incidents.facts import school_year_start
from incidents.models import (
    EventKind,
    Incident,
    IncidentStudent,
    InvolvementRole,
    ItemOrigin,
    QueueItem,
    Route,
    TimelineEvent,
)
from schools.models import District, RaceEthnicity, Role, School, Sex, Student, User
from schools.selectors import school_ids_for

from .definitions import REFERRAL_ROUTES, arrest_q, referral_q

SUPPRESS_AT_MOST = 10
SUPPRESSED = "*"  # one marker for every hidden count, small or hidden with a small one
LAW_ENFORCEMENT_ROUTES = REFERRAL_ROUTES
DISABILITY_GROUPS = (
    ("none", "Students without disabilities"),
    ("idea", "Students with disabilities (IDEA)"),
    ("504", "Students with disabilities (Section 504 only)"),
)
ROUTE_LABELS = dict(Route.choices)


# --- periods --------------------------------------------------------------------------------


def district_today(district: District) -> date:
    return datetime.now(zoneinfo.ZoneInfo(district.timezone)).date()


def school_year_of(day: date) -> tuple[date, date]:
    """The school year (Aug 1 - Jul 31) that ``day`` falls in."""
    start = school_year_start(day)
    return start, date(start.year + 1, 7, 31)


def school_year_label(start_year: int) -> str:
    return f"{start_year}-{str(start_year + 1)[-2:]}"


def period_bounds(district: District, start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, day after end 00:00) in the district's time zone."""
    zone = zoneinfo.ZoneInfo(district.timezone)
    return (
        datetime.combine(start, time.min, tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone),
    )


# --- equity: scope and filter ----------------------------------------------------------------


def equity_schools_for(user: User) -> QuerySet[School]:
    """A district admin's schools, or the schools where the user is an administrator."""
    ids = school_ids_for(user, {Role.ADMINISTRATOR})
    if not ids:
        raise PermissionDenied(
            "The equity dashboard is for district admins and school administrators."
        )
    return School.objects.filter(pk__in=ids).select_related("district").order_by("name")


@dataclass(frozen=True)
class EquityFilter:
    district: District
    schools: tuple[School, ...]
    start: date
    end: date

    @property
    def school_ids(self) -> list[int]:
        return [s.pk for s in self.schools]


def incidents_in(flt: EquityFilter) -> QuerySet[Incident]:
    since, until = period_bounds(flt.district, flt.start, flt.end)
    return Incident.objects.filter(
        school_id__in=flt.school_ids,
        occurred_at__gte=since,
        occurred_at__lt=until,
        route__isnull=False,
    ).order_by()


# --- equity: figures -------------------------------------------------------------------------


def shown(value: int, hidden: bool = False) -> str:
    """A published count: the marker when it is hidden (primary or complementary)."""
    return SUPPRESSED if hidden or is_small(value) else f"{value:,}"


def is_small(value: int) -> bool:
    """Primary suppression: a count of 10 or fewer, zero included (a published zero next to a
    total tells as much about a group as a published 3)."""
    return value <= SUPPRESS_AT_MOST


GROUP_MEASURES = ("enrolled", "instances", "students", "arrest_instances", "arrested_students")


@dataclass
class GroupRow:
    key: str
    label: str
    enrolled: int = 0
    instances: int = 0
    students: int = 0
    arrest_instances: int = 0
    arrested_students: int = 0
    risk_ratio: float | None = None
    ratio_suppressed: bool = False
    hidden: set[str] = field(default_factory=set)  # measures hidden, primary or complementary

    @property
    def rate(self) -> float | None:
        return self.students / self.enrolled if self.enrolled else None

    def cells(self) -> dict[str, str]:
        if self.ratio_suppressed:
            ratio = SUPPRESSED
        elif self.risk_ratio is None:
            ratio = "—"
        else:
            ratio = f"{self.risk_ratio:.2f}"
        cells = {name: shown(getattr(self, name), name in self.hidden) for name in GROUP_MEASURES}
        return {**cells, "risk_ratio": ratio}

    @property
    def display(self) -> dict[str, str]:
        return self.cells()

    @property
    def suppressed(self) -> bool:
        return "students" in self.hidden or is_small(self.students)


SCHOOL_MEASURES = (
    "referred_incidents",
    "arrest_incidents",
    "instances",
    "students",
    "arrested_students",
)


@dataclass
class SchoolRow:
    school: School
    incidents: int = 0
    referred_incidents: int = 0
    arrest_incidents: int = 0
    instances: int = 0
    students: int = 0
    arrested_students: int = 0
    hidden: set[str] = field(default_factory=set)

    @property
    def display(self) -> dict[str, str]:
        cells = {name: shown(getattr(self, name), name in self.hidden) for name in SCHOOL_MEASURES}
        # Routed incidents of every route, police or not: not a count of students referred.
        return {"incidents": f"{self.incidents:,}", **cells}


HEADLINE_MEASURES = ("referred_incidents", "arrest_incidents")
SUPPRESSED_ROUTES = LAW_ENFORCEMENT_ROUTES  # the monthly counts that are referrals


@dataclass
class EquityFigures:
    filter: EquityFilter
    incidents: int
    referred_incidents: int
    arrest_incidents: int
    total: GroupRow
    by_school: list[SchoolRow]
    by_disability: list[GroupRow]
    by_race_sex: list[GroupRow]
    by_english_learner_sex: list[GroupRow]
    routes_by_month: list[dict]
    overrides: list[dict]
    ack_medians: list[dict]
    routes: list[tuple[str, str]] = field(default_factory=lambda: list(Route.choices))
    hidden: set[str] = field(default_factory=set)

    @property
    def display(self) -> dict[str, str]:
        """The headline counts as published."""
        cells = {
            name: shown(getattr(self, name), name in self.hidden) for name in HEADLINE_MEASURES
        }
        return {"incidents": f"{self.incidents:,}", **cells}


# --- equity: suppression -----------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One published count: its value lives in ``values[name]``, and hiding it adds ``name``
    to ``hidden`` (a row's attributes and hidden set, or a month's counts and hidden set)."""

    values: dict
    hidden: set[str]
    name: str

    @property
    def value(self) -> int:
        return self.values[self.name]

    @property
    def is_hidden(self) -> bool:
        return self.name in self.hidden


@dataclass(frozen=True)
class Relation:
    """Published counts that add up: ``parts`` sum to ``wholes`` (a shown total; or, for the
    tie between the race/ethnicity x sex and English-learner x sex tables, the cells of one
    sex in the other table, which add up to the same number of students of that sex)."""

    parts: tuple[Figure, ...]
    wholes: tuple[Figure, ...] = ()


def _figure(row, name: str) -> Figure:
    return Figure(vars(row), row.hidden, name)


def _relations_of(rows: list, whole_rows: list, measures: Iterable[str]) -> list[Relation]:
    return [
        Relation(tuple(_figure(r, m) for r in rows), tuple(_figure(w, m) for w in whole_rows))
        for m in measures
    ]


def hide_small(figures: Iterable[Figure]) -> None:
    """Primary suppression: every count of 10 or fewer, zero included, is hidden."""
    for figure in figures:
        if is_small(figure.value):
            figure.hidden.add(figure.name)


def suppress(relations: list[Relation]) -> None:
    """Complementary suppression, in place, after ``hide_small``.

    A hidden count must not be recoverable by subtraction. Until nothing changes, in every
    relation:

    1. if exactly one of its counts is hidden, the rest give it away (total 25, IDEA 12,
       none 12: 504-only = 1), so the smallest other shown part is hidden too;
    2. if its whole is shown, the hidden parts together (whole minus the shown parts, which
       anyone can work out) must be more than 10: two hidden cells adding to 3, or a run of
       hidden zeros adding to 0, would publish a small count or pin every cell down. The
       smallest shown part is hidden until they are.

    The smallest part is taken (the first of equals, in the order of the table) so the least
    information is lost; a whole (a total) is never hidden: a shown total is over 10, and a
    relation whose only part is hidden cannot add up exactly to a shown whole. Hiding only
    grows, so the loop ends. It runs on the aggregated rows: no query, a few hundred steps.

    Rule 1 over every relation, including the sex ties between the race x sex and English-
    learner x sex tables, leaves no hidden count alone in any equation the page publishes;
    the tests check, by the rank of those equations, that no hidden count is determined by
    any combination of them either.
    """
    changed = True
    while changed:
        changed = False
        for relation in relations:
            shown_parts = [f for f in relation.parts if not f.is_hidden]
            hidden_parts = [f for f in relation.parts if f.is_hidden]
            hidden_wholes = sum(f.is_hidden for f in relation.wholes)
            alone = len(hidden_parts) + hidden_wholes == 1
            small_rest = (
                relation.wholes
                and not hidden_wholes
                and hidden_parts
                and sum(f.value for f in hidden_parts) <= SUPPRESS_AT_MOST
            )
            if shown_parts and (alone or small_rest):
                smallest = min(shown_parts, key=lambda f: f.value)
                smallest.hidden.add(smallest.name)
                changed = True


def ratio_hidden(row: GroupRow, totals: GroupRow) -> bool:
    """Whether a group's risk ratio is hidden.

    The ratio (s/e) / ((S - s)/(E - e)) is a function of four published counts: the group's
    students referred s and enrolled e, and the totals S and E. Given any three of them the
    ratio gives the fourth back (it is monotonic in each), so it is hidden whenever one of
    them is hidden, primary or complementary. When all four are shown, the ratio tells
    nothing that subtraction from the shown figures does not already, so it cannot reveal a
    hidden cell of this group or of any other (the others enter only through S - s and
    E - e). It is also hidden when all the other students referred (S - s) are 10 or fewer:
    a rate over so few students is not worth publishing.
    """
    return (
        bool({"students", "enrolled"} & row.hidden)
        or bool({"students", "enrolled"} & totals.hidden)
        or is_small(totals.students - row.students)
    )


# A referred student's cell: (the school where the incident happened, disability group,
# race/ethnicity, sex, English learner); an enrolled student's: (school of enrolment, ...).
# At one school each student falls in exactly one cell, so the unduplicated student counts of
# cells add up exactly to any coarser group of that school (a disability group, ...).
Cell = tuple[int, str, str, str, bool]

STUDENT_DISABILITY = Case(
    When(iep=True, then=Value("idea")),
    When(section_504=True, then=Value("504")),
    default=Value("none"),
)
SUBJECT_DISABILITY = Case(
    When(student__iep=True, then=Value("idea")),
    When(student__section_504=True, then=Value("504")),
    default=Value("none"),
)


def _student_cells(flt: EquityFilter) -> dict[Cell, dict[str, int]]:
    """Referral and arrest counts of subject students per cell: one GROUP BY."""
    arrested = arrest_q(via_incident=True)
    # The referred incidents first (a small set, from the routed-incidents index), then their
    # subjects: not every subject joined to every incident and filtered afterwards.
    referred = incidents_in(flt).filter(referral_q()).values("pk")
    rows = (
        IncidentStudent.objects.filter(
            role=InvolvementRole.SUBJECT,
            student__isnull=False,
            incident_id__in=referred,
        )
        .values_list(
            "incident__school_id",
            SUBJECT_DISABILITY,
            "student__race_ethnicity",
            "student__sex",
            "student__english_learner",
        )
        .annotate(
            instances=Count("pk"),
            students=Count("student_id", distinct=True),
            arrest_instances=Count("pk", filter=arrested),
            arrested_students=Count("student_id", distinct=True, filter=arrested),
        )
        .order_by()
    )
    keys = ("instances", "students", "arrest_instances", "arrested_students")
    return {
        (school, dis, race, sex, bool(el)): dict(zip(keys, counts, strict=True))
        for school, dis, race, sex, el, *counts in rows
    }


def _enrolment_cells(flt: EquityFilter) -> dict[Cell, int]:
    rows = (
        Student.objects.filter(school_id__in=flt.school_ids)
        .values_list("school_id", STUDENT_DISABILITY, "race_ethnicity", "sex", "english_learner")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {(school, dis, race, sex, bool(el)): n for school, dis, race, sex, el, n in rows}


def _group(
    key: str,
    label: str,
    member,
    referred: dict[Cell, dict[str, int]],
    enrolled: dict[Cell, int],
    totals: GroupRow,
) -> GroupRow:
    row = GroupRow(key=key, label=label)
    row.enrolled = sum(n for cell, n in enrolled.items() if member(cell))
    for cell, counts in referred.items():
        if member(cell):
            row.instances += counts["instances"]
            row.students += counts["students"]
            row.arrest_instances += counts["arrest_instances"]
            row.arrested_students += counts["arrested_students"]
    row.risk_ratio = risk_ratio(row.students, row.enrolled, totals.students, totals.enrolled)
    return row


def risk_ratio(
    group_referred: int, group_enrolled: int, total_referred: int, total_enrolled: int
) -> float | None:
    """The group's rate over the rate of all other students (None when undefined)."""
    other_referred = total_referred - group_referred
    other_enrolled = total_enrolled - group_enrolled
    if not (group_enrolled and other_enrolled and other_referred):
        return None
    return (group_referred / group_enrolled) / (other_referred / other_enrolled)


def _month_starts(flt: EquityFilter) -> list[date]:
    months, day = [], flt.start.replace(day=1)
    while day <= flt.end:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _incident_rollup(flt: EquityFilter) -> dict[tuple[int, date, str], tuple[int, int, int]]:
    """{(school, month, route): (incidents, referred, with an arrest)}: one pass, one GROUP BY."""
    zone = zoneinfo.ZoneInfo(flt.district.timezone)
    months = _month_starts(flt)
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


def _overrides(flt: EquityFilter) -> list[dict]:
    since, until = period_bounds(flt.district, flt.start, flt.end)
    rows = (
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
    out = [
        {
            "from": frm,
            "to": to,
            "label": f"{ROUTE_LABELS.get(frm, frm)} → {ROUTE_LABELS.get(to, to)}",
            "short": f"{frm} → {to}",
            "n": n,
        }
        for frm, to, n in rows
    ]
    return sorted(out, key=lambda r: (-r["n"], r["short"]))


def _median_at_rank(items: QuerySet[QueueItem], wait, n: int) -> timedelta:
    """The exact median of ``n`` waits (the mean of the two middle ones when ``n`` is even),
    read at its rank in the order of the ``queue_item_ack_wait`` index: no sort of them all."""
    lower = (n - 1) // 2
    middle = list(
        items.annotate(wait=wait)
        .order_by("wait")
        .values_list("wait", flat=True)[lower : lower + 2 - n % 2]
    )
    return middle[0] + (middle[1] - middle[0]) / 2 if len(middle) == 2 else middle[0]


def _ack_medians(flt: EquityFilter) -> list[dict]:
    """Median time from routing to acknowledgement of routing items queued in the period."""
    since, until = period_bounds(flt.district, flt.start, flt.end)
    items = QueueItem.objects.filter(
        origin=ItemOrigin.ROUTING,
        acknowledged_at__isnull=False,
        queue__school_id__in=flt.school_ids,
        queued_at__gte=since,
        queued_at__lt=until,
    ).order_by()
    wait = ExpressionWrapper(F("acknowledged_at") - F("queued_at"), DurationField())
    medians: dict[str, tuple[timedelta, int]] = {}
    if connection.vendor == "postgresql":
        # PERCENTILE_CONT sorts every wait (a million of them: over a second); counting and
        # then reading the one or two middle waits of each route off the index is exact too.
        for route, n in items.values_list("route").annotate(n=Count("*")):
            medians[route] = (_median_at_rank(items.filter(route=route), wait, n), n)
    else:  # SQLite (development): the data there is small.
        waits: dict[str, list[timedelta]] = defaultdict(list)
        for route, queued_at, acknowledged_at in items.values_list(
            "route", "queued_at", "acknowledged_at"
        ):
            waits[route].append(acknowledged_at - queued_at)
        for route, values in waits.items():
            medians[route] = (statistics.median(values), len(values))
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


@contextmanager
def report_snapshot():
    """A read-only transaction for a report's queries (PostgreSQL: one snapshot, so the
    figures agree with one another; memory to sort and hash in; no JIT)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if outermost:
                    # One snapshot for every query: the figures agree with one another, and
                    # each median is read at its rank among the very items that were counted.
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # Big aggregates over a million rows: sort and hash in memory, and skip the
                # JIT compilation that costs more than it saves at this size.
                cursor.execute("SET LOCAL work_mem = '64MB'")
                cursor.execute("SET LOCAL jit = off")
        yield


def equity_figures(flt: EquityFilter, *, operations: bool = True) -> EquityFigures:
    """Every figure of the dashboard; ``operations=False`` skips the routes over time,
    overrides and acknowledgement times (the CSV needs only the referral figures)."""
    with report_snapshot():
        return _equity_figures(flt, operations=operations)


def _equity_figures(flt: EquityFilter, *, operations: bool) -> EquityFigures:
    referred = _student_cells(flt)
    enrolled = _enrolment_cells(flt)
    incidents = _incident_rollup(flt)
    totals = GroupRow(key="all", label="All students")
    totals.enrolled = sum(enrolled.values())
    for counts in referred.values():
        totals.instances += counts["instances"]
        totals.students += counts["students"]
        totals.arrest_instances += counts["arrest_instances"]
        totals.arrested_students += counts["arrested_students"]

    def rows(groups) -> list[GroupRow]:
        return [
            _group(key, label, member, referred, enrolled, totals) for key, label, member in groups
        ]

    by_disability = rows(
        (key, label, lambda cell, key=key: cell[1] == key) for key, label in DISABILITY_GROUPS
    )
    present_sexes = {cell[3] for cell in enrolled} | {cell[3] for cell in referred}
    sexes = [(code, label) for code, label in Sex.choices if code in present_sexes]
    by_race_sex = rows(
        (
            f"{race}-{sex}",
            f"{race_label}, {sex_label.lower()}",
            lambda cell, race=race, sex=sex: cell[2] == race and cell[3] == sex,
        )
        for race, race_label in RaceEthnicity.choices
        for sex, sex_label in sexes
    )
    by_el_sex = rows(
        (
            f"{'el' if el else 'not-el'}-{sex}",
            f"{'English learners' if el else 'Not English learners'}, {sex_label.lower()}",
            lambda cell, el=el, sex=sex: cell[4] == el and cell[3] == sex,
        )
        for el in (True, False)
        for sex, sex_label in sexes
    )

    schools = {s.pk: SchoolRow(school=s) for s in flt.schools}
    months: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(Route.values, 0))
    for (school_id, month, route), (n, ref, arr) in incidents.items():
        row = schools[school_id]
        row.incidents += n
        row.referred_incidents += ref
        row.arrest_incidents += arr
        months[month][route] += n
    for cell, counts in referred.items():
        row = schools.get(cell[0])
        if row is not None:
            row.instances += counts["instances"]
            row.students += counts["students"]
            row.arrested_students += counts["arrested_students"]
    routes_by_month = [
        {
            "month": month,
            "label": month.strftime("%b %Y"),
            "counts": counts,
            "total": sum(counts.values()),
            "hidden": set(),
        }
        for month, counts in sorted(months.items())
    ]
    figures = EquityFigures(
        filter=flt,
        incidents=sum(r.incidents for r in schools.values()),
        referred_incidents=sum(r.referred_incidents for r in schools.values()),
        arrest_incidents=sum(r.arrest_incidents for r in schools.values()),
        total=totals,
        by_school=list(schools.values()),
        by_disability=by_disability,
        by_race_sex=by_race_sex,
        by_english_learner_sex=by_el_sex,
        routes_by_month=routes_by_month,
        overrides=_overrides(flt) if operations else [],
        ack_medians=_ack_medians(flt) if operations else [],
    )
    _suppress_figures(figures, sexes=[code for code, _label in sexes])
    if not operations:
        figures.routes_by_month = []
    return figures


def _suppress_figures(figures: EquityFigures, *, sexes: list[str]) -> None:
    """Hide every published count of 10 or fewer and, with it, what would give it away.

    The counts that add up on the page and in the CSV, for each measure:
    - each breakdown (disability, race/ethnicity x sex, English learner x sex, school) adds
      up to the total row (schools: to the headline incident counts for incidents);
    - the race/ethnicity x sex cells of one sex and the English-learner x sex cells of the
      same sex add up to the same number (the students of that sex), which ties the two
      tables together: without it, hiding a male cell with a female one in one table would
      leave each recoverable from the other table's cells of that sex (a relation each way:
      when one side is all shown, it is the whole of the other);
    - each month's routes add up to the month's routed incidents (shown exactly: every route,
      police or not). Only the police routes (SRO, co-responder) are small counts to hide;
      another route is hidden only to protect them.
    """
    totals = figures.total
    groups = [*figures.by_disability, *figures.by_race_sex, *figures.by_english_learner_sex]
    hide_small(_figure(row, m) for row in [totals, *groups] for m in GROUP_MEASURES)
    hide_small(_figure(row, m) for row in figures.by_school for m in SCHOOL_MEASURES)
    hide_small(_figure(figures, m) for m in HEADLINE_MEASURES)
    relations = [
        *_relations_of(figures.by_disability, [totals], GROUP_MEASURES),
        *_relations_of(figures.by_race_sex, [totals], GROUP_MEASURES),
        *_relations_of(figures.by_english_learner_sex, [totals], GROUP_MEASURES),
        *_relations_of(figures.by_school, [figures], HEADLINE_MEASURES),
        *_relations_of(figures.by_school, [totals], ("instances", "students", "arrested_students")),
    ]
    for sex in sexes:
        race = [row for row in figures.by_race_sex if row.key.endswith(f"-{sex}")]
        learners = [row for row in figures.by_english_learner_sex if row.key.endswith(f"-{sex}")]
        relations += _relations_of(race, learners, GROUP_MEASURES)
        relations += _relations_of(learners, race, GROUP_MEASURES)
    for month in figures.routes_by_month:
        parts = tuple(Figure(month["counts"], month["hidden"], route) for route in Route.values)
        hide_small(f for f in parts if f.name in SUPPRESSED_ROUTES)
        relations.append(Relation(parts, (Figure(month, set(), "total"),)))
    suppress(relations)
    for row in groups:
        row.ratio_suppressed = ratio_hidden(row, totals)
    for month in figures.routes_by_month:
        month["cells"] = {
            route: shown(n, hidden=True) if route in month["hidden"] else f"{n:,}"
            for route, n in month["counts"].items()
        }


# --- CSV ---------------------------------------------------------------------------------

CSV_HEADER = (
    "Category",
    "Group",
    "Students enrolled",
    "Instances of referral to law enforcement",
    "Students referred to law enforcement",
    "Students with a school-related arrest",
    "Risk ratio (referred students)",
)
# OWASP CSV injection: a cell starting with one of these may run as a formula (a TAB or CR
# before = is skipped by some spreadsheets, so they count as well).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A spreadsheet never runs a cell as a formula: one that starts with = + - @, TAB or CR
    is quoted."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def equity_csv_rows(figures: EquityFigures) -> list[list[str]]:
    """Rows shaped like the CRDC referral and arrest items, suppression applied."""
    out = [list(CSV_HEADER)]

    def add(category: str, row: GroupRow) -> None:
        cells = row.cells()
        out.append(
            [
                csv_cell(v)
                for v in (
                    category,
                    row.label,
                    cells["enrolled"],
                    cells["instances"],
                    cells["students"],
                    cells["arrested_students"],
                    cells["risk_ratio"],
                )
            ]
        )

    add("Total", figures.total)
    for row in figures.by_disability:
        add("Disability", row)
    for row in figures.by_race_sex:
        add("Race/ethnicity x sex", row)
    for row in figures.by_english_learner_sex:
        add("English learner x sex", row)
    for school in figures.by_school:
        cells = school.display
        out.append(
            [
                csv_cell(v)
                for v in (
                    "School",
                    f"{school.school.name} ({school.school.code})",
                    "",
                    cells["instances"],
                    cells["students"],
                    cells["arrested_students"],
                    "",
                )
            ]
        )
    return out
