"""Writes for people, schools and the roster."""

import csv
import io
from dataclasses import dataclass
from datetime import date

from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from . import selectors
from .models import (
    STUDENT_ROSTER_FIELDS,
    District,
    Membership,
    RaceEthnicity,
    Role,
    School,
    Sex,
    Student,
    User,
)

ROSTER_COLUMNS = (
    "student_id",
    "school_code",
    "first_name",
    "last_name",
    "birth_date",
    "grade",
    "sex",
    "race_ethnicity",
    "english_learner",
    "iep",
    "section_504",
    "bip",
)
OPTIONAL_ROSTER_COLUMNS = ("plan_contact",)
GRADES = {"PK": -1, "K": 0, **{str(n): n for n in range(1, 13)}}
FLAGS = {"Y": True, "N": False}


@dataclass(frozen=True)
class RosterProblem:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class RosterImportError(Exception):
    def __init__(self, problems: list[RosterProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class RosterImportResult:
    created: int
    updated: int


def _parse_row(
    line: int, row: dict[str, str], schools: dict[str, School]
) -> tuple[dict, list[RosterProblem]]:
    problems: list[RosterProblem] = []
    values: dict = {}

    def problem(column: str, message: str) -> None:
        problems.append(RosterProblem(line, column, message))

    def text(column: str, max_length: int) -> str:
        value = (row.get(column) or "").strip()
        if not value:
            problem(column, "is empty")
        elif len(value) > max_length:
            problem(column, f"is longer than {max_length} characters")
        return value

    values["student_id"] = text("student_id", 40)
    code = (row.get("school_code") or "").strip()
    school = schools.get(code.upper())
    if school is None:
        problem("school_code", f"unknown school code {code!r}")
    values["school"] = school
    values["first_name"] = text("first_name", 100)
    values["last_name"] = text("last_name", 100)
    raw_birth = (row.get("birth_date") or "").strip()
    try:
        values["birth_date"] = date.fromisoformat(raw_birth)
        if values["birth_date"] > date.today():  # noqa: DTZ011 - a calendar date, no zone
            problem("birth_date", f"{raw_birth!r} is in the future")
    except ValueError:
        problem("birth_date", f"{raw_birth!r} is not a date in the form YYYY-MM-DD")
    raw_grade = (row.get("grade") or "").strip().upper()
    if raw_grade not in GRADES:
        problem("grade", f"{raw_grade!r} is not a grade (use PK, K or 1-12)")
    values["grade"] = GRADES.get(raw_grade)
    raw_sex = (row.get("sex") or "").strip().upper()
    if raw_sex not in Sex.values:
        problem("sex", f"{raw_sex!r} is not one of M, F or X")
    values["sex"] = raw_sex
    raw_race = (row.get("race_ethnicity") or "").strip().upper()
    if raw_race not in RaceEthnicity.values:
        problem(
            "race_ethnicity",
            f"{raw_race!r} is not a CRDC code (use one of {', '.join(RaceEthnicity.values)})",
        )
    values["race_ethnicity"] = raw_race
    for flag in ("english_learner", "iep", "section_504", "bip"):
        raw_flag = (row.get(flag) or "").strip().upper()
        if raw_flag not in FLAGS:
            problem(flag, f"{raw_flag!r} is not Y or N")
        values[flag] = FLAGS.get(raw_flag, False)
    values["plan_contact"] = (row.get("plan_contact") or "").strip()[:200]
    return values, problems


def roster_import(*, content: str, district: District | None = None) -> RosterImportResult:
    """Upsert roster rows by student_id. All or nothing: any bad row and nothing changes.

    Raises RosterImportError with one problem per bad cell, each with its line and column.
    """
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ROSTER_COLUMNS if c not in header]
    unknown = [c for c in header if c not in ROSTER_COLUMNS + OPTIONAL_ROSTER_COLUMNS]
    header_problems = []
    if missing:
        header_problems.append(RosterProblem(1, "", f"missing columns: {', '.join(missing)}"))
    if unknown:
        header_problems.append(RosterProblem(1, "", f"unknown columns: {', '.join(unknown)}"))
    if header_problems:
        raise RosterImportError(header_problems)
    reader.fieldnames = header

    schools_qs = School.objects.select_related("district")
    if district is not None:
        schools_qs = schools_qs.filter(district=district)
    schools = {s.code.upper(): s for s in schools_qs}

    problems: list[RosterProblem] = []
    parsed: list[dict] = []
    seen: dict[tuple[int, str], int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(RosterProblem(line, "", "has more cells than the header"))
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        values, row_problems = _parse_row(line, row, schools)
        problems.extend(row_problems)
        school = values["school"]
        if school is not None and values["student_id"]:
            key = (school.district_id, values["student_id"])
            if key in seen:
                problems.append(
                    RosterProblem(
                        line, "student_id", f"{values['student_id']!r} repeats line {seen[key]}"
                    )
                )
            seen[key] = line
        parsed.append(values)
    if problems:
        raise RosterImportError(problems)

    created = updated = 0
    with transaction.atomic():
        existing = {
            (s.district_id, s.student_id): s
            for s in Student.objects.filter(
                student_id__in=[v["student_id"] for v in parsed]
            ).select_for_update()
        }
        to_create: list[Student] = []
        to_update: list[Student] = []
        fields = ["school", *STUDENT_ROSTER_FIELDS]
        for values in parsed:
            school = values["school"]
            student = existing.get((school.district_id, values["student_id"]))
            if student is None:
                student = Student(district=school.district, student_id=values["student_id"])
                to_create.append(student)
            else:
                to_update.append(student)
            for field in fields:
                setattr(student, field, values[field])
        Student.objects.bulk_create(to_create, batch_size=1000)
        Student.objects.bulk_update(to_update, fields, batch_size=1000)
        created, updated = len(to_create), len(to_update)
    return RosterImportResult(created=created, updated=updated)


def school_queues_open(*, school_ids) -> int:
    """Open the school's responder queues (one per route) that are not open yet."""
    # Queues are the incidents app's; a school exists with its queues from the start.
    from incidents.services import responder_queues_open

    return responder_queues_open(school_ids=school_ids)


@transaction.atomic
def school_create(
    *, district: District, code: str, name: str, grade_low: int, grade_high: int
) -> School:
    school = School.objects.create(
        district=district, code=code, name=name, grade_low=grade_low, grade_high=grade_high
    )
    school_queues_open(school_ids=[school.pk])
    return school


# --- People: a district admin's roles and deactivations ------------------------------------


def _check_may_manage(*, actor: User, person: User) -> None:
    if not selectors.person_is_manageable_by(actor, person):
        raise PermissionDenied(f"You cannot change {person.get_username()}'s access.")


def person_role_grant(*, actor: User, person: User, school: School, role: str) -> Membership:
    """Give ``person`` ``role`` at ``school``. A district admin grants roles only at schools
    of their district, to people they may manage, and never the district admin role: only a
    superuser grants that (or staff or superuser status, in the back office)."""
    if role not in Role.values:
        raise ValidationError(
            {"role": f'Unknown role "{role}"; use one of {", ".join(Role.values)}.'}
        )
    if not actor.is_superuser:
        if role == Role.DISTRICT_ADMIN:
            raise PermissionDenied("Only a superuser can make someone a district admin.")
        if not selectors.is_district_admin(actor, school.district):
            raise PermissionDenied(f"{school.code} is not a school of your district.")
    _check_may_manage(actor=actor, person=person)
    if not person.is_active:
        raise ValidationError({"person": f"{person.get_username()} is deactivated."})
    with transaction.atomic():
        membership, _ = Membership.objects.get_or_create(user=person, school=school, role=role)
        # A school made outside the product's services may have no queues yet: the role's
        # queues open now, not when its holder first opens a queue page.
        school_queues_open(school_ids=[school.pk])
    return membership


def person_role_remove(*, actor: User, membership: Membership) -> None:
    """Take one role at one school away. The same limits as granting."""
    if not actor.is_superuser:
        if membership.role == Role.DISTRICT_ADMIN:
            raise PermissionDenied("Only a superuser can remove a district admin role.")
        if not selectors.is_district_admin(actor, membership.school.district):
            raise PermissionDenied(f"{membership.school.code} is not a school of your district.")
    _check_may_manage(actor=actor, person=membership.user)
    with transaction.atomic():
        Membership.objects.filter(pk=membership.pk).delete()


def person_deactivate(*, actor: User, person: User) -> int:
    """Stop ``person`` signing in, at once: their account is deactivated, every session they
    have is ended and every API token deleted, and the access log says who did it.

    Returns the number of sessions ended.
    """
    # The access log lives with the incidents it mostly records; this is its one entry about
    # a person, so the import stays inside this function (schools is imported by incidents).
    from rest_framework.authtoken.models import Token

    from incidents.models import AccessAction, AccessLogEntry

    if person.pk == actor.pk:
        raise ValidationError({"person": "You cannot deactivate yourself."})
    _check_may_manage(actor=actor, person=person)
    districts = selectors.districts_administered(actor)
    district = districts[0] if districts else selectors.district_of(person)
    with transaction.atomic():
        User.objects.filter(pk=person.pk).update(is_active=False)
        person.is_active = False
        Token.objects.filter(user=person).delete()
        ended = [
            session.pk
            for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
            if str(session.get_decoded().get("_auth_user_id")) == str(person.pk)
        ]
        Session.objects.filter(pk__in=ended).delete()
        AccessLogEntry.objects.create(
            user=actor,
            username=actor.get_username(),
            person=person,
            district=district,
            action=AccessAction.DEACTIVATE_PERSON,
        )
    return len(ended)
