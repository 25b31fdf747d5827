"""Equity figures against hand-computed examples: definitions, unduplication, risk ratios,
suppression, the CSV export and who may see what."""

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from reports import exports
from reports.exports import csv_cell
from reports.figures import EquityFilter, equity_figures
from reports.suppression import SUPPRESSED, risk_ratio
from schools.models import Role
from tests.factories import StudentFactory, user_with_role
from tests.reports.helpers import routed_incident

YEAR = (date(2025, 8, 1), date(2026, 7, 31))


def figures_for(district, *schools, start=YEAR[0], end=YEAR[1]):
    return equity_figures(EquityFilter(district=district, schools=schools, start=start, end=end))


def students(school, n, **flags):
    return [StudentFactory(school=school, **flags) for _ in range(n)]


def group(rows, key):
    (row,) = [r for r in rows if r.key == key]
    return row


def test_each_kind_of_referral_counts_and_nothing_else(district, school):
    kids = students(school, 9)
    routed_incident(school, "sro", subjects=[kids[0]])
    routed_incident(school, "co_responder", subjects=[kids[1]])
    routed_incident(school, "administrator", subjects=[kids[2]], notify=["sro"])
    routed_incident(
        school, "administrator", subjects=[kids[3]], outcome="referred_to_law_enforcement"
    )
    routed_incident(school, "counselor", subjects=[kids[4]], outcome="citation")
    routed_incident(school, "administrator", subjects=[kids[5]], outcome="arrest")
    # Not referrals: school discipline, a counselor notified, an outcome that is not police.
    routed_incident(school, "administrator", subjects=[kids[6]], notify=["counselor"])
    routed_incident(school, "counselor", subjects=[kids[7]], outcome="parent_contacted")
    # Targets and witnesses of a referred incident are not the students referred.
    routed_incident(school, "sro", subjects=[kids[0]], targets=[kids[8]], witnesses=[kids[7]])

    figures = figures_for(district, school)

    assert figures.incidents == 9
    assert figures.referred_incidents == 7
    assert figures.arrest_incidents == 1
    assert (figures.total.instances, figures.total.students) == (7, 6)
    assert (figures.total.arrest_instances, figures.total.arrested_students) == (1, 1)
    assert figures.total.enrolled == 9


def test_one_student_referred_twice_is_two_instances_and_one_student(district, school):
    (kid,) = students(school, 1)
    routed_incident(school, "sro", subjects=[kid])
    routed_incident(school, "co_responder", subjects=[kid], outcome="arrest")
    routed_incident(school, "administrator", subjects=[kid], outcome="arrest")

    figures = figures_for(district, school)

    assert (figures.total.instances, figures.total.students) == (3, 1)
    assert (figures.total.arrest_instances, figures.total.arrested_students) == (2, 1)
    (row,) = figures.by_school
    assert (row.referred_incidents, row.instances, row.students, row.arrested_students) == (
        3,
        3,
        1,
        1,
    )


def test_risk_ratios_and_suppression_by_disability(district, school):
    # Enrolled: 12 with an IEP, 4 with a 504 plan only, 24 without disabilities (40).
    iep = students(school, 12, iep=True, section_504=True)  # IEP wins: IDEA, not 504-only
    only_504 = students(school, 4, section_504=True)
    none = students(school, 24)
    for kid in iep:
        routed_incident(school, "sro", subjects=[kid])
    routed_incident(school, "co_responder", subjects=[iep[0]])  # 13 instances, 12 students
    routed_incident(school, "sro", subjects=[only_504[0]])
    for kid in none[:12]:
        routed_incident(school, "administrator", subjects=[kid], outcome="citation")

    figures = figures_for(district, school)
    idea, s504, without = (group(figures.by_disability, k) for k in ("idea", "504", "none"))

    assert (figures.total.enrolled, figures.total.students, figures.total.instances) == (40, 25, 26)
    assert (idea.enrolled, idea.instances, idea.students) == (12, 13, 12)
    # (12/12) / (13/28) = 28/13
    assert idea.risk_ratio == pytest.approx(28 / 13)
    # The 504-only cells are small (4 enrolled, 1 referred). With the totals shown, each would
    # be the total minus the other two, so the smallest other cell of each column is hidden
    # too: enrolled IDEA 12 (< 24), students without disabilities 12 (equal to IDEA's: the
    # first in table order), instances without disabilities 12 (< 13). IDEA's ratio needs its
    # enrolment, so it is hidden; so is the ratio of students without disabilities.
    assert idea.display == {
        "enrolled": SUPPRESSED,
        "instances": "13",
        "students": "12",
        "arrest_instances": SUPPRESSED,
        "arrested_students": SUPPRESSED,
        "risk_ratio": SUPPRESSED,
    }
    assert without.risk_ratio == pytest.approx(8 / 13)
    assert without.display == {
        "enrolled": "24",
        "instances": SUPPRESSED,
        "students": SUPPRESSED,
        "arrest_instances": SUPPRESSED,
        "arrested_students": SUPPRESSED,
        "risk_ratio": SUPPRESSED,
    }
    # One 504-only student referred: the count and the ratio are suppressed.
    assert (s504.enrolled, s504.students) == (4, 1)
    assert s504.risk_ratio == pytest.approx((1 / 4) / (24 / 36))
    assert set(s504.display.values()) == {SUPPRESSED}


def test_a_ratio_is_suppressed_when_all_the_other_students_are_ten_or_fewer(district, school):
    black_girls = students(school, 11, race_ethnicity="BL", sex="F")
    others = students(school, 20)
    for kid in black_girls:
        routed_incident(school, "sro", subjects=[kid])
    for kid in others[:10]:
        routed_incident(school, "sro", subjects=[kid])

    row = group(figures_for(district, school).by_race_sex, "BL-F")

    assert (row.enrolled, row.students) == (11, 11)
    # Shown, 11 would give away that all the other students referred add up to 10: it is
    # hidden with them.
    assert row.display["students"] == SUPPRESSED
    assert row.risk_ratio == pytest.approx((11 / 11) / (10 / 20))
    assert row.ratio_suppressed is True
    assert row.display["risk_ratio"] == SUPPRESSED


def test_english_learner_by_sex_groups(district, school):
    el_boys = students(school, 3, english_learner=True, sex="M")
    students(school, 2, english_learner=True, sex="F")
    routed_incident(school, "sro", subjects=el_boys[:2])

    figures = figures_for(district, school)
    row = group(figures.by_english_learner_sex, "el-M")

    assert (row.label, row.enrolled, row.instances, row.students) == (
        "English learners, male",
        3,
        2,
        2,
    )
    assert group(figures.by_english_learner_sex, "el-F").students == 0
    assert group(figures.by_english_learner_sex, "not-el-M").enrolled == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((12, 12, 25, 40), 28 / 13),
        ((5, 10, 10, 20), 1.0),
        ((0, 10, 10, 20), 0.0),
        ((10, 10, 10, 20), None),  # nobody else referred: undefined
        ((3, 0, 10, 20), None),  # nobody enrolled in the group
        ((3, 20, 10, 20), None),  # nobody else enrolled
    ],
)
def test_risk_ratio_table(args, expected):
    assert risk_ratio(*args) == (pytest.approx(expected) if expected is not None else None)


def test_period_and_school_filters(district, school, other_school):
    (kid,) = students(school, 1)
    (other_kid,) = students(other_school, 1)
    routed_incident(school, "sro", subjects=[kid])
    routed_incident(
        school,
        "sro",
        subjects=[kid],
        when=datetime(2025, 7, 31, 23, 0, tzinfo=timezone.get_fixed_timezone(-360)),
    )
    routed_incident(other_school, "sro", subjects=[other_kid])

    assert figures_for(district, school).total.instances == 1
    assert figures_for(district, school, other_school).total.instances == 2
    assert figures_for(district, school, start=date(2025, 7, 1)).total.instances == 2
    assert figures_for(district, school, end=date(2025, 10, 14)).total.instances == 0


def test_routes_over_time_overrides_and_median_time_to_acknowledge(district, school):
    october = datetime(2025, 10, 15, 10, 0, tzinfo=timezone.get_fixed_timezone(-360))
    november = datetime(2025, 11, 3, 10, 0, tzinfo=timezone.get_fixed_timezone(-420))
    for minutes in (1, 2, 9):
        routed_incident(
            school,
            "sro",
            when=october,
            ack_after=timedelta(minutes=minutes),
            handoff_to="counselor",
        )
    routed_incident(school, "counselor", when=november, ack_after=timedelta(minutes=30))
    routed_incident(school, "counselor", when=november, handoff_to="administrator")

    figures = figures_for(district, school)

    assert [
        (m["label"], m["counts"]["sro"], m["counts"]["counselor"]) for m in figures.routes_by_month
    ] == [
        ("Oct 2025", 3, 0),
        ("Nov 2025", 0, 2),
    ]
    assert [(o["short"], o["n"]) for o in figures.overrides] == [
        ("sro → counselor", 3),
        ("counselor → administrator", 1),
    ]
    assert [(a["route"], a["median"], a["n"]) for a in figures.ack_medians] == [
        ("counselor", timedelta(minutes=30), 1),
        ("sro", timedelta(minutes=2), 3),
    ]


# --- CSV ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("*", "*"),
        ("12", "12"),
        ("Lincoln Elementary", "Lincoln Elementary"),
    ],
)
def test_csv_cells_that_look_like_formulas_are_escaped(value, expected):
    assert csv_cell(value) == expected


def test_csv_export_is_shaped_like_the_crdc_items_with_suppression(client, district, school):
    school.name = "=cmd|' /C calc'!A0"
    school.save()
    kids = students(school, 12, iep=True)
    for kid in kids:
        routed_incident(school, "sro", subjects=[kid], outcome="arrest")
    admin = user_with_role(Role.DISTRICT_ADMIN, school)
    client.force_login(admin)

    response = client.get("/reports/equity.csv", {"start": "2025-08-01", "end": "2026-07-31"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == list(exports.CSV_HEADER)
    by_group = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert by_group["Total", "All students"] == ["12", "12", "12", "12", "—"]
    # The other groups are all zero (small): shown, the 12 would say so. Hidden with them.
    assert by_group["Disability", "Students with disabilities (IDEA)"] == [SUPPRESSED] * 5
    assert by_group["Disability", "Students without disabilities"] == [SUPPRESSED] * 5
    assert by_group["Race/ethnicity x sex", "White, male"] == [SUPPRESSED] * 5
    assert by_group["School", "'=cmd|' /C calc'!A0 (WAS-MS)"] == ["", "12", "12", "12", ""]


# --- who may see what ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.TEACHER, Role.COUNSELOR, Role.CLINICIAN, Role.SRO])
@pytest.mark.parametrize("url", ["/reports/equity/", "/reports/equity.csv"])
def test_other_roles_get_403(client, school, role, url):
    client.force_login(user_with_role(role, school))
    assert client.get(url).status_code == 403


def test_signed_out_people_are_sent_to_sign_in(client, school):
    response = client.get("/reports/equity/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_school_administrator_sees_only_their_school(client, district, school, other_school):
    (kid,) = students(school, 1)
    others = students(other_school, 3)
    routed_incident(school, "sro", subjects=[kid])
    for other in others:
        routed_incident(other_school, "sro", subjects=[other])
    principal = user_with_role(Role.ADMINISTRATOR, school)
    client.force_login(principal)

    response = client.get("/reports/equity/", {"start": "2025-08-01", "end": "2026-07-31"})
    figures = response.context["figures"]

    assert response.status_code == 200
    assert [row.school for row in figures.by_school] == [school]
    assert (figures.incidents, figures.total.instances, figures.total.enrolled) == (1, 1, 1)
    # Asking for the other school by id does not widen the view.
    response = client.get("/reports/equity/", {"school": other_school.pk})
    assert response.context["form"].errors["school"]
    assert list(response.context["flt"].schools) == [school]
    assert other_school.name not in response.content.decode()


def test_a_district_admin_sees_every_school_and_can_pick_one(
    client, district, school, other_school
):
    routed_incident(school, "sro", subjects=students(school, 1))
    routed_incident(other_school, "sro", subjects=students(other_school, 1))
    client.force_login(user_with_role(Role.DISTRICT_ADMIN, school))

    everything = client.get("/reports/equity/", {"year": 2025}).context["figures"]
    one = client.get("/reports/equity/", {"year": 2025, "school": other_school.pk}).context[
        "figures"
    ]

    assert {row.school for row in everything.by_school} == {school, other_school}
    assert everything.incidents == 2
    assert [row.school for row in one.by_school] == [other_school]
    assert one.incidents == 1


def test_the_dashboard_page_shows_charts_and_tables(client, district, school):
    for kid in students(school, 11, race_ethnicity="HI"):
        routed_incident(school, "sro", subjects=[kid], ack_after=timedelta(seconds=90))
    client.force_login(user_with_role(Role.DISTRICT_ADMIN, school))

    response = client.get("/reports/equity/", {"year": 2025})
    html = response.content.decode()

    assert response.status_code == 200
    assert html.count('<svg class="chart"') == 5  # no hand-offs: no overrides chart
    assert "<caption>Referrals and arrests by disability</caption>" in html
    assert "1 min 30 s" in html
    # Every referred student is a Hispanic boy: his cell is hidden with the zeros around it.
    assert '<td class="num">*</td>' in html


def test_a_bad_range_is_explained(client, school):
    client.force_login(user_with_role(Role.DISTRICT_ADMIN, school))
    response = client.get("/reports/equity/", {"start": "2025-09-01", "end": "2025-08-01"})
    assert response.status_code == 200
    assert response.context["form"].errors["end"] == [
        "The end date is before the start date: pick a later end."
    ]
    response = client.get("/reports/equity/", {"start": "2025-09-01"})
    assert response.context["form"].errors["end"] == [
        "Give both dates of the range, or neither to use the school year."
    ]


def test_median_time_to_acknowledge_of_an_even_count_is_the_mean_of_the_middle_two(
    district, school
):
    for minutes in (10, 1, 3, 2):
        routed_incident(school, "administrator", ack_after=timedelta(minutes=minutes))
    routed_incident(school, "administrator")  # not acknowledged: not counted

    (median,) = figures_for(district, school).ack_medians

    assert (median["route"], median["median"], median["n"]) == (
        "administrator",
        timedelta(minutes=2, seconds=30),
        4,
    )


def test_median_time_to_acknowledge_matches_postgresql_percentile_cont(
    district, school, other_school, is_postgres
):
    if not is_postgres:
        pytest.skip("PERCENTILE_CONT is PostgreSQL's")
    waits = {
        "sro": [7, 7, 95, 3, 61, 12, 40],
        "counselor": [600, 1, 1, 1, 5, 900, 301, 300],
        "co_responder": [42],
    }
    for route, seconds in waits.items():
        for s in seconds:
            routed_incident(school, route, ack_after=timedelta(seconds=s, microseconds=s * 7))
            routed_incident(other_school, route, ack_after=timedelta(seconds=s * 2))
    routed_incident(
        school,
        "sro",
        ack_after=timedelta(seconds=1),
        when=datetime(2025, 7, 31, 12, 0, tzinfo=timezone.get_fixed_timezone(-360)),
    )  # before the period

    figures = figures_for(district, school)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.route, PERCENTILE_CONT(0.5) WITHIN GROUP "
            "(ORDER BY i.acknowledged_at - i.queued_at), COUNT(*) "
            "FROM incidents_queueitem i JOIN incidents_responderqueue q ON q.id = i.queue_id "
            "WHERE q.school_id = %s AND i.origin = 'routing' AND i.acknowledged_at IS NOT NULL "
            "AND i.queued_at >= %s GROUP BY i.route",
            [school.pk, datetime(2025, 8, 1, tzinfo=timezone.get_fixed_timezone(-360))],
        )
        expected = {route: (median, n) for route, median, n in cursor.fetchall()}
    assert {a["route"]: (a["median"], a["n"]) for a in figures.ack_medians} == expected
    # 1 1 1 5 | 300 301 600 900 s (+ 7 µs per s): half way from 5.000035 to 300.0021 s.
    assert expected["counselor"] == (timedelta(seconds=152, microseconds=501067), 8)


@pytest.mark.django_db(transaction=True)
def test_the_figures_are_read_from_one_snapshot_outside_any_transaction():
    # Not wrapped in a test transaction: equity_figures opens its own (REPEATABLE READ, READ
    # ONLY on PostgreSQL), and that must be valid as its first statement.
    from tests.factories import DistrictFactory, SchoolFactory

    district = DistrictFactory()
    school = SchoolFactory(district=district)
    (kid,) = students(school, 1)
    for minutes in (4, 1):
        routed_incident(school, "sro", subjects=[kid], ack_after=timedelta(minutes=minutes))

    figures = figures_for(district, school)

    assert (figures.incidents, figures.total.instances, figures.total.students) == (2, 2, 1)
    assert [(a["route"], a["median"], a["n"]) for a in figures.ack_medians] == [
        ("sro", timedelta(minutes=2, seconds=30), 2)
    ]
    assert not connection.in_atomic_block


def test_a_student_counts_at_the_school_where_the_incident_happened(district, school, other_school):
    # Enrolled at WAS-MS (10 students), referred at JEF-HS (20 students).
    (visitor, *_rest) = students(school, 10)
    at_other = students(other_school, 20)
    routed_incident(other_school, "sro", subjects=[visitor], outcome="arrest")
    routed_incident(other_school, "sro", subjects=at_other[:2])

    other = figures_for(district, other_school)
    own = figures_for(district, school)
    both = figures_for(district, school, other_school)

    assert (other.total.students, other.total.arrested_students, other.total.enrolled) == (3, 1, 20)
    assert (own.total.students, own.total.enrolled) == (0, 10)
    rows = {r.school.code: (r.students, r.arrested_students) for r in both.by_school}
    assert rows == {"WAS-MS": (0, 0), "JEF-HS": (3, 1)}
    # The risk ratio of one school uses that school's enrolment: White boys are everyone
    # enrolled at JEF-HS, so there are no other students to compare with.
    assert group(other.by_race_sex, "WH-M").enrolled == 20
    assert group(other.by_race_sex, "WH-M").risk_ratio is None
