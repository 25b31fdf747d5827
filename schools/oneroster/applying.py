"""A checked plan written in one transaction, compared with what is stored."""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from ..models import (
    District,
    Membership,
    RosterImportRun,
    School,
    Student,
    User,
)
from ..services import school_queues_open
from .checking import Plan, check_set
from .reading import STUDENT_FIELDS, OneRosterError, OneRosterSet


@dataclass
class ImportResult:
    summary: dict
    changes: list[str] = field(default_factory=list)
    run: RosterImportRun | None = None


SPECIAL_EDUCATION_FIELDS = ("iep", "section_504", "bip", "plan_contact")


def _apply(plan: Plan, district: District, changes: list[str]) -> dict:
    summary = {
        "schools": {"created": 0, "updated": 0},
        "students": {"created": 0, "updated": 0, "deactivated": 0},
        "staff": {"created": 0, "updated": 0, "deactivated": 0},
        "roles_granted": 0,
        "skipped_roles": dict(sorted(plan.skipped_roles.items())),
    }
    schools = _apply_schools(plan, district, summary["schools"], changes)
    _apply_students(plan, district, schools, summary["students"], changes)
    _apply_staff(plan, district, schools, summary, changes)
    # Queues exist from the moment their school does, whoever created it.
    school_queues_open(school_ids=[school.pk for school in schools.values()])
    return summary


def _apply_schools(
    plan: Plan, district: District, counts: dict, changes: list[str]
) -> dict[str, School]:
    """Schools, by code within the district. A new school's grade span comes from its students."""
    spans: dict[str, list[int]] = {}
    for values in plan.students.values():
        if values["school"] and values["grade"] is not None:
            spans.setdefault(values["school"], []).append(values["grade"])
    stored_schools = {s.code: s for s in School.objects.filter(district=district)}
    schools: dict[str, School] = {}
    for sourced_id, values in plan.schools.items():
        school = stored_schools.get(values["code"])
        if school is None:
            grades = spans.get(sourced_id) or [0, 12]
            school = School.objects.create(
                district=district,
                code=values["code"],
                name=values["name"],
                grade_low=min(grades),
                grade_high=max(grades),
            )
            counts["created"] += 1
            changes.append(f"school {school.code}: create")
        elif school.name != values["name"]:
            school.name = values["name"]
            school.save(update_fields=["name"])
            counts["updated"] += 1
            changes.append(f"school {school.code}: update name")
        schools[sourced_id] = school
    return schools


def _student_wanted(plan: Plan, student_id: str, values: dict, schools: dict) -> dict:
    """The stored fields a roster row asks for."""
    wanted = {
        "school_id": schools[values["school"]].pk,
        "first_name": values["first_name"],
        "last_name": values["last_name"],
        "grade": values["grade"],
        "on_roster": True,
    }
    for key in ("birth_date", "sex", "race_ethnicity"):
        if key in values:
            wanted[key] = values[key]
    special = plan.special_education.get(student_id)
    if special:
        wanted.update({k: special[k] for k in SPECIAL_EDUCATION_FIELDS})
    return wanted


def _changed_fields(row, wanted: dict) -> list[str]:
    """Set on ``row`` the values of ``wanted`` that differ; returns their names."""
    changed = [key for key, value in wanted.items() if getattr(row, key) != value]
    for key in changed:
        setattr(row, key, wanted[key])
    return changed


def _apply_students(
    plan: Plan, district: District, schools: dict, counts: dict, changes: list[str]
) -> None:
    """Students, by student_id within the district."""
    stored = {s.student_id: s for s in Student.objects.filter(district=district)}
    to_create: list[Student] = []
    to_update: list[Student] = []
    for student_id, values in plan.students.items():
        wanted = _student_wanted(plan, student_id, values, schools)
        student = stored.get(student_id)
        if student is None:
            to_create.append(Student(district=district, student_id=student_id, **wanted))
            changes.append(f"student {student_id}: create")
        elif changed := _changed_fields(student, wanted):
            to_update.append(student)
            shown = ", ".join(k.removesuffix("_id") for k in changed)
            changes.append(f"student {student_id}: update {shown}")
    # The special education file also sets the flags of stored students this set does not list.
    for student_id, special in plan.special_education.items():
        student = stored.get(student_id)
        if student_id in plan.students or student is None:
            continue
        wanted = {k: special[k] for k in SPECIAL_EDUCATION_FIELDS}
        if changed := _changed_fields(student, wanted):
            to_update.append(student)
            changes.append(f"student {student_id}: update {', '.join(changed)}")
    for student_id in sorted(plan.students_leaving):
        student = stored.get(student_id)
        if student is not None and student.on_roster:
            student.on_roster = False
            to_update.append(student)
            counts["deactivated"] += 1
            changes.append(f"student {student_id}: take off the roster")
    Student.objects.bulk_create(to_create, batch_size=2000)
    Student.objects.bulk_update(to_update, STUDENT_FIELDS, batch_size=2000)
    counts["created"] = len(to_create)
    counts["updated"] = len(to_update) - counts["deactivated"]


class _People:
    """The stored staff a set names: by their OneRoster sourcedId, or by email the first time."""

    def __init__(self, plan: Plan) -> None:
        emails = {v["email"] for v in plan.staff.values()} | set(plan.staff_leaving.values())
        people = list(
            User.objects.filter(roster_source_id__in=[*plan.staff, *plan.staff_leaving])
        ) + list(
            User.objects.annotate(email_lower=Lower("email")).filter(
                roster_source_id="", email_lower__in=sorted(emails)
            )
        )
        self.by_source = {u.roster_source_id: u for u in people if u.roster_source_id}
        self.by_email = {u.email.lower(): u for u in people if not u.roster_source_id}

    def find(self, sourced_id: str, email: str) -> User | None:
        return self.by_source.get(sourced_id) or self.by_email.get(email)


def _staff_user_save(
    user: User | None, sourced_id: str, values: dict, counts: dict, changes: list[str]
) -> User:
    """Create the person, or update what changed; returns the saved user."""
    wanted = {
        "roster_source_id": sourced_id,
        "email": values["email"],
        "first_name": values["first_name"],
        "last_name": values["last_name"],
    }
    if user is None:
        username = values["username"]
        if User.objects.filter(username__iexact=username).exists():
            username = values["email"]  # a local account already has that name
        user = User(username=username, **wanted)
        user.set_unusable_password()  # signs in through SSO, or sets one by email reset
        user.save()
        counts["created"] += 1
        changes.append(f"staff {values['email']}: create")
    elif changed := _changed_fields(user, wanted):
        user.save(update_fields=changed)
        counts["updated"] += 1
        changes.append(f"staff {values['email']}: update {', '.join(changed)}")
    return user


def _apply_staff(
    plan: Plan, district: District, schools: dict, summary: dict, changes: list[str]
) -> None:
    people = _People(plan)
    memberships = set(
        Membership.objects.filter(school__district=district).values_list(
            "user_id", "school_id", "role"
        )
    )
    for sourced_id, values in plan.staff.items():
        user = people.find(sourced_id, values["email"])
        user = _staff_user_save(user, sourced_id, values, summary["staff"], changes)
        for role, org in values["roles"]:
            school = schools[org]
            if (user.pk, school.pk, role) not in memberships:
                Membership.objects.create(user=user, school=school, role=role)
                memberships.add((user.pk, school.pk, role))
                summary["roles_granted"] += 1
                changes.append(f"staff {values['email']}: grant {role} at {school.code}")
    for sourced_id, email in plan.staff_leaving.items():
        user = people.find(sourced_id, email)
        # A superuser is the break-glass account: a roster never locks it out.
        if user is None or not user.is_active or user.is_superuser:
            continue
        user_deactivate_for_roster(user=user)
        summary["staff"]["deactivated"] += 1
        changes.append(f"staff {email}: deactivate")


def user_deactivate_for_roster(*, user: User) -> None:
    """Sign a person out everywhere: inactive users are refused by every backend, and their
    API tokens and sessions go at once."""
    from rest_framework.authtoken.models import Token

    user.is_active = False
    user.save(update_fields=["is_active"])
    Token.objects.filter(user=user).delete()
    transaction.on_commit(lambda: _end_sessions(user))  # never for a dry run


def _end_sessions(user: User) -> None:
    from django.apps import apps

    if apps.is_installed("allauth.usersessions"):
        from allauth.usersessions.models import UserSession

        for session in UserSession.objects.filter(user=user):
            session.end()


def oneroster_import(
    *,
    roster_set: OneRosterSet,
    district: District,
    dry_run: bool = False,
    trigger: str = "command",
) -> ImportResult:
    """Import a checked set in one transaction (rolled back for a dry run); records the run.

    Raises OneRosterError, after recording a refused run, when any cell is bad.
    """
    started_at = timezone.now()
    changes: list[str] = []

    def record(outcome: str, summary: dict, problems: str = "") -> RosterImportRun:
        return RosterImportRun.objects.create(
            district=district,
            source=roster_set.source[:500],
            fingerprint=roster_set.fingerprint,
            trigger=trigger,
            outcome=outcome,
            summary=summary,
            problems=problems,
            started_at=started_at,
            finished_at=timezone.now(),
        )

    try:
        plan = check_set(roster_set, district)
    except OneRosterError as exc:
        record(RosterImportRun.Outcome.REFUSED, {}, str(exc))
        raise
    with transaction.atomic():
        summary = _apply(plan, district, changes)
        if dry_run:
            transaction.set_rollback(True)
    outcome = RosterImportRun.Outcome.DRY_RUN if dry_run else RosterImportRun.Outcome.IMPORTED
    return ImportResult(summary=summary, changes=changes, run=record(outcome, summary))


def summary_text(summary: dict) -> str:
    parts = [
        f"{kind}: {', '.join(f'{n} {what}' for what, n in counts.items())}"
        for kind, counts in summary.items()
        if kind in ("schools", "students", "staff")
    ]
    parts.append(f"roles granted: {summary.get('roles_granted', 0)}")
    skipped = summary.get("skipped_roles") or {}
    if skipped:
        parts.append(
            "skipped (role not used here): "
            + ", ".join(f"{n} {role}" for role, n in skipped.items())
        )
    return "; ".join(parts)
