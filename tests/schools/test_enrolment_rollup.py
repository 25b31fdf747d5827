"""The enrolment rollup equals a GROUP BY over the roster after every kind of roster write:
one by one (the back office), in bulk (the OneRoster import), moves between schools,
deletions, and concurrent writers on PostgreSQL."""

import random
import threading
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.models import F

from reports.counts import DIRECT, ROLLUPS
from reports.figures import EquityFilter
from schools.demo import seed_people_and_roster
from schools.models import District, EnrolmentRollup, RaceEthnicity, School, Sex, Student


def assert_enrolment_matches(district: District) -> None:
    schools = tuple(School.objects.filter(district=district).order_by("name"))
    for picked in (schools, schools[:1], schools[1:]):
        flt = EquityFilter(
            district=district, schools=picked, start=date(2025, 8, 1), end=date(2026, 7, 31)
        )
        direct = DIRECT.enrolment(flt)
        assert direct, "the check compares something"
        assert ROLLUPS.enrolment(flt) == direct


def new_student(rng: random.Random, school: School, n: int) -> Student:
    return Student(
        district=school.district,
        school=school,
        student_id=f"T{n:05d}",
        first_name="Test",
        last_name=f"Student {n}",
        birth_date=date(2012, 1, 1),
        grade=rng.randint(0, 12),
        sex=rng.choice(Sex.values),
        race_ethnicity=rng.choice(RaceEthnicity.values),
        english_learner=rng.random() < 0.2,
        iep=rng.random() < 0.2,
        section_504=rng.random() < 0.1,
    )


def regroup(rng: random.Random, kid: Student, schools: list[School]) -> None:
    kid.iep = rng.random() < 0.3
    kid.section_504 = rng.random() < 0.3
    kid.race_ethnicity = rng.choice(RaceEthnicity.values)
    kid.sex = rng.choice(Sex.values)
    kid.english_learner = rng.random() < 0.5
    if rng.random() < 0.3:
        kid.school = rng.choice(schools)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_enrolment_rollup_follows_every_roster_write(db, seed):
    rng = random.Random(seed)
    district = seed_people_and_roster(students_per_school=8)
    schools = list(School.objects.filter(district=district))
    assert_enrolment_matches(district)  # the demo roster, written in bulk

    for n in range(5):  # one by one
        new_student(rng, rng.choice(schools), n).save()
    Student.objects.bulk_create(new_student(rng, rng.choice(schools), n) for n in range(5, 40))
    assert_enrolment_matches(district)

    kids = list(Student.objects.filter(district=district).order_by("pk"))
    for kid in rng.sample(kids, 5):  # the back office
        regroup(rng, kid, schools)
        kid.save()
    bulk = rng.sample(kids, 20)  # the OneRoster import
    for kid in bulk:
        regroup(rng, kid, schools)
    Student.objects.bulk_update(
        bulk, ["school", "iep", "section_504", "race_ethnicity", "sex", "english_learner"]
    )
    # A write that changes nothing the rollup counts.
    Student.objects.filter(pk__in=[k.pk for k in kids[:10]]).update(first_name="Renamed")
    assert_enrolment_matches(district)

    Student.objects.filter(pk__in=[k.pk for k in rng.sample(kids, 7)]).delete()
    kids[0].delete()
    assert_enrolment_matches(district)
    assert EnrolmentRollup.objects.filter(students__lt=0).count() == 0

    EnrolmentRollup.objects.update(students=F("students") + 1)  # a broken rollup ...
    call_command("rollups_rebuild")  # ... is rebuilt from the roster
    assert_enrolment_matches(district)


@pytest.mark.django_db(transaction=True)
def test_concurrent_roster_writers_keep_the_enrolment_rollup_exact(is_postgres):
    if not is_postgres:
        pytest.skip("concurrent transactions: PostgreSQL")
    district = seed_people_and_roster(students_per_school=8)
    schools = list(School.objects.filter(district=district))
    kids = list(Student.objects.filter(district=district).order_by("pk"))
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        # Each writer its own students (two writers of one student row wait for each other
        # whatever the rollup does), all of them the same schools and groups: the same rollup
        # rows, added to concurrently.
        rng = random.Random(seed)
        mine = kids[seed - 1 :: 4]
        try:
            start.wait()
            for round_ in range(6):
                bulk = rng.sample(mine, min(8, len(mine)))
                for kid in bulk:
                    regroup(rng, kid, schools)
                Student.objects.bulk_update(
                    bulk, ["school", "iep", "section_504", "race_ethnicity", "sex"]
                )
                Student.objects.bulk_create(
                    [new_student(rng, rng.choice(schools), seed * 100 + round_)]
                )
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert_enrolment_matches(district)
