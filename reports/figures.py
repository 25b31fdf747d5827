"""The equity dashboard's figures: referrals to law enforcement and arrests by group.

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

The counts come from the rollups (``reports/counts.py``), the suppression rules from
``reports/suppression.py``; this module puts them together into the rows the page and the
CSV show.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from incidents.models import Route
from schools.models import RaceEthnicity, School, Sex

from .counts import (
    ROLLUPS,
    STUDENT_MEASURES,
    Cell,
    Source,
)
from .definitions import REFERRAL_ROUTES
from .scope import EquityFilter, report_snapshot
from .suppression import (
    SUPPRESSED,
    Figure,
    Relation,
    figure_of,
    hide_small,
    is_small,
    ratio_hidden,
    relations_of,
    risk_ratio,
    shown,
    suppress,
)

LAW_ENFORCEMENT_ROUTES = REFERRAL_ROUTES
DISABILITY_GROUPS = (
    ("none", "Students without disabilities"),
    ("idea", "Students with disabilities (IDEA)"),
    ("504", "Students with disabilities (Section 504 only)"),
)

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


def _group_rows(
    groups: list[tuple[str, str, object]],
    key_of,
    referred: dict[Cell, dict[str, int]],
    enrolled: dict[Cell, int],
    totals: GroupRow,
) -> list[GroupRow]:
    """One row per (key, label, match) of ``groups``: the cells whose ``key_of(cell)`` is
    ``match``, added up in one pass over the cells."""
    rows = {match: GroupRow(key=key, label=label) for key, label, match in groups}
    for cell, n in enrolled.items():
        row = rows.get(key_of(cell))
        if row is not None:
            row.enrolled += n
    for cell, counts in referred.items():
        row = rows.get(key_of(cell))
        if row is not None:
            row.instances += counts["instances"]
            row.students += counts["students"]
            row.arrest_instances += counts["arrest_instances"]
            row.arrested_students += counts["arrested_students"]
    for row in rows.values():
        row.risk_ratio = risk_ratio(row.students, row.enrolled, totals.students, totals.enrolled)
    return list(rows.values())


def equity_figures(
    flt: EquityFilter, *, operations: bool = True, source: Source = ROLLUPS
) -> EquityFigures:
    """Every figure of the dashboard; ``operations=False`` skips the routes over time,
    overrides and acknowledgement times (the CSV needs only the referral figures).
    ``source``: where the counts come from (``counts.DIRECT``: the source rows, for checks
    and the benchmark)."""
    with report_snapshot():
        return _equity_figures(flt, operations=operations, source=source)


def _equity_figures(flt: EquityFilter, *, operations: bool, source: Source) -> EquityFigures:
    referred = source.student_cells(flt)
    enrolled = source.enrolment(flt)
    incidents = source.incident_counts(flt)
    # One pass over the cells (thousands): each school's counts, and each group's (at most a
    # hundred: the district's groups add up the schools' cells); the total adds up the groups.
    by_school_counts: dict[int, list[int]] = {}
    by_group_counts: dict[tuple, list[int]] = {}
    for (school_id, *group), counts in referred.items():
        values = [counts[m] for m in STUDENT_MEASURES]
        for table, key in ((by_school_counts, school_id), (by_group_counts, tuple(group))):
            summed = table.get(key)
            if summed is None:
                table[key] = values.copy()
            else:
                for i, n in enumerate(values):
                    summed[i] += n
    group_referred = {
        (None, *group): dict(zip(STUDENT_MEASURES, values, strict=True))
        for group, values in by_group_counts.items()
    }
    group_enrolled: dict[Cell, int] = defaultdict(int)
    for (_school, *group), n in enrolled.items():
        group_enrolled[(None, *group)] += n
    totals = GroupRow(key="all", label="All students")
    totals.enrolled = sum(group_enrolled.values())
    for i, measure in enumerate(STUDENT_MEASURES):
        setattr(totals, measure, sum(values[i] for values in by_group_counts.values()))

    def rows(groups, key_of) -> list[GroupRow]:
        return _group_rows(list(groups), key_of, group_referred, group_enrolled, totals)

    # A cell is (school, disability, race/ethnicity, sex, English learner).
    by_disability = rows(
        ((key, label, key) for key, label in DISABILITY_GROUPS), lambda cell: cell[1]
    )
    present_sexes = {cell[3] for cell in enrolled} | {cell[3] for cell in referred}
    sexes = [(code, label) for code, label in Sex.choices if code in present_sexes]
    by_race_sex = rows(
        (
            (f"{race}-{sex}", f"{race_label}, {sex_label.lower()}", (race, sex))
            for race, race_label in RaceEthnicity.choices
            for sex, sex_label in sexes
        ),
        lambda cell: (cell[2], cell[3]),
    )
    by_el_sex = rows(
        (
            (
                f"{'el' if el else 'not-el'}-{sex}",
                f"{'English learners' if el else 'Not English learners'}, {sex_label.lower()}",
                (el, sex),
            )
            for el in (True, False)
            for sex, sex_label in sexes
        ),
        lambda cell: (cell[4], cell[3]),
    )

    schools = {s.pk: SchoolRow(school=s) for s in flt.schools}
    months: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(Route.values, 0))
    for (school_id, month, route), (n, ref, arr) in incidents.items():
        row = schools[school_id]
        row.incidents += n
        row.referred_incidents += ref
        row.arrest_incidents += arr
        months[month][route] += n
    for school_id, (instances, students, _arrests, arrested) in by_school_counts.items():
        row = schools.get(school_id)
        if row is not None:
            row.instances += instances
            row.students += students
            row.arrested_students += arrested
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
        overrides=source.overrides(flt) if operations else [],
        ack_medians=source.ack_median_rows(flt) if operations else [],
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
    hide_small(figure_of(row, m) for row in [totals, *groups] for m in GROUP_MEASURES)
    hide_small(figure_of(row, m) for row in figures.by_school for m in SCHOOL_MEASURES)
    hide_small(figure_of(figures, m) for m in HEADLINE_MEASURES)
    relations = [
        *relations_of(figures.by_disability, [totals], GROUP_MEASURES),
        *relations_of(figures.by_race_sex, [totals], GROUP_MEASURES),
        *relations_of(figures.by_english_learner_sex, [totals], GROUP_MEASURES),
        *relations_of(figures.by_school, [figures], HEADLINE_MEASURES),
        *relations_of(figures.by_school, [totals], ("instances", "students", "arrested_students")),
    ]
    for sex in sexes:
        race = [row for row in figures.by_race_sex if row.key.endswith(f"-{sex}")]
        learners = [row for row in figures.by_english_learner_sex if row.key.endswith(f"-{sex}")]
        relations += relations_of(race, learners, GROUP_MEASURES)
        relations += relations_of(learners, race, GROUP_MEASURES)
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
