import os
import time

import pytest

from schools.models import RosterImportRun, Student
from schools.tasks import oneroster_sync
from tests import factories
from tests.schools import oneroster_data as data


def settle(path, age=120):
    """Make a dropped set look as if it landed ``age`` seconds ago."""
    past = time.time() - age
    for item in [path, *(path.iterdir() if path.is_dir() else [])]:
        os.utime(item, (past, past))
    return path


@pytest.fixture
def drop_dir(tmp_path, settings, district):
    folder = tmp_path / "drop"
    folder.mkdir()
    settings.ONEROSTER_DROP_DIR = str(folder)
    settings.ONEROSTER_DISTRICT = district.slug
    return folder


def test_a_new_set_is_imported_once(drop_dir, district):
    settle(data.write_set(drop_dir / "2026-12-01"), age=600)
    assert oneroster_sync() == "imported"
    assert Student.objects.filter(district=district).count() == 3
    assert oneroster_sync() == "nothing new"
    run = RosterImportRun.objects.get()
    assert (run.trigger, run.outcome, run.summary["students"]) == (
        "scheduled",
        "imported",
        {"created": 3, "updated": 0, "deactivated": 0},
    )


def test_a_newer_zip_is_imported_and_a_set_still_arriving_waits(drop_dir, district, tmp_path):
    settle(data.write_set(drop_dir / "2026-12-01"), age=600)
    oneroster_sync()
    users = [list(row) for row in data.USERS]
    users[2][16] = "08"
    folder = data.write_set(tmp_path / "next", users=users)
    archive = data.zip_folder(folder, drop_dir / "2026-12-02.zip")
    assert oneroster_sync() == "nothing new"  # written just now: may still be arriving
    settle(archive, age=90)
    assert oneroster_sync() == "imported"
    assert Student.objects.get(student_id="S2").grade == 8
    assert RosterImportRun.objects.first().summary["students"]["updated"] == 1


def test_a_bad_set_is_refused_once_and_waits_for_a_corrected_one(drop_dir, district):
    users = [list(row) for row in data.USERS]
    users[1][16] = "14"
    settle(data.write_set(drop_dir / "bad", users=users))
    assert oneroster_sync() == "refused"
    assert oneroster_sync() == "nothing new"
    run = RosterImportRun.objects.get()
    assert run.problems == (
        "users.csv line 2, column grades: '14' is not a grade (use PK, TK, KG or 01-12)"
    )
    assert not Student.objects.exists()


def test_without_a_drop_folder_nothing_runs(settings, district):
    settings.ONEROSTER_DROP_DIR = ""
    assert oneroster_sync() == "not configured"
    assert not RosterImportRun.objects.exists()


def test_the_back_office_shows_each_runs_summary(drop_dir, district, school, client):
    settle(data.write_set(drop_dir / "2026-12-01"), age=600)
    oneroster_sync()
    client.force_login(factories.user_with_role("district_admin", school))
    page = client.get("/admin/schools/rosterimportrun/")
    assert page.status_code == 200
    assert (
        "schools: 1 created, 1 updated; students: 3 created, 0 updated, 0 deactivated"
        in page.content.decode()
    )
    other = factories.DistrictFactory()
    other_school = factories.SchoolFactory(district=other)
    client.force_login(factories.user_with_role("district_admin", other_school))
    assert (
        "schools: 1 created" not in client.get("/admin/schools/rosterimportrun/").content.decode()
    )
