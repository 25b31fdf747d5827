"""Small-count suppression of the equity figures, attacked as a reader would: subtract the
shown counts from the shown totals (and combine every equation the page publishes) and try to
get a hidden count back. Hand-computed examples; each fails under cell-by-cell suppression."""

import csv
import io
import re
from datetime import date, datetime
from fractions import Fraction

from django.utils import timezone

from reports.figures import GROUP_MEASURES, EquityFilter, GroupRow, equity_figures
from reports.suppression import SUPPRESSED, Relation, hide_small, relations_of, suppress
from schools.models import Role
from tests.factories import StudentFactory, user_with_role
from tests.reports.helpers import routed_incident

YEAR = (date(2025, 8, 1), date(2026, 7, 31))
CSV_MEASURES = ("enrolled", "instances", "students", "arrested_students")


def students(school, n, **flags):
    return [StudentFactory(school=school, **flags) for _ in range(n)]


def refer(school, kids, route="sro"):
    for kid in kids:
        routed_incident(school, route, subjects=[kid])


# --- the attacker ------------------------------------------------------------------------


def rank(rows: list[list[Fraction]]) -> int:
    rows = [list(r) for r in rows]
    rank, cols = 0, len(rows[0]) if rows else 0
    for col in range(cols):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col]), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][col]:
                factor = rows[i][col] / rows[rank][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank], strict=True)]
        rank += 1
    return rank


def recoverable(shown: dict, equations: list[list[tuple[object, int]]]) -> list:
    """The hidden figures that the published equations pin down: a hidden figure x is
    determined iff no solution of the homogeneous system moves it, i.e. iff its column is
    not in the span of the other hidden columns (the rank drops without it)."""
    hidden = sorted((k for k, v in shown.items() if v == SUPPRESSED), key=repr)
    if not hidden:
        return []
    index = {k: i for i, k in enumerate(hidden)}
    matrix = []
    for members in equations:
        row = [Fraction(0)] * len(hidden)
        for key, sign in members:
            if key in index:
                row[index[key]] += sign
        matrix.append(row)
    full = rank(matrix)
    return [key for key, i in index.items() if rank([r[:i] + r[i + 1 :] for r in matrix]) < full]


def number(text: str) -> int:
    return int(text.replace(",", ""))


def check_tables(shown: dict, sums: list[tuple[list, object]], ties: list[tuple[list, list]]):
    """``sums``: parts that add up to a whole; ``ties``: two lists of parts with equal sums."""
    both_ways = [(left, right) for left, right in ties] + [(right, left) for left, right in ties]
    for parts, wholes in [(parts, [whole]) for parts, whole in sums] + both_ways:
        hidden = [p for p in parts if shown[p] == SUPPRESSED]
        if any(shown[w] == SUPPRESSED for w in wholes) or not hidden:
            continue
        # The plain subtraction attack: total minus the shown parts.
        rest = sum(number(shown[w]) for w in wholes) - sum(
            number(shown[p]) for p in parts if p not in hidden
        )
        assert len(hidden) >= 2, f"{hidden[0]} = {rest}, by subtraction"
        assert rest > 10, f"the hidden {hidden} add up to {rest}"
    equations = [[*((p, 1) for p in parts), (whole, -1)] for parts, whole in sums]
    equations += [[*((p, 1) for p in left), *((p, -1) for p in right)] for left, right in ties]
    assert recoverable(shown, equations) == []


def page_tables(figures):
    """Every count the page shows, by (table, row, measure), and how they add up."""
    shown, sums, ties = {}, [], []
    total = {("total", m): figures.total.display[m] for m in GROUP_MEASURES}
    shown.update(total)
    breakdowns = {
        "disability": figures.by_disability,
        "race": figures.by_race_sex,
        "el": figures.by_english_learner_sex,
    }
    for table, rows in breakdowns.items():
        for row in rows:
            for m in GROUP_MEASURES:
                shown[table, row.key, m] = row.display[m]
        for m in GROUP_MEASURES:
            sums.append(([(table, r.key, m) for r in rows], ("total", m)))
    for sex in ("M", "F"):
        for m in GROUP_MEASURES:
            ties.append(
                (
                    [("race", r.key, m) for r in figures.by_race_sex if r.key.endswith(sex)],
                    [
                        ("el", r.key, m)
                        for r in figures.by_english_learner_sex
                        if r.key.endswith(sex)
                    ],
                )
            )
    headline = figures.display
    for m in ("referred_incidents", "arrest_incidents"):
        shown["headline", m] = headline[m]
    for row in figures.by_school:
        for m, text in row.display.items():
            shown["school", row.school.code, m] = text
    for m, whole in [
        ("referred_incidents", ("headline", "referred_incidents")),
        ("arrest_incidents", ("headline", "arrest_incidents")),
        ("instances", ("total", "instances")),
        ("students", ("total", "students")),
        ("arrested_students", ("total", "arrested_students")),
    ]:
        sums.append(([("school", r.school.code, m) for r in figures.by_school], whole))
    for month in figures.routes_by_month:
        shown["month", month["label"]] = f"{month['total']:,}"
        for route, text in month["cells"].items():
            shown["month", month["label"], route] = text
        sums.append(
            ([("month", month["label"], r) for r in month["cells"]], ("month", month["label"]))
        )
    return shown, sums, ties


def csv_tables(rows):
    """The same for the CSV: its rows are (category, group, enrolled, instances, students,
    arrested, ratio)."""
    shown, sums, ties = {}, [], []
    categories: dict[str, list[str]] = {}
    for category, label, *cells in rows[1:]:
        categories.setdefault(category, []).append(label)
        for m, text in zip(CSV_MEASURES, cells[:4], strict=True):
            shown[category, label, m] = text
    (total_label,) = categories.pop("Total")
    schools = categories.pop("School")
    for category, labels in categories.items():
        for m in CSV_MEASURES:
            sums.append(([(category, lb, m) for lb in labels], ("Total", total_label, m)))
    for m in ("instances", "students", "arrested_students"):
        sums.append(([("School", lb, m) for lb in schools], ("Total", total_label, m)))
    for sex in (", male", ", female"):
        for m in CSV_MEASURES:
            ties.append(
                tuple(
                    [(table, lb, m) for lb in categories[table] if lb.endswith(sex)]
                    for table in ("Race/ethnicity x sex", "English learner x sex")
                )
            )
    return shown, sums, ties


# --- the attack on a school year ---------------------------------------------------------


def test_no_hidden_count_can_be_worked_out_on_the_page_or_in_the_csv(
    client, district, school, other_school
):
    # The audit's example: 40 enrolled at Washington (12 IEP, 4 with a 504 plan only, 24
    # without disabilities), 25 referred (12 IEP, one 504-only, 12 without).
    iep = students(school, 12, iep=True)
    only_504 = students(school, 4, section_504=True)
    none = students(school, 24)
    refer(school, iep)
    refer(school, only_504[:1])
    refer(school, none[:12], route="co_responder")
    # Jefferson: 15 Black girls referred, 2 Hispanic girls learning English, 20 others.
    refer(other_school, students(other_school, 15, race_ethnicity="BL", sex="F"))
    refer(
        other_school,
        students(other_school, 2, race_ethnicity="HI", sex="F", english_learner=True),
        route="co_responder",
    )
    students(other_school, 20, sex="F")
    for kid in iep[:3]:
        routed_incident(school, "administrator", subjects=[kid], outcome="arrest")
    client.force_login(user_with_role(Role.DISTRICT_ADMIN, school))

    response = client.get("/reports/equity/", {"year": 2025})
    figures = response.context["figures"]
    disability = {row.key: row.display for row in figures.by_disability}

    # Cell by cell, the page said: total 42 - IDEA 12 - none 29 = 1 student with a 504 plan.
    assert figures.total.display["students"] == "42"
    assert disability["504"]["students"] == SUPPRESSED
    assert disability["idea"]["students"] == SUPPRESSED  # 12, the smallest other: hidden too
    assert disability["none"]["students"] == "29"
    check_tables(*page_tables(figures))
    # A shown ratio only ever uses shown counts.
    for row in [*figures.by_disability, *figures.by_race_sex, *figures.by_english_learner_sex]:
        if row.display["risk_ratio"] not in (SUPPRESSED, "—"):
            assert SUPPRESSED not in (row.display["students"], row.display["enrolled"])

    rows = list(
        csv.reader(io.StringIO(client.get("/reports/equity.csv", {"year": 2025}).content.decode()))
    )
    check_tables(*csv_tables(rows))
    by_group = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert by_group["Disability", "Students with disabilities (Section 504 only)"][2] == SUPPRESSED
    assert by_group["Disability", "Students with disabilities (IDEA)"][2] == SUPPRESSED
    assert by_group["Disability", "Students without disabilities"][2] == "29"


def test_the_race_and_english_learner_tables_do_not_give_each_other_away(district, school):
    # Boys: 30 White, 3 Black English learners, 12 Hispanic English learners; girls: 20
    # White, 14 Asian English learners. The English-learner table is all over 10 (15, 30, 14,
    # 20), so it shows how many boys (45) and girls (34) were referred.
    refer(school, students(school, 30))
    refer(school, students(school, 3, race_ethnicity="BL", english_learner=True))
    refer(school, students(school, 12, race_ethnicity="HI", english_learner=True))
    refer(school, students(school, 20, sex="F"))
    refer(school, students(school, 14, race_ethnicity="AS", sex="F", english_learner=True))

    figures = equity_figures(
        EquityFilter(district=district, schools=(school,), start=YEAR[0], end=YEAR[1])
    )
    race = {row.key: row.display["students"] for row in figures.by_race_sex}
    el = {row.key: row.display["students"] for row in figures.by_english_learner_sex}

    assert el == {"el-M": "15", "el-F": "14", "not-el-M": "30", "not-el-F": "20"}
    # Black boys (3) hidden with the zeros of the table add up to 3: the smallest shown cell,
    # Hispanic boys (12), is hidden too (15, over 10).
    assert (race["BL-M"], race["HI-M"], race["WH-M"]) == (SUPPRESSED, SUPPRESSED, "30")
    # The girls: 34 in the other table, White 20 and Asian 14 shown here would tell that every
    # other girl's cell is 0. The smallest, Asian girls, is hidden with them.
    assert (race["WH-F"], race["AS-F"]) == ("20", SUPPRESSED)
    check_tables(*page_tables(figures))


# --- the rule, on plain rows ---------------------------------------------------------------


def rows_of(*students_referred: int) -> tuple[list[GroupRow], GroupRow]:
    rows = [GroupRow(key=str(i), label=str(i), students=n) for i, n in enumerate(students_referred)]
    total = GroupRow(key="all", label="All", students=sum(students_referred))
    return rows, total


def hidden_after_suppression(*students_referred: int) -> list[int]:
    rows, total = rows_of(*students_referred)
    relations: list[Relation] = relations_of(rows, [total], ["students"])
    hide_small(f for r in relations for f in (*r.parts, *r.wholes))
    suppress(relations)
    return [i for i, row in enumerate(rows) if "students" in row.hidden]


def test_complementary_suppression_hides_the_smallest_other_cell():
    # 3 is small; of 40, 14, 25 and 19 the smallest, 14, goes with it.
    assert hidden_after_suppression(40, 3, 14, 25, 19) == [1, 2]
    # Equal smallest: the first in table order.
    assert hidden_after_suppression(12, 12, 1) == [0, 2]
    # Nothing small: nothing hidden. Two small cells adding to more than 10: no more hidden.
    assert hidden_after_suppression(40, 11, 12) == []
    assert hidden_after_suppression(40, 6, 7) == [1, 2]
    # Two small cells adding to 10 or fewer: the hidden sum (total minus shown) would be a
    # small count, so the smallest shown cell joins them.
    assert hidden_after_suppression(40, 2, 3, 30) == [1, 2, 3]
    # Zeros are small too: otherwise the shown 50 would say that every other group is 0.
    assert hidden_after_suppression(0, 50, 0, 70) == [0, 1, 2]


# --- headline and months -------------------------------------------------------------------


def test_headline_incident_counts_and_monthly_police_routes_are_suppressed(
    client, district, school
):
    october = datetime(2025, 10, 15, 10, 0, tzinfo=timezone.get_fixed_timezone(-360))
    (kid,) = students(school, 1)
    routed_incident(school, "administrator", subjects=[kid], outcome="arrest", when=october)
    for _ in range(3):
        routed_incident(school, "sro", when=october)
    for _ in range(19):
        routed_incident(school, "administrator", when=october)
    for _ in range(12):
        routed_incident(school, "counselor", when=october)
    client.force_login(user_with_role(Role.ADMINISTRATOR, school))

    response = client.get("/reports/equity/", {"year": 2025})
    html = response.content.decode()
    headline = dict(re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", html))

    # 4 referred (3 SRO, 1 arrest), 1 with an arrest: both small, both hidden.
    assert headline["Routed incidents"] == "35"
    assert headline["Incidents referred to law enforcement"] == SUPPRESSED
    assert headline["Incidents with a school-related arrest"] == SUPPRESSED
    assert headline["Students arrested"] == SUPPRESSED
    # October: SRO 3, co-responder 0 (hidden, small), administrator 20, counselor 12, all 35.
    # Hidden alone, SRO + co-responder = 35 - 20 - 12 = 3: the counselor's 12 (the smallest
    # shown) is hidden too.
    (october_row,) = response.context["charts"]["months"]["rows"]
    assert october_row["cells"] == {
        "sro": SUPPRESSED,
        "co_responder": SUPPRESSED,
        "administrator": "20",
        "counselor": SUPPRESSED,
    }
    assert re.search(
        r"<th scope=\"row\">Oct 2025</th><td class=\"num\">\*</td><td class=\"num\">\*</td>"
        r"<td class=\"num\">20</td><td class=\"num\">\*</td><td class=\"num\">35</td>",
        html,
    )
    # The bar does not give the SRO count away either: the hidden routes are one grey
    # segment of 15 (of 35 = 300 px).
    assert [seg["px"] for seg in october_row["segments"]] == [0, 0, 171, 0]
    assert october_row["hidden_bar"]["px"] == round(300 * 15 / 35)
