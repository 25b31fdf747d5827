"""OneRoster CSV import: schools, students with demographics, staff with their roles.

A set is a folder or a zip of OneRoster 1.1 bulk CSV files (``orgs.csv``, ``users.csv``,
``demographics.csv``); OneRoster 1.2's separate ``roles.csv`` is read when present. The IEP /
504 / BIP flags are not in OneRoster: an optional ``special_education.csv``
(``student_id,iep,section_504,bip,plan_contact``) in the set, or given separately, sets them.

Every cell is checked before anything is written: one problem per bad cell (file, line,
column), and any problem means nothing changes. Rows are compared with what is stored, so a
second run of the same set changes nothing.
"""

import csv
import hashlib
import io
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from .models import (
    District,
    Membership,
    RaceEthnicity,
    Role,
    RosterImportRun,
    School,
    Student,
    User,
)

SET_FILES = ("orgs.csv", "users.csv", "demographics.csv", "roles.csv", "special_education.csv")
STATUSES = {"", "active", "tobedeleted"}
ORG_TYPES = {"district", "school", "department", "local", "state", "national"}
# OneRoster 1.1 and 1.2 role vocabularies; the ones we keep map to a product role.
STAFF_ROLES = {
    "teacher": Role.TEACHER,
    "administrator": Role.ADMINISTRATOR,
    "principal": Role.ADMINISTRATOR,
    "siteAdministrator": Role.ADMINISTRATOR,
}
OTHER_ROLES = {
    "aide",
    "guardian",
    "parent",
    "proctor",
    "relative",
    "districtAdministrator",
    "systemAdministrator",
}
# CEDS grade levels (OneRoster's vocabulary) to the roster's grade numbers.
GRADES = {"PK": -1, "TK": -1, "KG": 0, **{f"{n:02d}": n for n in range(1, 13)}}
SEX = {"male": "M", "female": "F", "other": "X"}
BOOLEANS = {"true": True, "false": False, "": False}
FLAGS = {"y": True, "n": False, "true": True, "false": False}
# CRDC: Hispanic/Latino first, then one race, or two or more races.
RACE_FLAGS = {
    "americanIndianOrAlaskaNative": RaceEthnicity.AMERICAN_INDIAN,
    "asian": RaceEthnicity.ASIAN,
    "blackOrAfricanAmerican": RaceEthnicity.BLACK,
    "nativeHawaiianOrOtherPacificIslander": RaceEthnicity.PACIFIC_ISLANDER,
    "white": RaceEthnicity.WHITE,
}
REQUIRED_COLUMNS = {
    "orgs.csv": ("sourcedId", "name", "type", "identifier"),
    "users.csv": ("sourcedId", "username", "givenName", "familyName", "identifier", "email"),
    "demographics.csv": (
        "sourcedId",
        "birthDate",
        "sex",
        *RACE_FLAGS,
        "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity",
    ),
    "roles.csv": ("userSourcedId", "role", "orgSourcedId"),
    "special_education.csv": ("student_id", "iep", "section_504", "bip"),
}
STUDENT_FIELDS = [
    "school_id",
    "first_name",
    "last_name",
    "grade",
    "birth_date",
    "sex",
    "race_ethnicity",
    "iep",
    "section_504",
    "bip",
    "plan_contact",
    "on_roster",
]


@dataclass(frozen=True)
class ImportProblem:
    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class OneRosterError(Exception):
    def __init__(self, problems: list[ImportProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class OneRosterSet:
    source: str
    files: dict[str, str]

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return digest.hexdigest()


@dataclass
class ImportResult:
    summary: dict
    changes: list[str] = field(default_factory=list)
    run: RosterImportRun | None = None


def oneroster_set_read(*, path: Path, special_education: Path | None = None) -> OneRosterSet:
    """The set's CSV files as text, from a folder or a zip (at its root or in one folder)."""
    files: dict[str, str] = {}

    def decode(name: str, raw: bytes) -> None:
        try:
            files[name] = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise OneRosterError(
                [ImportProblem(name, 1, "", f"is not UTF-8 ({exc.reason} at byte {exc.start})")]
            ) from exc

    if path.is_dir():
        for name in SET_FILES:
            if (path / name).is_file():
                decode(name, (path / name).read_bytes())
    elif path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = Path(info.filename).name
                if name in SET_FILES and not info.is_dir():
                    decode(name, archive.read(info))
    else:
        raise OneRosterError([ImportProblem(str(path), 0, "", "is neither a folder nor a zip")])
    if special_education is not None:
        decode("special_education.csv", special_education.read_bytes())
    missing = [name for name in ("orgs.csv", "users.csv") if name not in files]
    if missing:
        raise OneRosterError(
            [ImportProblem(name, 0, "", "is missing from the set") for name in missing]
        )
    return OneRosterSet(source=str(path), files=files)


class _Checker:
    """Reads the set's rows and collects one problem per bad cell."""

    def __init__(self) -> None:
        self.problems: list[ImportProblem] = []

    def problem(self, file: str, line: int, column: str, message: str) -> None:
        self.problems.append(ImportProblem(file, line, column, message))

    def rows(self, roster_set: OneRosterSet, name: str):
        content = roster_set.files.get(name)
        if content is None:
            return
        reader = csv.reader(io.StringIO(content))
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in REQUIRED_COLUMNS[name] if c not in header]
        if missing:
            self.problem(name, 1, "", f"missing columns: {', '.join(missing)}")
            return
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                self.problem(
                    name, line, "", f"has {len(cells)} cells, the header has {len(header)}"
                )
                continue
            yield line, dict(zip(header, (c.strip() for c in cells), strict=True))

    def text(self, file: str, line: int, row: dict, column: str, max_length: int) -> str:
        value = row.get(column, "")
        if not value:
            self.problem(file, line, column, "is empty")
        elif len(value) > max_length:
            self.problem(file, line, column, f"is longer than {max_length} characters")
        return value

    def choice(self, file: str, line: int, row: dict, column: str, allowed) -> str:
        value = row.get(column, "")
        if value not in allowed:
            shown = ", ".join(sorted(a for a in allowed if a)) or "nothing"
            self.problem(file, line, column, f"{value!r} is not one of {shown}")
        return value


@dataclass
class _Plan:
    schools: dict[str, dict] = field(default_factory=dict)  # org sourcedId -> values
    students: dict[str, dict] = field(default_factory=dict)  # student_id -> values
    students_leaving: set[str] = field(default_factory=set)
    staff: dict[str, dict] = field(default_factory=dict)  # user sourcedId -> values
    staff_leaving: dict[str, str] = field(default_factory=dict)  # sourcedId -> email
    special_education: dict[str, dict] = field(default_factory=dict)
    skipped_roles: Counter = field(default_factory=Counter)


def _check(roster_set: OneRosterSet, district: District) -> _Plan:
    check = _Checker()
    plan = _Plan()
    org_types: dict[str, str] = {}
    codes: dict[str, int] = {}
    other_district_codes = set(
        School.objects.exclude(district=district).values_list("code", flat=True)
    )
    for line, row in check.rows(roster_set, "orgs.csv"):
        f = "orgs.csv"
        sourced_id = check.text(f, line, row, "sourcedId", 255)
        status = check.choice(f, line, row, "status", STATUSES)
        kind = check.choice(f, line, row, "type", ORG_TYPES)
        org_types[sourced_id] = kind
        if kind != "school" or status == "tobedeleted":
            continue
        code = check.text(f, line, row, "identifier", 20)
        name = check.text(f, line, row, "name", 200)
        if code in codes:
            check.problem(f, line, "identifier", f"{code!r} repeats line {codes[code]}")
        elif code in other_district_codes:
            check.problem(f, line, "identifier", f"{code!r} is a school of another district")
        codes[code] = line
        plan.schools[sourced_id] = {"code": code, "name": name}

    user_roles: dict[str, list[tuple[str, str]]] = {}  # 1.2: sourcedId -> [(role, org)]
    for line, row in check.rows(roster_set, "roles.csv"):
        f = "roles.csv"
        role = row.get("role", "")
        if role not in STAFF_ROLES and role not in OTHER_ROLES and role != "student":
            check.problem(f, line, "role", f"{role!r} is not a OneRoster role")
        if row.get("status", "") == "tobedeleted":
            continue
        org = row.get("orgSourcedId", "")
        if org not in org_types:
            check.problem(f, line, "orgSourcedId", f"no org {org!r} in orgs.csv")
        user_roles.setdefault(row.get("userSourcedId", ""), []).append((role, org))

    users: dict[str, tuple[int, str]] = {}  # sourcedId -> (line, role)
    student_lines: dict[str, int] = {}
    emails: dict[str, int] = {}
    for line, row in check.rows(roster_set, "users.csv"):
        f = "users.csv"
        sourced_id = check.text(f, line, row, "sourcedId", 255)
        status = check.choice(f, line, row, "status", STATUSES)
        if "role" in row:
            roles = [(row["role"], org) for org in row.get("orgSourcedIds", "").split(",")]
            role_column = "role"
        elif sourced_id in user_roles:
            roles = user_roles[sourced_id]
            role_column = ""
        else:
            check.problem(f, line, "", "has no role (no role column and no row in roles.csv)")
            continue
        role = roles[0][0]
        if role_column and role not in STAFF_ROLES and role not in OTHER_ROLES | {"student"}:
            check.problem(f, line, role_column, f"{role!r} is not a OneRoster role")
            continue
        users[sourced_id] = (line, role)
        if role != "student" and role not in STAFF_ROLES:
            plan.skipped_roles[role] += 1
            continue
        org_column = "orgSourcedIds" if role_column else ""
        unknown_orgs = [org for _, org in roles if org not in org_types]
        if unknown_orgs:
            check.problem(f, line, org_column, f"no org {unknown_orgs[0]!r} in orgs.csv")
            continue
        schools = [org for _, org in roles if org in plan.schools]
        if role == "student":
            student_id = check.text(f, line, row, "identifier", 40)
            if status == "tobedeleted":
                plan.students_leaving.add(student_id)
                continue
            if student_id in student_lines:
                check.problem(
                    f,
                    line,
                    "identifier",
                    f"{student_id!r} repeats line {student_lines[student_id]}",
                )
                continue
            student_lines[student_id] = line
            if not schools:
                check.problem(f, line, org_column, "names no school of orgs.csv")
            raw_grade = row.get("grades", "").split(",")[0].strip()
            if raw_grade not in GRADES:
                check.problem(
                    f, line, "grades", f"{raw_grade!r} is not a grade (use PK, TK, KG or 01-12)"
                )
            plan.students[student_id] = {
                "sourced_id": sourced_id,
                "line": line,
                "school": schools[0] if schools else None,
                "first_name": check.text(f, line, row, "givenName", 100),
                "last_name": check.text(f, line, row, "familyName", 100),
                "grade": GRADES.get(raw_grade),
            }
            continue
        email = row.get("email", "").lower()
        try:
            validate_email(email)
        except ValidationError:
            check.problem(f, line, "email", f"{email!r} is not an email address")
        if status == "tobedeleted":
            plan.staff_leaving[sourced_id] = email
            continue
        if email in emails:
            check.problem(f, line, "email", f"{email!r} repeats line {emails[email]}")
        emails[email] = line
        username = row.get("username", "") or email
        if len(username) > 150:
            check.problem(f, line, "username", "is longer than 150 characters")
        plan.staff[sourced_id] = {
            "line": line,
            "email": email,
            "username": username,
            "first_name": check.text(f, line, row, "givenName", 150),
            "last_name": check.text(f, line, row, "familyName", 150),
            "roles": sorted(
                {
                    (STAFF_ROLES[r], org)
                    for r, org in roles
                    if r in STAFF_ROLES and org in plan.schools
                }
            ),
        }

    by_sourced_id = {v["sourced_id"]: v for v in plan.students.values()}
    for line, row in check.rows(roster_set, "demographics.csv"):
        f = "demographics.csv"
        sourced_id = row.get("sourcedId", "")
        if sourced_id not in users:
            check.problem(f, line, "sourcedId", f"no user {sourced_id!r} in users.csv")
            continue
        student = by_sourced_id.get(sourced_id)
        if student is None:
            continue  # staff demographics are not kept
        raw_birth = row.get("birthDate", "")
        try:
            student["birth_date"] = date.fromisoformat(raw_birth)
            if student["birth_date"] > timezone.localdate():
                check.problem(f, line, "birthDate", f"{raw_birth!r} is in the future")
        except ValueError:
            check.problem(f, line, "birthDate", f"{raw_birth!r} is not a date (YYYY-MM-DD)")
        sex = check.choice(f, line, row, "sex", set(SEX))
        student["sex"] = SEX.get(sex)
        flags = {}
        for column in (*RACE_FLAGS, "demographicRaceTwoOrMoreRaces", "hispanicOrLatinoEthnicity"):
            value = row.get(column, "").lower()
            if value not in BOOLEANS:
                check.problem(f, line, column, f"{row.get(column)!r} is not true or false")
            flags[column] = BOOLEANS.get(value, False)
        races = [code for column, code in RACE_FLAGS.items() if flags[column]]
        if flags["hispanicOrLatinoEthnicity"]:
            student["race_ethnicity"] = RaceEthnicity.HISPANIC
        elif flags["demographicRaceTwoOrMoreRaces"] or len(races) > 1:
            student["race_ethnicity"] = RaceEthnicity.TWO_OR_MORE
        elif races:
            student["race_ethnicity"] = races[0]
        else:
            check.problem(f, line, "", "no race or ethnicity flag is true")
        student["demographics_line"] = line

    for line, row in check.rows(roster_set, "special_education.csv"):
        f = "special_education.csv"
        student_id = check.text(f, line, row, "student_id", 40)
        values = {}
        for column in ("iep", "section_504", "bip"):
            value = row.get(column, "").lower()
            if value not in FLAGS:
                check.problem(f, line, column, f"{row.get(column)!r} is not Y or N")
            values[column] = FLAGS.get(value, False)
        plan_contact = row.get("plan_contact", "")
        if len(plan_contact) > 200:
            check.problem(f, line, "plan_contact", "is longer than 200 characters")
        values["plan_contact"] = plan_contact
        values["line"] = line
        plan.special_education[student_id] = values

    # Cross-file checks that need the stored roster.
    existing = set(Student.objects.filter(district=district).values_list("student_id", flat=True))
    for student_id, values in plan.students.items():
        if "demographics_line" not in values and student_id not in existing:
            check.problem(
                "users.csv",
                values["line"],
                "sourcedId",
                "no demographics.csv row: a new student needs a birth date, sex and race",
            )
    for student_id, values in plan.special_education.items():
        if student_id not in plan.students and student_id not in existing:
            check.problem(
                "special_education.csv",
                values["line"],
                "student_id",
                f"no student {student_id!r} in users.csv or on the roster",
            )
    if check.problems:
        raise OneRosterError(check.problems)
    return plan


def _apply(plan: _Plan, district: District, changes: list[str]) -> dict:
    summary = {
        "schools": {"created": 0, "updated": 0},
        "students": {"created": 0, "updated": 0, "deactivated": 0},
        "staff": {"created": 0, "updated": 0, "deactivated": 0},
        "roles_granted": 0,
        "skipped_roles": dict(sorted(plan.skipped_roles.items())),
    }
    # Schools, by code within the district. A new school's grade span comes from its students.
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
            summary["schools"]["created"] += 1
            changes.append(f"school {school.code}: create")
        elif school.name != values["name"]:
            school.name = values["name"]
            school.save(update_fields=["name"])
            summary["schools"]["updated"] += 1
            changes.append(f"school {school.code}: update name")
        schools[sourced_id] = school

    # Students, by student_id within the district.
    stored = {s.student_id: s for s in Student.objects.filter(district=district)}
    to_create: list[Student] = []
    to_update: list[Student] = []
    for student_id, values in plan.students.items():
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
            wanted.update({k: special[k] for k in ("iep", "section_504", "bip", "plan_contact")})
        student = stored.get(student_id)
        if student is None:
            student = Student(district=district, student_id=student_id, **wanted)
            to_create.append(student)
            changes.append(f"student {student_id}: create")
            continue
        changed = [k for k, v in wanted.items() if getattr(student, k) != v]
        if changed:
            for key in changed:
                setattr(student, key, wanted[key])
            to_update.append(student)
            shown = ", ".join(k.removesuffix("_id") for k in changed)
            changes.append(f"student {student_id}: update {shown}")
    for student_id, special in plan.special_education.items():
        student = stored.get(student_id)
        if student_id in plan.students or student is None:
            continue
        keys = ("iep", "section_504", "bip", "plan_contact")
        changed = [k for k in keys if getattr(student, k) != special[k]]
        if changed:
            for key in changed:
                setattr(student, key, special[key])
            to_update.append(student)
            changes.append(f"student {student_id}: update {', '.join(changed)}")
    for student_id in sorted(plan.students_leaving):
        student = stored.get(student_id)
        if student is not None and student.on_roster:
            student.on_roster = False
            to_update.append(student)
            summary["students"]["deactivated"] += 1
            changes.append(f"student {student_id}: take off the roster")
    Student.objects.bulk_create(to_create, batch_size=2000)
    Student.objects.bulk_update(to_update, STUDENT_FIELDS, batch_size=2000)
    summary["students"]["created"] = len(to_create)
    summary["students"]["updated"] = len(to_update) - summary["students"]["deactivated"]

    # Staff: by their OneRoster sourcedId, or by email the first time.
    emails = sorted({v["email"] for v in plan.staff.values()} | set(plan.staff_leaving.values()))
    people = list(
        User.objects.filter(roster_source_id__in=[*plan.staff, *plan.staff_leaving])
    ) + list(
        User.objects.annotate(email_lower=Lower("email")).filter(
            roster_source_id="", email_lower__in=emails
        )
    )
    by_source = {u.roster_source_id: u for u in people if u.roster_source_id}
    by_email = {u.email.lower(): u for u in people if not u.roster_source_id}
    memberships = set(
        Membership.objects.filter(school__district=district).values_list(
            "user_id", "school_id", "role"
        )
    )
    for sourced_id, values in plan.staff.items():
        user = by_source.get(sourced_id) or by_email.get(values["email"])
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
            summary["staff"]["created"] += 1
            changes.append(f"staff {values['email']}: create")
        else:
            changed = [k for k, v in wanted.items() if getattr(user, k) != v]
            if changed:
                for key in changed:
                    setattr(user, key, wanted[key])
                user.save(update_fields=changed)
                summary["staff"]["updated"] += 1
                changes.append(f"staff {values['email']}: update {', '.join(changed)}")
        for role, org in values["roles"]:
            school = schools[org]
            if (user.pk, school.pk, role) not in memberships:
                Membership.objects.create(user=user, school=school, role=role)
                memberships.add((user.pk, school.pk, role))
                summary["roles_granted"] += 1
                changes.append(f"staff {values['email']}: grant {role} at {school.code}")
    for sourced_id, email in plan.staff_leaving.items():
        user = by_source.get(sourced_id) or by_email.get(email)
        # A superuser is the break-glass account: a roster never locks it out.
        if user is None or not user.is_active or user.is_superuser:
            continue
        user_deactivate_for_roster(user=user)
        summary["staff"]["deactivated"] += 1
        changes.append(f"staff {email}: deactivate")
    return summary


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
        plan = _check(roster_set, district)
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


def _newest_set(drop_dir: Path, settle_seconds: float) -> Path | None:
    """The newest complete set in the drop folder: the folder itself when it holds the CSV
    files, else its newest zip or sub-folder. Anything written in the last
    ``settle_seconds`` may still be arriving and waits for the next run."""
    now = timezone.now().timestamp()

    def settled(path: Path) -> bool:
        files = [path] if path.is_file() else [path, *path.iterdir()]
        return all(now - f.stat().st_mtime >= settle_seconds for f in files)

    if (drop_dir / "users.csv").is_file():
        return drop_dir if settled(drop_dir) else None
    candidates = [
        p
        for p in drop_dir.iterdir()
        if (p.is_dir() or p.suffix.lower() == ".zip") and not p.name.startswith(".")
    ]
    for path in sorted(candidates, key=lambda p: p.stat().st_mtime, reverse=True):
        return path if settled(path) else None
    return None


def oneroster_sync_drop_dir(
    *, drop_dir: Path, district: District, settle_seconds: float = 60
) -> RosterImportRun | None:
    """Import the newest set in the drop folder unless this district already ran it (even
    when it was refused: a refused set waits for a corrected one). Returns the new run."""
    path = _newest_set(drop_dir, settle_seconds)
    if path is None:
        return None
    with transaction.atomic():
        # One sync per district at a time: a second beat tick waits here, then finds the run.
        District.objects.select_for_update().get(pk=district.pk)
        try:
            roster_set = oneroster_set_read(path=path)
        except OneRosterError as exc:
            return RosterImportRun.objects.create(
                district=district,
                source=str(path)[:500],
                fingerprint=hashlib.sha256(str(exc).encode()).hexdigest(),
                trigger="scheduled",
                outcome=RosterImportRun.Outcome.REFUSED,
                problems=str(exc),
                started_at=timezone.now(),
                finished_at=timezone.now(),
            )
        if (
            RosterImportRun.objects.filter(district=district, fingerprint=roster_set.fingerprint)
            .exclude(outcome=RosterImportRun.Outcome.DRY_RUN)
            .exists()
        ):
            return None
        try:
            return oneroster_import(
                roster_set=roster_set, district=district, trigger="scheduled"
            ).run
        except OneRosterError:
            return RosterImportRun.objects.filter(district=district).first()
