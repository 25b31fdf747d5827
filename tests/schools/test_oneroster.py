from datetime import date

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from schools.models import Membership, RosterImportRun, School, Student, User
from schools.oneroster import OneRosterError, oneroster_import, oneroster_set_read
from schools.selectors import students_search
from tests import factories
from tests.schools import oneroster_data as data


@pytest.fixture
def leaving(district, school):
    """Someone on the roster and a teacher whom the set marks tobedeleted."""
    student = factories.StudentFactory(school=school, student_id="S9")
    teacher = factories.user_with_role("teacher", school, username="left")
    teacher.email = "Left@rsd.example.org"
    teacher.save()
    Token.objects.create(user=teacher)
    return student, teacher


def run(path, district, **kwargs):
    return oneroster_import(
        roster_set=oneroster_set_read(path=path, special_education=kwargs.pop("se", None)),
        district=district,
        **kwargs,
    )


def test_a_set_creates_schools_students_and_staff_with_roles(tmp_path, district, leaving):
    result = run(data.write_set(tmp_path / "set"), district)

    assert result.summary == {
        "schools": {"created": 1, "updated": 1},
        "students": {"created": 3, "updated": 0, "deactivated": 1},
        "staff": {"created": 2, "updated": 0, "deactivated": 1},
        "roles_granted": 3,
        "skipped_roles": {"aide": 1},
    }
    assert {(s.code, s.name, s.grade_span) for s in School.objects.filter(district=district)} == {
        ("LIN-ES", "Lincoln Elementary", "3-3"),
        ("WAS-MS", "Washington Middle", "6-8"),
    }
    rows = {
        s.student_id: (s.school.code, s.first_name, s.grade, s.birth_date, s.sex, s.race_ethnicity)
        for s in Student.objects.filter(district=district, on_roster=True)
    }
    assert rows == {
        "S1": ("LIN-ES", "Ava", 3, date(2017, 4, 2), "F", "HI"),
        "S2": ("WAS-MS", "Liam", 7, date(2013, 9, 30), "M", "TR"),
        "S3": ("WAS-MS", "Mia", 0, date(2020, 1, 15), "X", "AS"),
    }
    assert Student.objects.get(student_id="S9").on_roster is False
    tess = User.objects.get(email="tess@rsd.example.org")
    assert (tess.username, tess.roster_source_id, tess.has_usable_password()) == (
        "tess",
        "u-t1",
        False,
    )
    assert sorted(
        Membership.objects.filter(school__district=district)
        .exclude(user__username="left")
        .values_list("user__username", "school__code", "role")
    ) == [
        ("al", "WAS-MS", "administrator"),
        ("tess", "LIN-ES", "teacher"),
        ("tess", "WAS-MS", "teacher"),
    ]
    assert not User.objects.filter(email="andy@rsd.example.org").exists()
    student, teacher = leaving
    teacher.refresh_from_db()
    assert teacher.is_active is False
    assert not Token.objects.filter(user=teacher).exists()
    run_row = RosterImportRun.objects.get()
    assert (run_row.outcome, run_row.summary) == ("imported", result.summary)


def test_a_second_run_of_the_same_set_changes_nothing(tmp_path, district, leaving):
    folder = data.write_set(tmp_path / "set")
    run(folder, district, se=None)
    stamps = dict(Student.objects.values_list("student_id", "updated_at"))
    again = run(folder, district)
    assert again.summary == {
        "schools": {"created": 0, "updated": 0},
        "students": {"created": 0, "updated": 0, "deactivated": 0},
        "staff": {"created": 0, "updated": 0, "deactivated": 0},
        "roles_granted": 0,
        "skipped_roles": {"aide": 1},
    }
    assert again.changes == []
    assert dict(Student.objects.values_list("student_id", "updated_at")) == stamps


def test_an_off_roster_student_is_not_offered_at_intake_but_keeps_their_row(
    tmp_path, district, leaving
):
    student, teacher = leaving
    admin = factories.user_with_role("administrator", student.school)
    assert list(students_search(user=admin, school=student.school, query="S9")) == [student]
    run(data.write_set(tmp_path / "set"), district)
    assert list(students_search(user=admin, school=student.school, query="S9")) == []
    assert Student.objects.filter(pk=student.pk).exists()


def test_a_later_set_updates_what_changed(tmp_path, district):
    run(data.write_set(tmp_path / "one"), district)
    users = [list(row) for row in data.USERS]
    users[2][16] = "08"  # Liam moves up a grade
    users[1][4] = "org-2"  # Ava changes school
    result = run(data.write_set(tmp_path / "two", users=users), district)
    assert result.summary["students"] == {"created": 0, "updated": 2, "deactivated": 0}
    assert sorted(result.changes) == ["student S1: update school", "student S2: update grade"]
    assert Student.objects.get(student_id="S2").grade == 8


def test_the_special_education_file_sets_the_plan_flags(tmp_path, district):
    folder = data.write_set(tmp_path / "set", special_education=data.SPECIAL_EDUCATION)
    run(folder, district)
    flags = {
        s.student_id: (s.iep, s.section_504, s.bip, s.plan_contact)
        for s in Student.objects.filter(district=district)
    }
    assert flags == {
        "S1": (False, False, False, ""),
        "S2": (True, False, True, "Ms. Ortiz, ext 214"),
        "S3": (False, True, False, ""),
    }
    # On its own, later: only the flags change.
    later = tmp_path / "se.csv"
    later.write_text(
        data.to_csv([["student_id", "iep", "section_504", "bip"], ["S1", "Y", "N", "N"]])
    )
    result = run(data.write_set(tmp_path / "again"), district, se=later)
    assert result.changes == ["student S1: update iep"]
    assert Student.objects.get(student_id="S1").iep is True
    assert Student.objects.get(student_id="S2").iep is True


def test_a_zip_and_the_1_2_roles_layout_are_read(tmp_path, district):
    users = [[c for i, c in enumerate(row) if i not in (4, 5)] for row in data.USERS]
    roles = [["sourcedId", "status", "roleType", "role", "userSourcedId", "orgSourcedId"]]
    for row in data.USERS[1:]:
        for org in row[4].split(","):
            roles.append([f"r-{row[0]}-{org}", "", "primary", row[5], row[0], org])
    roles.append(["r-extra", "", "secondary", "aide", "u-a1", "org-1"])  # not a product role
    folder = data.write_set(tmp_path / "set", users=users, roles=roles)
    archive = data.zip_folder(folder, tmp_path / "set.zip", inside="oneroster/")
    result = run(archive, district)
    assert result.summary["students"] == {"created": 3, "updated": 0, "deactivated": 0}
    assert result.summary["roles_granted"] == 3
    assert Student.objects.get(student_id="S2").race_ethnicity == "TR"


def test_every_kind_of_bad_cell_is_reported_with_file_line_and_column(tmp_path, district):
    orgs = [list(r) for r in data.ORGS] + [
        ["org-3", "maybe", "", "", "campus", "LIN-ES", "org-d"],
        ["org-4", "", "", "Dup", "school", "LIN-ES", "org-d"],
    ]
    users = [list(r) for r in data.USERS]
    users[1][16] = "14"  # grade
    users[2][8] = ""  # givenName
    users[5][4] = "org-1,org-404"  # unknown org
    users[6][12] = "not-an-email"
    users[7][5] = "wizard"  # role
    users.append(data.user("u-s4", "student", "org-1", "New", "Kid", "S4", grades="02"))
    users.append(data.user("u-s5", "student", "org-1", "Twin", "Kid", "S1", grades="02"))
    users.append(data.user("u-s6", "student", "org-1", "No", "Demographics", "S6", grades="02"))
    demographics = [list(r) for r in data.DEMOGRAPHICS]
    demographics[1][3] = "2017-13-40"
    demographics[2][4] = "unspecified"
    demographics[3][6] = "yes"
    demographics[3][5] = ""
    demographics[4][0] = "u-nobody"
    demographics.append(
        ["u-s4", "", "", "2031-01-01", "male", *[""] * 5, "", "false", "", "", "", ""]
    )
    special = [
        ["student_id", "iep", "section_504", "bip"],
        ["S2", "maybe", "N", "N"],
        ["S404", "N", "N", "N"],
    ]
    folder = data.write_set(
        tmp_path / "bad",
        orgs=orgs,
        users=users,
        demographics=demographics,
        special_education=special,
    )
    with pytest.raises(OneRosterError) as caught:
        run(folder, district)
    assert [str(p) for p in caught.value.problems] == [
        "orgs.csv line 5, column status: 'maybe' is not one of active, tobedeleted",
        "orgs.csv line 5, column type: 'campus' is not one of department, district, local, "
        "national, school, state",
        "orgs.csv line 6, column identifier: 'LIN-ES' repeats line 3",
        "users.csv line 2, column grades: '14' is not a grade (use PK, TK, KG or 01-12)",
        "users.csv line 3, column givenName: is empty",
        "users.csv line 6, column orgSourcedIds: no org 'org-404' in orgs.csv",
        "users.csv line 7, column email: 'not-an-email' is not an email address",
        "users.csv line 8, column role: 'wizard' is not a OneRoster role",
        "users.csv line 11, column identifier: 'S1' repeats line 2",
        "demographics.csv line 2, column birthDate: '2017-13-40' is not a date (YYYY-MM-DD)",
        "demographics.csv line 3, column sex: 'unspecified' is not one of female, male, other",
        "demographics.csv line 4, column asian: 'yes' is not true or false",
        "demographics.csv line 4: no race or ethnicity flag is true",
        "demographics.csv line 5, column sourcedId: no user 'u-nobody' in users.csv",
        "demographics.csv line 6, column birthDate: '2031-01-01' is in the future",
        "demographics.csv line 6: no race or ethnicity flag is true",
        "special_education.csv line 2, column iep: 'maybe' is not Y or N",
        "users.csv line 12, column sourcedId: no demographics.csv row: a new student needs a "
        "birth date, sex and race",
        "special_education.csv line 3, column student_id: no student 'S404' in users.csv or on "
        "the roster",
    ]
    assert not Student.objects.exists()
    assert not School.objects.filter(code="LIN-ES").exists()
    assert not User.objects.exists()
    assert RosterImportRun.objects.get().outcome == "refused"


def test_a_missing_file_or_column_is_reported(tmp_path, district):
    folder = data.write_set(tmp_path / "set", users=None)
    with pytest.raises(OneRosterError) as caught:
        oneroster_set_read(path=folder)
    assert [str(p) for p in caught.value.problems] == ["users.csv line 0: is missing from the set"]
    with pytest.raises(OneRosterError) as caught:
        run(data.write_set(tmp_path / "two", orgs=[r[:5] for r in data.ORGS]), district)
    assert [str(p) for p in caught.value.problems][
        0
    ] == "orgs.csv line 1: missing columns: identifier"


def test_the_command_dry_run_prints_changes_and_changes_nothing(tmp_path, district, capsys):
    folder = data.write_set(tmp_path / "set")
    call_command("import_oneroster", str(folder), "--dry-run")
    out = capsys.readouterr().out
    assert "would school LIN-ES: create\n" in out
    assert "would student S1: create\n" in out
    assert "would staff tess@rsd.example.org: grant teacher at WAS-MS\n" in out
    assert out.rstrip().endswith(
        "Dry run, nothing changed. schools: 2 created, 0 updated; students: 3 created, "
        "0 updated, 0 deactivated; staff: 2 created, 0 updated, 0 deactivated; "
        "roles granted: 3; skipped (role not used here): 1 aide"
    )
    assert not Student.objects.exists() and not User.objects.exists()
    assert RosterImportRun.objects.get().outcome == "dry_run"


def test_the_command_imports_and_reports_bad_cells(tmp_path, district, capsys):
    call_command("import_oneroster", str(data.write_set(tmp_path / "set")))
    assert "Imported. schools: 2 created" in capsys.readouterr().out
    users = [list(r) for r in data.USERS]
    users[1][16] = "14"
    with pytest.raises(CommandError, match=r"1 problem\(s\) found; nothing was imported"):
        call_command("import_oneroster", str(data.write_set(tmp_path / "bad", users=users)))
    assert capsys.readouterr().err == (
        "users.csv line 2, column grades: '14' is not a grade (use PK, TK, KG or 01-12)\n"
    )
    assert Student.objects.get(student_id="S1").grade == 3


def test_the_command_needs_a_district_when_there_are_several(tmp_path, district):
    factories.DistrictFactory()
    with pytest.raises(CommandError, match="give --district SLUG"):
        call_command("import_oneroster", str(data.write_set(tmp_path / "set")))
    call_command("import_oneroster", str(tmp_path / "set"), "--district", district.slug)
    assert Student.objects.filter(district=district).count() == 3


def test_a_superuser_is_never_deactivated_by_a_roster(tmp_path, district):
    root = User.objects.create_superuser("root", "left@rsd.example.org", "pw")
    run(data.write_set(tmp_path / "set"), district)
    root.refresh_from_db()
    assert root.is_active is True


def test_the_other_kinds_of_bad_cell_and_file(tmp_path, district):
    factories.SchoolFactory(code="FAR-01", district=factories.DistrictFactory())
    orgs = [list(r) for r in data.ORGS] + [
        ["org-5", "", "", "Far", "school", "FAR-01", "org-d"],
        ["org-6", "", "", "x" * 201, "school", "NEW-01", "org-d"],
        ["org-7", "", "", "Short row"],
    ]
    users = [list(r) for r in data.USERS]
    users[1][4] = "org-d"  # a student at the district, not a school
    users[6][12] = "tess@rsd.example.org"  # the teacher's email again
    users[6][6] = "u" * 151
    special = [
        ["student_id", "iep", "section_504", "bip", "plan_contact"],
        ["S2", "N", "N", "N", "y" * 201],
    ]
    folder = data.write_set(tmp_path / "bad", orgs=orgs, users=users, special_education=special)
    with pytest.raises(OneRosterError) as caught:
        run(folder, district)
    assert [str(p) for p in caught.value.problems] == [
        "orgs.csv line 5, column identifier: 'FAR-01' is a school of another district",
        "orgs.csv line 6, column name: is longer than 200 characters",
        "orgs.csv line 7: has 4 cells, the header has 7",
        "users.csv line 2, column orgSourcedIds: names no school of orgs.csv",
        "users.csv line 7, column email: 'tess@rsd.example.org' repeats line 6",
        "users.csv line 7, column username: is longer than 150 characters",
        "special_education.csv line 2, column plan_contact: is longer than 200 characters",
    ]
    (tmp_path / "latin1").mkdir()
    (tmp_path / "latin1" / "orgs.csv").write_bytes("sourcedId,name\nx,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(OneRosterError) as caught:
        oneroster_set_read(path=tmp_path / "latin1")
    assert [str(p) for p in caught.value.problems] == [
        "orgs.csv line 2: is not UTF-8 (invalid continuation byte at byte 20)"
    ]
    (tmp_path / "file.txt").write_text("nope")
    with pytest.raises(OneRosterError, match="is neither a folder nor a zip"):
        oneroster_set_read(path=tmp_path / "file.txt")
