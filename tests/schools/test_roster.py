from datetime import date

import pytest
from django.core.management import CommandError, call_command

from schools.models import Student
from schools.services import RosterImportError, roster_import

HEADER = (
    "student_id,school_code,first_name,last_name,birth_date,grade,sex,race_ethnicity,"
    "english_learner,iep,section_504,bip\n"
)


@pytest.fixture
def schools(school, other_school):
    return school, other_school


def test_import_creates_students_with_every_column(schools):
    content = HEADER + (
        "A1,WAS-MS,Jordan,Rivera,2014-01-15,6,M,HI,N,Y,N,Y\n"
        "A2,jef-hs,Ana,Lee,2009-05-02,K,F,TR,Y,N,Y,N\n"
    )
    result = roster_import(content=content)
    assert (result.created, result.updated) == (2, 0)
    jordan = Student.objects.get(student_id="A1")
    assert jordan.school.code == "WAS-MS"
    assert jordan.birth_date == date(2014, 1, 15)
    assert (jordan.grade, jordan.sex, jordan.race_ethnicity) == (6, "M", "HI")
    assert (jordan.english_learner, jordan.iep, jordan.section_504, jordan.bip) == (
        False,
        True,
        False,
        True,
    )
    ana = Student.objects.get(student_id="A2")
    assert (ana.grade, ana.school.code, ana.english_learner, ana.section_504) == (
        0,
        "JEF-HS",
        True,
        True,
    )


def test_reimport_updates_by_student_id_and_keeps_one_row(schools):
    roster_import(content=HEADER + "A1,WAS-MS,Jordan,Rivera,2014-01-15,6,M,HI,N,N,N,N\n")
    result = roster_import(
        content=HEADER + "A1,JEF-HS,Jordan,Rivera-Cruz,2014-01-15,9,M,HI,N,Y,N,Y\n"
    )
    assert (result.created, result.updated) == (0, 1)
    assert Student.objects.count() == 1
    jordan = Student.objects.get()
    assert (jordan.last_name, jordan.school.code, jordan.grade, jordan.iep, jordan.bip) == (
        "Rivera-Cruz",
        "JEF-HS",
        9,
        True,
        True,
    )


def test_bad_rows_report_line_and_column_and_change_nothing(schools):
    roster_import(content=HEADER + "A1,WAS-MS,Jordan,Rivera,2014-01-15,6,M,HI,N,N,N,N\n")
    content = HEADER + (
        "A1,WAS-MS,Changed,Name,2014-01-15,6,M,HI,N,N,N,N\n"
        "A2,NOPE,Ana,Lee,2009-13-02,13,Q,ZZ,maybe,N,N,N\n"
        ",WAS-MS,,Lee,2009-01-02,7,F,WH,N,N,N,N\n"
    )
    with pytest.raises(RosterImportError) as caught:
        roster_import(content=content)
    messages = [str(p) for p in caught.value.problems]
    assert messages == [
        "line 3, column school_code: unknown school code 'NOPE'",
        "line 3, column birth_date: '2009-13-02' is not a date in the form YYYY-MM-DD",
        "line 3, column grade: '13' is not a grade (use PK, K or 1-12)",
        "line 3, column sex: 'Q' is not one of M, F or X",
        "line 3, column race_ethnicity: 'ZZ' is not a CRDC code "
        "(use one of HI, AM, AS, HP, BL, WH, TR)",
        "line 3, column english_learner: 'MAYBE' is not Y or N",
        "line 4, column student_id: is empty",
        "line 4, column first_name: is empty",
    ]
    assert Student.objects.count() == 1
    assert Student.objects.get().first_name == "Jordan"


def test_missing_columns_and_duplicate_ids_are_refused(schools):
    with pytest.raises(RosterImportError) as caught:
        roster_import(content="student_id,school_code\nA1,WAS-MS\n")
    assert str(caught.value.problems[0]).startswith("line 1: missing columns: first_name")
    with pytest.raises(RosterImportError) as caught:
        roster_import(
            content=HEADER
            + "A1,WAS-MS,A,B,2014-01-15,6,M,HI,N,N,N,N\nA1,WAS-MS,C,D,2014-01-15,6,F,HI,N,N,N,N\n"
        )
    assert [str(p) for p in caught.value.problems] == [
        "line 3, column student_id: 'A1' repeats line 2"
    ]
    assert Student.objects.count() == 0


def test_command_prints_each_problem_and_fails(schools, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "A1,WAS-MS,Jordan,Rivera,2014-01-15,6,M,HI,N,N,N,N\n")
    call_command("import_roster", str(good))
    assert "Imported 1 students (1 new, 0 updated)." in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "A2,WAS-MS,Jordan,Rivera,2014-01-15,6,M,HI,N,N,N,X\n")
    with pytest.raises(CommandError, match="1 problem"):
        call_command("import_roster", str(bad))
    assert "bad.csv: line 2, column bip: 'X' is not Y or N" in capsys.readouterr().err
    assert list(Student.objects.values_list("student_id", flat=True)) == ["A1"]
