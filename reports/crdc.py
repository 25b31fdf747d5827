"""The CRDC referrals-and-arrests file: one row per school, CRDC public-use column names.

What is counted (``reports/definitions.py``): the unduplicated **students** referred to law
enforcement (``REF``) and with a school-related arrest (``ARR``), per school and school year,
and the **instances** (one subject student in one referred or arrest incident).

- Counted from the per-student rollup (``incidents/rollup_models.py``: a row per referred
  student, school and day), exactly as from the incidents (``counts.DIRECT``).
- A student counts at the school where the incident happened (their school at the time), in
  the district's school year (Aug 1 - Jul 31, in the district's time zone). Only rostered
  students involved as subject count; K-12 only: students in pre-K (grade PK) are left out,
  as the CRDC's discipline items are for K-12.
- Groups come from the roster: without disabilities (``DISCWODIS``); with an IEP
  (``DISCWDIS_..._IDEA``); with a Section 504 plan and no IEP (``DISCWDIS_..._504``);
  race/ethnicity (the CRDC's seven codes); English learners (``LEP``).
- Sex: the CRDC's race x sex, EL x sex and 504 x sex items are male and female. A student
  whose roster sex is neither M nor F (X, nonbinary) is never put in an M or F cell; they are
  counted in the ``_X`` total columns after the CRDC ones (``TOT_DISCWODIS_REF_X``,
  ``TOT_DISCWDIS_REF_IDEA_X``, ``SCH_DISCWDIS_REF_504_X`` and the ``ARR`` ones), the way the
  2021-22 and later collections take nonbinary counts from districts that record them. Those
  columns are blank (not collected) when no student in the district's roster has sex X.
- Instances: ``SCH_REF_INSTANCES`` and ``SCH_ARR_INSTANCES`` (not CRDC public-use names: the
  CRDC asks for unduplicated students; the instance counts are for the district's own check).
- A zero is ``0``; a figure not collected is blank (the ``_X`` columns above, and every count
  of a school that teaches no K-12 grade).
- Suppressed by default, like the dashboard: every count of 10 or fewer (zero included) is
  ``*``, and so is the smallest other count wherever a hidden one could be worked out by
  subtraction (each race cell row adds up to its ``TOT_`` column; a school's totals of every
  group add up to the school's students referred, which the dashboard publishes).
  ``suppress=0`` gives the exact submission file to district admins, and is logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from schools.models import District, RaceEthnicity, School, Sex, Student

from .counts import ROLLUPS, Source
from .scope import EquityFilter, report_snapshot, school_year_of
from .suppression import SUPPRESSED, Figure, Relation, hide_small, suppress

RACES = ("HI", "AM", "AS", "HP", "BL", "WH", "TR")
assert set(RACES) == set(RaceEthnicity.values)
SEXES = ("M", "F")
OTHER_SEX = "X"
assert set(Sex.values) == {*SEXES, OTHER_SEX}
MEASURES = ("REF", "ARR")
K12_LOWEST_GRADE = 0  # kindergarten


def _columns(measure: str) -> list[str]:
    return [
        *(f"SCH_DISCWODIS_{measure}_{race}_{sex}" for race in RACES for sex in SEXES),
        *(f"SCH_DISCWODIS_{measure}_LEP_{sex}" for sex in SEXES),
        *(f"TOT_DISCWODIS_{measure}_{sex}" for sex in SEXES),
        *(f"SCH_DISCWDIS_{measure}_IDEA_{race}_{sex}" for race in RACES for sex in SEXES),
        *(f"SCH_DISCWDIS_{measure}_LEP_IDEA_{sex}" for sex in SEXES),
        *(f"SCH_DISCWDIS_{measure}_504_{sex}" for sex in SEXES),
        *(f"TOT_DISCWDIS_{measure}_IDEA_{sex}" for sex in SEXES),
    ]


def _other_sex_columns(measure: str) -> list[str]:
    return [
        f"TOT_DISCWODIS_{measure}_X",
        f"TOT_DISCWDIS_{measure}_IDEA_X",
        f"SCH_DISCWDIS_{measure}_504_X",
    ]


INSTANCE_COLUMNS = ["SCH_REF_INSTANCES", "SCH_ARR_INSTANCES"]
COUNT_COLUMNS = [
    *_columns("REF"),
    *_columns("ARR"),
    *_other_sex_columns("REF"),
    *_other_sex_columns("ARR"),
    *INSTANCE_COLUMNS,
]
HEADER = ["SCHID", "SCH_NAME", *COUNT_COLUMNS]


def cell_columns(measure: str, disability: str, race: str, sex: str, el: bool) -> list[str]:
    """The columns one student of these attributes counts in (for one measure)."""
    if sex not in SEXES:
        return {
            "none": [f"TOT_DISCWODIS_{measure}_X"],
            "idea": [f"TOT_DISCWDIS_{measure}_IDEA_X"],
            "504": [f"SCH_DISCWDIS_{measure}_504_X"],
        }[disability]
    if disability == "none":
        cols = [f"SCH_DISCWODIS_{measure}_{race}_{sex}", f"TOT_DISCWODIS_{measure}_{sex}"]
        return cols + ([f"SCH_DISCWODIS_{measure}_LEP_{sex}"] if el else [])
    if disability == "idea":
        cols = [f"SCH_DISCWDIS_{measure}_IDEA_{race}_{sex}", f"TOT_DISCWDIS_{measure}_IDEA_{sex}"]
        return cols + ([f"SCH_DISCWDIS_{measure}_LEP_IDEA_{sex}"] if el else [])
    return [f"SCH_DISCWDIS_{measure}_504_{sex}"]


@dataclass
class CrdcRow:
    school: School
    counts: dict[str, int | None]  # None: not collected
    hidden: set[str] = field(default_factory=set)

    def cells(self, *, suppressed: bool) -> list[str]:
        out = [self.school.code, self.school.name]
        for column in COUNT_COLUMNS:
            value = self.counts[column]
            if value is None:
                out.append("")
            elif suppressed and column in self.hidden:
                out.append(SUPPRESSED)
            else:
                out.append(str(value))
        return out


@dataclass(frozen=True)
class CrdcFile:
    district: District
    year: int
    start: date
    end: date
    rows: list[CrdcRow]
    suppressed: bool

    def table(self) -> list[list[str]]:
        return [HEADER, *(row.cells(suppressed=self.suppressed) for row in self.rows)]


def crdc_year_bounds(year: int) -> tuple[date, date]:
    return school_year_of(date(year, 8, 1))


def crdc_file(
    *, district: District, year: int, suppressed: bool = True, source: Source = ROLLUPS
) -> CrdcFile:
    """Every school of the district, counted over the school year starting in August ``year``
    (``source``: the rollups, or ``counts.DIRECT`` for checks)."""
    with report_snapshot():
        return _crdc_file(district=district, year=year, suppressed=suppressed, source=source)


def _crdc_file(*, district: District, year: int, suppressed: bool, source: Source) -> CrdcFile:
    start, end = crdc_year_bounds(year)
    schools = list(School.objects.filter(district=district).order_by("code"))
    collects_other_sex = Student.objects.filter(district=district, sex=OTHER_SEX).exists()
    rows: dict[int, CrdcRow] = {}
    for school in schools:
        collected = school.grade_high >= K12_LOWEST_GRADE
        counts: dict[str, int | None] = dict.fromkeys(COUNT_COLUMNS, 0 if collected else None)
        if collected and not collects_other_sex:
            for measure in MEASURES:
                counts.update(dict.fromkeys(_other_sex_columns(measure)))
        rows[school.pk] = CrdcRow(school=school, counts=counts)

    # The unduplicated students per school and group over the year: the per-student rollup
    # keeps a row per referred student and day, so COUNT(DISTINCT student) over the year's
    # rows is exactly the direct count (``counts.DIRECT``, which the tests compare).
    flt = EquityFilter(district=district, schools=tuple(schools), start=start, end=end)
    cells = source.student_cells(flt, min_grade=K12_LOWEST_GRADE)
    for (school_id, dis, race, sex, el), found in cells.items():
        ref_i, ref_s = found["instances"], found["students"]
        arr_i, arr_s = found["arrest_instances"], found["arrested_students"]
        row = rows[school_id]
        if row.counts["SCH_REF_INSTANCES"] is None:
            continue  # a school with no K-12 grade: not collected (its roster is out of date)
        for measure, students in (("REF", ref_s), ("ARR", arr_s)):
            for column in cell_columns(measure, dis, race, sex, bool(el)):
                if row.counts[column] is not None:
                    row.counts[column] += students
        row.counts["SCH_REF_INSTANCES"] += ref_i
        row.counts["SCH_ARR_INSTANCES"] += arr_i

    out = CrdcFile(
        district=district,
        year=year,
        start=start,
        end=end,
        rows=[rows[s.pk] for s in schools],
        suppressed=suppressed,
    )
    if suppressed:
        _suppress(out.rows)
    return out


def _suppress(rows: list[CrdcRow]) -> None:
    """Primary and complementary suppression of each school's row (see the module docstring)."""
    relations: list[Relation] = []
    for row in rows:
        if row.counts["SCH_REF_INSTANCES"] is None:
            continue
        counts, hidden = row.counts, row.hidden

        def fig(column: str, counts=counts, hidden=hidden) -> Figure:
            return Figure(counts, hidden, column)

        hide_small(fig(c) for c in COUNT_COLUMNS if counts[c] is not None)
        for measure in MEASURES:
            for sex in SEXES:
                relations.append(
                    Relation(
                        tuple(fig(f"SCH_DISCWODIS_{measure}_{r}_{sex}") for r in RACES),
                        (fig(f"TOT_DISCWODIS_{measure}_{sex}"),),
                    )
                )
                relations.append(
                    Relation(
                        tuple(fig(f"SCH_DISCWDIS_{measure}_IDEA_{r}_{sex}") for r in RACES),
                        (fig(f"TOT_DISCWDIS_{measure}_IDEA_{sex}"),),
                    )
                )
            totals = (
                [f"TOT_DISCWODIS_{measure}_{sex}" for sex in SEXES]
                + [f"TOT_DISCWDIS_{measure}_IDEA_{sex}" for sex in SEXES]
                + [f"SCH_DISCWDIS_{measure}_504_{sex}" for sex in SEXES]
            )
            totals += [c for c in _other_sex_columns(measure) if counts[c] is not None]
            # The school's students referred (or arrested): published on the dashboard, so it
            # is taken as shown whatever it shows there (hiding more, never less).
            whole = {"all": sum(counts[c] for c in totals)}
            relations.append(
                Relation(tuple(fig(c) for c in totals), (Figure(whole, set(), "all"),))
            )
    suppress(relations)
