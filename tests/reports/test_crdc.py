"""The CRDC referrals-and-arrests file against a small district built by hand.

Every expected count is computed here from the scenario itself (which student was referred
where, and whether it ended in an arrest), with this file's own map from a student to the
CRDC columns, not from the code under test.
"""

import csv
import io
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from incidents.models import AccessAction, AccessLogEntry, QueueItem
from incidents.services import queue_item_handoff, queue_item_resolve
from reports import crdc
from reports.suppression import SUPPRESSED
from schools.models import Role
from tests.factories import SchoolFactory, StudentFactory, user_with_role
from tests.reports.helpers import routed_incident
from tests.reports.test_suppression import check_tables

DENVER = ZoneInfo("America/Denver")
IN_YEAR = datetime(2025, 10, 15, 10, 0, tzinfo=DENVER)
RACES = ("HI", "AM", "AS", "HP", "BL", "WH", "TR")


def columns_of(student, measure: str) -> list[str]:
    """The CRDC columns a student counts in: written out here, independently of the code."""
    group = "idea" if student.iep else ("504" if student.section_504 else "none")
    sex, race = student.sex, student.race_ethnicity
    if sex == "X":
        return [
            {
                "none": f"TOT_DISCWODIS_{measure}_X",
                "idea": f"TOT_DISCWDIS_{measure}_IDEA_X",
                "504": f"SCH_DISCWDIS_{measure}_504_X",
            }[group]
        ]
    if group == "504":
        return [f"SCH_DISCWDIS_{measure}_504_{sex}"]
    if group == "idea":
        out = [f"SCH_DISCWDIS_{measure}_IDEA_{race}_{sex}", f"TOT_DISCWDIS_{measure}_IDEA_{sex}"]
        return out + ([f"SCH_DISCWDIS_{measure}_LEP_IDEA_{sex}"] if student.english_learner else [])
    out = [f"SCH_DISCWODIS_{measure}_{race}_{sex}", f"TOT_DISCWODIS_{measure}_{sex}"]
    return out + ([f"SCH_DISCWODIS_{measure}_LEP_{sex}"] if student.english_learner else [])


class Ledger:
    """What the scenario did, as the test knows it: referrals (school, incident, student)."""

    def __init__(self):
        self.referrals: list[tuple[str, int, object, bool]] = []

    def referred(self, school, incident, students, *, arrest=False):
        for student in students:
            self.referrals.append((school.code, incident.pk, student, arrest))

    def expected(self, school_code: str) -> dict[str, int]:
        students: dict[str, set[int]] = defaultdict(set)
        counts = {"SCH_REF_INSTANCES": 0, "SCH_ARR_INSTANCES": 0}
        for code, _incident, student, arrest in self.referrals:
            if code != school_code:
                continue
            counts["SCH_REF_INSTANCES"] += 1
            for column in columns_of(student, "REF"):
                students[column].add(student.pk)
            if arrest:
                counts["SCH_ARR_INSTANCES"] += 1
                for column in columns_of(student, "ARR"):
                    students[column].add(student.pk)
        return counts | {column: len(ids) for column, ids in students.items()}


def kids(school, n, **attrs):
    return [StudentFactory(school=school, **attrs) for _ in range(n)]


@pytest.fixture
def district_by_hand(district, school, other_school):
    """Two K-12 schools and a pre-K centre; students of every group; incidents routed,
    notified, handed off and resolved each way. Returns (ledger, schools)."""
    pre_k = SchoolFactory(district=district, code="ECC-PK", grade_low=-1, grade_high=-1)
    ledger = Ledger()
    a, b = school, other_school

    def incident(at, route, subjects, *, referral, arrest=False, **kwargs):
        made = routed_incident(at, route, subjects=subjects, when=IN_YEAR, **kwargs)
        if referral:
            ledger.referred(at, made, subjects, arrest=arrest)
        return made

    # School A: 14 White boys without disabilities routed to the SRO; one of them twice.
    white_boys = kids(a, 14, race_ethnicity="WH", sex="M")
    for kid in white_boys:
        incident(a, "sro", [kid], referral=True)
    incident(a, "sro", [white_boys[0]], referral=True, outcome="arrest", arrest=True)
    # 13 Hispanic boys, English learners, notified to the SRO from the administrator.
    hispanic_el = kids(a, 13, race_ethnicity="HI", sex="M", english_learner=True)
    for kid in hispanic_el:
        incident(a, "administrator", [kid], referral=True, notify=["sro"])
    # 12 Black girls with an IEP: 6 handed off administrator -> SRO (4 of them arrested),
    # 6 routed to the co-responders.
    black_idea = kids(a, 12, race_ethnicity="BL", sex="F", iep=True)
    for i, kid in enumerate(black_idea[:6]):
        arrest = i < 4
        incident(
            a,
            "administrator",
            [kid],
            referral=True,
            arrest=arrest,
            handoff_to="sro",
            outcome="arrest" if arrest else "",
        )
    for kid in black_idea[6:]:
        incident(a, "co_responder", [kid], referral=True)
    # Two English learners with an IEP (Asian girl, Pacific Islander boy): citation, referral.
    (asian_idea_el,) = kids(a, 1, race_ethnicity="AS", sex="F", iep=True, english_learner=True)
    incident(a, "counselor", [asian_idea_el], referral=True, outcome="citation")
    (hp_idea_el,) = kids(a, 1, race_ethnicity="HP", sex="M", iep=True, english_learner=True)
    incident(a, "administrator", [hp_idea_el], referral=True, outcome="referred_to_law_enforcement")
    # 504 only, both sexes; an American Indian girl handed off to the co-responders.
    girls_504 = kids(a, 3, race_ethnicity="AM", sex="F", section_504=True)
    for kid in girls_504:
        incident(a, "administrator", [kid], referral=True, handoff_to="co_responder")
    (boy_504,) = kids(a, 1, race_ethnicity="TR", sex="M", section_504=True, iep=False)
    incident(a, "sro", [boy_504], referral=True, outcome="arrest", arrest=True)
    # Nonbinary students (sex X): without disabilities, IDEA, 504.
    (x_none,) = kids(a, 1, race_ethnicity="TR", sex="X")
    (x_idea,) = kids(a, 1, race_ethnicity="WH", sex="X", iep=True)
    (x_504,) = kids(a, 1, race_ethnicity="BL", sex="X", section_504=True)
    incident(a, "sro", [x_none, x_idea], referral=True)
    incident(a, "sro", [x_504], referral=True, outcome="arrest", arrest=True)
    # Not referrals: school discipline, a counselor notified, a support outcome, a hand-off
    # away from the SRO side that never reached it, targets and witnesses.
    bystanders = kids(a, 4, race_ethnicity="AS", sex="F")
    incident(a, "administrator", [bystanders[0]], referral=False, notify=["counselor"])
    incident(a, "counselor", [bystanders[1]], referral=False, outcome="parent_contacted")
    incident(a, "administrator", [bystanders[2]], referral=False, handoff_to="counselor")
    incident(a, "sro", [white_boys[1]], referral=True, targets=[bystanders[3]], witnesses=[x_none])
    # A pre-K pupil referred at school A is not counted (the CRDC item is K-12).
    (preschooler,) = kids(a, 1, grade=-1, race_ethnicity="WH", sex="F")
    routed_incident(a, "sro", subjects=[preschooler], when=IN_YEAR)

    # School B: a student enrolled at A, referred at B, counts at B (not at A).
    (visitor,) = kids(a, 1, race_ethnicity="BL", sex="M")
    incident(b, "sro", [visitor], referral=True, outcome="arrest", arrest=True)
    (b_girl,) = kids(b, 1, race_ethnicity="WH", sex="F")
    incident(b, "administrator", [b_girl], referral=True, notify=["sro"])
    return ledger, (a, b, pre_k)


def read(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == crdc.HEADER
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_header_is_the_crdc_public_use_columns():
    header = crdc.HEADER
    assert header[:2] == ["SCHID", "SCH_NAME"]
    for measure in ("REF", "ARR"):
        for sex in ("M", "F"):
            for race in RACES:
                assert f"SCH_DISCWODIS_{measure}_{race}_{sex}" in header
                assert f"SCH_DISCWDIS_{measure}_IDEA_{race}_{sex}" in header
            for name in (
                f"SCH_DISCWODIS_{measure}_LEP_{sex}",
                f"TOT_DISCWODIS_{measure}_{sex}",
                f"SCH_DISCWDIS_{measure}_LEP_IDEA_{sex}",
                f"SCH_DISCWDIS_{measure}_504_{sex}",
                f"TOT_DISCWDIS_{measure}_IDEA_{sex}",
            ):
                assert name in header
    assert len(header) == 2 + 2 * (14 + 2 + 2 + 14 + 2 + 2 + 2) + 2 * 3 + 2
    assert len(set(header)) == len(header)


def test_exact_file_matches_every_cell_counted_by_hand(client, district_by_hand, district):
    ledger, (a, b, pre_k) = district_by_hand
    admin = user_with_role(Role.DISTRICT_ADMIN, a)
    client.force_login(admin)

    rows = read(client.get("/reports/crdc.csv", {"year": "2025", "suppress": "0"}))

    assert [r["SCHID"] for r in rows] == ["ECC-PK", "JEF-HS", "WAS-MS"]
    by_code = {r["SCHID"]: r for r in rows}
    for school in (a, b):
        row = by_code[school.code]
        assert row["SCH_NAME"] == school.name
        expected = ledger.expected(school.code)
        for column in crdc.COUNT_COLUMNS:
            assert row[column] == str(expected.get(column, 0)), (school.code, column)
    # A pre-K centre: nothing is collected, every count is blank.
    assert [by_code["ECC-PK"][c] for c in crdc.COUNT_COLUMNS] == [""] * len(crdc.COUNT_COLUMNS)
    # Spot checks of the hand count itself.
    row_a = by_code["WAS-MS"]
    assert (row_a["SCH_DISCWODIS_REF_WH_M"], row_a["SCH_DISCWODIS_ARR_WH_M"]) == ("14", "1")
    assert row_a["SCH_DISCWODIS_REF_LEP_M"] == "13"
    assert row_a["TOT_DISCWODIS_REF_M"] == "27"
    assert (row_a["SCH_DISCWDIS_REF_IDEA_BL_F"], row_a["SCH_DISCWDIS_ARR_IDEA_BL_F"]) == ("12", "4")
    assert row_a["SCH_DISCWDIS_REF_LEP_IDEA_F"] == row_a["SCH_DISCWDIS_REF_LEP_IDEA_M"] == "1"
    assert (row_a["SCH_DISCWDIS_REF_504_F"], row_a["SCH_DISCWDIS_REF_504_M"]) == ("3", "1")
    assert (row_a["TOT_DISCWODIS_REF_X"], row_a["TOT_DISCWDIS_REF_IDEA_X"]) == ("1", "1")
    assert (row_a["SCH_DISCWDIS_REF_504_X"], row_a["SCH_DISCWDIS_ARR_504_X"]) == ("1", "1")
    assert row_a["SCH_DISCWODIS_REF_BL_M"] == "0"  # the visitor counts at JEF-HS
    assert by_code["JEF-HS"]["SCH_DISCWODIS_REF_BL_M"] == "1"
    # 16 (White boys, one twice, one with a target and a witness) + 13 + 12 + 2 + 4 + 3.
    assert (row_a["SCH_REF_INSTANCES"], row_a["SCH_ARR_INSTANCES"]) == ("50", "7")


def test_one_student_referred_twice_counts_once(client, district, school):
    (kid,) = kids(school, 1, race_ethnicity="AS", sex="F")
    routed_incident(school, "sro", subjects=[kid], when=IN_YEAR)
    routed_incident(school, "administrator", subjects=[kid], when=IN_YEAR, outcome="arrest")
    routed_incident(school, "counselor", subjects=[kid], when=IN_YEAR, outcome="arrest")

    (row,) = crdc.crdc_file(district=district, year=2025, suppressed=False).table()[1:]
    cells = dict(zip(crdc.HEADER, row, strict=True))

    assert cells["SCH_DISCWODIS_REF_AS_F"] == cells["TOT_DISCWODIS_REF_F"] == "1"
    assert cells["SCH_DISCWODIS_ARR_AS_F"] == cells["TOT_DISCWODIS_ARR_F"] == "1"
    assert (cells["SCH_REF_INSTANCES"], cells["SCH_ARR_INSTANCES"]) == ("3", "2")


def test_the_school_year_boundary_is_the_districts_midnight(district, school):
    (kid_in, kid_next, kid_before) = kids(school, 3, race_ethnicity="HI", sex="F")
    # 23:30 on July 31 in Denver is 05:30 UTC on August 1: still the 2025-26 year.
    routed_incident(
        school, "sro", subjects=[kid_in], when=datetime(2026, 7, 31, 23, 30, tzinfo=DENVER)
    )
    routed_incident(
        school, "sro", subjects=[kid_next], when=datetime(2026, 8, 1, 0, 10, tzinfo=DENVER)
    )
    routed_incident(
        school, "sro", subjects=[kid_before], when=datetime(2025, 7, 31, 23, 59, tzinfo=DENVER)
    )

    def hispanic_girls(year):
        table = crdc.crdc_file(district=district, year=year, suppressed=False).table()
        return dict(zip(table[0], table[1], strict=True))["SCH_DISCWODIS_REF_HI_F"]

    assert (hispanic_girls(2024), hispanic_girls(2025), hispanic_girls(2026)) == ("1", "1", "1")
    only_2025 = crdc.crdc_file(district=district, year=2025, suppressed=False)
    assert (only_2025.start, only_2025.end) == (date(2025, 8, 1), date(2026, 7, 31))


def test_year_defaults_to_the_current_school_year_and_bad_queries_are_400(client, school):
    client.force_login(user_with_role(Role.DISTRICT_ADMIN, school))
    response = client.get("/reports/crdc.csv")
    assert response.status_code == 200
    assert "-suppressed.csv" in response["Content-Disposition"]
    for query in ({"year": "soon"}, {"suppress": "maybe"}, {"year": "2999"}):
        response = client.get("/reports/crdc.csv", query)
        assert response.status_code == 400, query
        assert next(iter(query)) in response.content.decode()


def relations(row: dict[str, str], measure: str):
    """The sums a reader can check in one row: race cells -> TOT, and the group totals."""
    for sex in ("M", "F"):
        yield (
            [f"SCH_DISCWODIS_{measure}_{r}_{sex}" for r in RACES],
            f"TOT_DISCWODIS_{measure}_{sex}",
        )
        yield (
            [f"SCH_DISCWDIS_{measure}_IDEA_{r}_{sex}" for r in RACES],
            f"TOT_DISCWDIS_{measure}_IDEA_{sex}",
        )


def test_suppressed_file_hides_every_small_count_and_what_gives_it_away(
    client, district_by_hand, district
):
    ledger, (a, b, pre_k) = district_by_hand
    client.force_login(user_with_role(Role.DISTRICT_ADMIN, a))

    rows = read(client.get("/reports/crdc.csv", {"year": "2025"}))

    by_code = {r["SCHID"]: r for r in rows}
    assert [by_code["ECC-PK"][c] for c in crdc.COUNT_COLUMNS] == [""] * len(crdc.COUNT_COLUMNS)
    for school in (a, b):
        row, expected = by_code[school.code], ledger.expected(school.code)
        for column in crdc.COUNT_COLUMNS:
            value = expected.get(column, 0)
            if value <= 10:
                assert row[column] == SUPPRESSED, (school.code, column, value)
            else:
                assert row[column] in (str(value), SUPPRESSED), (school.code, column)
        for measure in ("REF", "ARR"):
            for parts, total in relations(row, measure):
                hidden = [p for p in parts if row[p] == SUPPRESSED]
                assert len(hidden) != 1 or row[total] == SUPPRESSED, (parts, total)
                if hidden and row[total] != SUPPRESSED:
                    worked_out = int(row[total]) - sum(
                        int(row[p]) for p in parts if row[p] != SUPPRESSED
                    )
                    assert worked_out > 10, (parts, worked_out)
    row_a = by_code["WAS-MS"]
    # 14 White and 13 Hispanic boys add up to the shown 27: the 13 is hidden with the zeros
    # (otherwise 27 - 14 - 13 = 0 would show every other race is zero), the 14 is shown.
    assert row_a["TOT_DISCWODIS_REF_M"] == "27"
    assert row_a["SCH_DISCWODIS_REF_WH_M"] == "14"
    assert row_a["SCH_DISCWODIS_REF_HI_M"] == SUPPRESSED
    assert row_a["SCH_DISCWODIS_REF_LEP_M"] == "13"
    assert row_a["SCH_REF_INSTANCES"] == "50"
    # Nothing above 10 at JEF-HS: all hidden.
    assert {by_code["JEF-HS"][c] for c in crdc.COUNT_COLUMNS} == {SUPPRESSED}


def test_exact_file_is_logged_and_suppressed_file_is_not(client, school, district):
    admin = user_with_role(Role.DISTRICT_ADMIN, school, username="submitter")
    client.force_login(admin)

    assert client.get("/reports/crdc.csv", {"year": "2025"}).status_code == 200
    assert AccessLogEntry.objects.count() == 0
    response = client.get("/reports/crdc.csv", {"year": "2025", "suppress": "0"})

    assert response.status_code == 200
    assert "2025-26-exact.csv" in response["Content-Disposition"]
    (entry,) = AccessLogEntry.objects.all()
    assert (entry.user, entry.username, entry.district, entry.incident) == (
        admin,
        "submitter",
        district,
        None,
    )
    assert entry.action == AccessAction.EXPORT_CRDC_EXACT
    assert entry.detail == "CRDC referrals and arrests 2025-26, exact counts"
    page = client.get("/access-log/")
    assert page.status_code == 200
    assert "Downloaded the exact CRDC submission file" in page.content.decode()
    assert "CRDC referrals and arrests 2025-26, exact counts" in page.content.decode()


@pytest.mark.parametrize(
    "role", [Role.TEACHER, Role.COUNSELOR, Role.CLINICIAN, Role.SRO, Role.ADMINISTRATOR]
)
@pytest.mark.parametrize("query", [{}, {"suppress": "0"}])
def test_only_district_admins_get_the_file(client, school, role, query):
    client.force_login(user_with_role(role, school))
    assert client.get("/reports/crdc.csv", query).status_code == 403
    assert AccessLogEntry.objects.count() == 0


def test_signed_out_people_are_sent_to_sign_in(client, school):
    response = client.get("/reports/crdc.csv", {"suppress": "0"})
    assert response.status_code == 302
    assert AccessLogEntry.objects.count() == 0


def test_school_names_that_look_like_formulas_are_escaped(client, district, school):
    school.name = "=HYPERLINK(1)"
    school.save()
    client.force_login(user_with_role(Role.DISTRICT_ADMIN, school))
    (row,) = read(client.get("/reports/crdc.csv", {"year": "2025", "suppress": "0"}))
    assert row["SCH_NAME"] == "'=HYPERLINK(1)"


def test_a_hand_off_to_the_sro_through_the_services_is_a_referral(district, school):
    """The real hand-off and resolve services, not rows written by the test."""
    (kid,) = kids(school, 1, race_ethnicity="BL", sex="M", iep=True)
    incident = routed_incident(school, "administrator", subjects=[kid], when=IN_YEAR)
    administrator = user_with_role(Role.ADMINISTRATOR, school)
    sro = user_with_role(Role.SRO, school)
    item = QueueItem.objects.get(incident=incident)

    def bl_m_idea():
        table = crdc.crdc_file(district=district, year=2025, suppressed=False).table()
        cells = dict(zip(table[0], table[1], strict=True))
        return cells["SCH_DISCWDIS_REF_IDEA_BL_M"], cells["SCH_DISCWDIS_ARR_IDEA_BL_M"]

    assert bl_m_idea() == ("0", "0")
    _closed, new_item = queue_item_handoff(
        user=administrator, item_id=item.pk, route="sro", reason="needs the officer"
    )
    assert bl_m_idea() == ("1", "0")
    queue_item_resolve(user=sro, item_id=new_item.pk, outcome="arrest")
    assert bl_m_idea() == ("1", "1")


def test_another_districts_admin_does_not_see_the_export_in_their_access_log(client, school):
    submitter = user_with_role(Role.DISTRICT_ADMIN, school, username="submitter")
    client.force_login(submitter)
    client.get("/reports/crdc.csv", {"year": "2025", "suppress": "0"})
    elsewhere = SchoolFactory(code="ELSE-HS", grade_low=9, grade_high=12)
    assert elsewhere.district_id != school.district_id
    client.force_login(user_with_role(Role.DISTRICT_ADMIN, elsewhere))

    page = client.get("/access-log/")

    assert page.status_code == 200
    assert page.context["page"].paginator.count == 0
    assert AccessLogEntry.objects.count() == 1


def test_no_hidden_count_of_the_suppressed_file_can_be_worked_out(client, district_by_hand):
    """The attacker of test_suppression over each row: subtraction, and every combination of
    the sums a reader knows (race cells -> TOT; a school's group totals -> its students
    referred, which the dashboard publishes)."""
    ledger, (a, b, _pre_k) = district_by_hand
    client.force_login(user_with_role(Role.DISTRICT_ADMIN, a))
    rows = read(client.get("/reports/crdc.csv", {"year": "2025"}))
    for row in rows:
        if row["SCHID"] == "ECC-PK":
            continue
        expected = ledger.expected(row["SCHID"])
        shown = {c: row[c] for c in crdc.COUNT_COLUMNS}
        sums = []
        for measure in ("REF", "ARR"):
            sums += list(relations(row, measure))
            totals = [
                f"TOT_DISCWODIS_{measure}_M",
                f"TOT_DISCWODIS_{measure}_F",
                f"TOT_DISCWODIS_{measure}_X",
                f"TOT_DISCWDIS_{measure}_IDEA_M",
                f"TOT_DISCWDIS_{measure}_IDEA_F",
                f"TOT_DISCWDIS_{measure}_IDEA_X",
                f"SCH_DISCWDIS_{measure}_504_M",
                f"SCH_DISCWDIS_{measure}_504_F",
                f"SCH_DISCWDIS_{measure}_504_X",
            ]
            # The dashboard shows it unless it is 10 or fewer (it may hide more: the attacker
            # here knows at least as much as a reader).
            everyone = sum(expected.get(c, 0) for c in totals)
            shown[f"ALL_{measure}"] = str(everyone) if everyone > 10 else SUPPRESSED
            sums.append((totals, f"ALL_{measure}"))
        check_tables(shown, sums, ties=[])
