"""The demo district: three schools, one login per role, and a generated roster."""

import random
from datetime import date

from django.db import transaction

from .models import District, Membership, RaceEthnicity, Role, School, Student, User
from .services import school_queues_open

DEMO_PASSWORD = "demo"  # noqa: S105 - documented demo login
DEMO_SCHOOLS = [
    ("LIN-ES", "Lincoln Elementary", 0, 5),
    ("WAS-MS", "Washington Middle", 6, 8),
    ("JEF-HS", "Jefferson High", 9, 12),
]
DEMO_USERS = [
    ("teacher", "Taylor", "Teacher", Role.TEACHER),
    ("counselor", "Casey", "Counselor", Role.COUNSELOR),
    ("administrator", "Alex", "Principal", Role.ADMINISTRATOR),
    ("clinician", "Chris", "Clinician", Role.CLINICIAN),
    ("sro", "Sam", "Officer", Role.SRO),
    ("district_admin", "Dana", "Admin", Role.DISTRICT_ADMIN),
]
FIRST = [
    "Ava",
    "Liam",
    "Mia",
    "Noah",
    "Zoe",
    "Eli",
    "Maya",
    "Leo",
    "Ana",
    "Omar",
    "Ivy",
    "Jae",
    "Nia",
    "Ravi",
    "Lucia",
    "Kai",
    "Aiden",
    "Sofia",
    "Malik",
    "Hana",
]
LAST = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Johnson",
    "Begay",
    "Kim",
    "Williams",
    "Lopez",
    "Brown",
    "Patel",
    "Davis",
    "Martinez",
    "Yazzie",
    "Lee",
    "Wilson",
    "Kealoha",
    "Clark",
    "Ali",
]


def _roster(school: School, rng: random.Random, count: int) -> list[Student]:
    students = []
    year = date.today().year  # noqa: DTZ011 - ages only
    for n in range(count):
        grade = rng.randint(school.grade_low, school.grade_high)
        age = grade + 5
        students.append(
            Student(
                district=school.district,
                school=school,
                student_id=f"{school.code[:3]}{n + 1:04d}",
                first_name=rng.choice(FIRST),
                last_name=rng.choice(LAST),
                birth_date=date(year - age - 1, rng.randint(1, 12), rng.randint(1, 28)),
                grade=grade,
                sex=rng.choice("MFMFX" if n % 17 == 0 else "MF"),
                race_ethnicity=rng.choice(RaceEthnicity.values),
                english_learner=rng.random() < 0.12,
                iep=rng.random() < 0.14,
                section_504=rng.random() < 0.05,
                bip=rng.random() < 0.04,
            )
        )
    return students


@transaction.atomic
def seed_people_and_roster(students_per_school: int = 40) -> District:
    district, _ = District.objects.get_or_create(
        slug="demo", defaults={"name": "Demo Unified School District"}
    )
    schools = []
    for code, name, low, high in DEMO_SCHOOLS:
        school, _ = School.objects.get_or_create(
            code=code,
            defaults={"district": district, "name": name, "grade_low": low, "grade_high": high},
        )
        schools.append(school)
    school_queues_open(school_ids=[school.pk for school in schools])
    for username, first, last, role in DEMO_USERS:
        user = _user(username, first, last)
        for school in schools:
            Membership.objects.get_or_create(user=user, school=school, role=role)
    teacher2 = _user("teacher2", "Terry", "Teacher")
    Membership.objects.get_or_create(user=teacher2, school=schools[1], role=Role.TEACHER)

    rng = random.Random(2019)  # noqa: S311 - demo data
    for school in schools:
        if not Student.objects.filter(school=school).exists():
            Student.objects.bulk_create(_roster(school, rng, students_per_school))
    # The Douglas County facts, for the demo: an 11-year-old with an IEP and a BIP.
    Student.objects.get_or_create(
        district=district,
        student_id="WAS9001",
        defaults={
            "school": schools[1],
            "first_name": "Jordan",
            "last_name": "Rivera",
            "birth_date": date(date.today().year - 12, 1, 15),  # noqa: DTZ011
            "grade": 6,
            "sex": "M",
            "race_ethnicity": "HI",
            "iep": True,
            "bip": True,
            "plan_contact": "Dr. Morgan Reyes, school psychologist, ext. 2210",
        },
    )
    return district


def _user(username: str, first: str, last: str) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"first_name": first, "last_name": last, "email": f"{username}@demo.invalid"},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user
