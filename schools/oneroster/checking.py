"""Every cell of a set checked against OneRoster and the stored roster, into a plan."""

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from ..models import (
    District,
    RaceEthnicity,
    School,
    Student,
)
from .reading import (
    BOOLEANS,
    FLAGS,
    GRADES,
    ORG_TYPES,
    OTHER_ROLES,
    RACE_FLAGS,
    REQUIRED_COLUMNS,
    SEX,
    STAFF_ROLES,
    STATUSES,
    ImportProblem,
    OneRosterError,
    OneRosterSet,
)


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
class Plan:
    schools: dict[str, dict] = field(default_factory=dict)  # org sourcedId -> values
    students: dict[str, dict] = field(default_factory=dict)  # student_id -> values
    students_leaving: set[str] = field(default_factory=set)
    staff: dict[str, dict] = field(default_factory=dict)  # user sourcedId -> values
    staff_leaving: dict[str, str] = field(default_factory=dict)  # sourcedId -> email
    special_education: dict[str, dict] = field(default_factory=dict)
    skipped_roles: Counter = field(default_factory=Counter)


def check_set(roster_set: OneRosterSet, district: District) -> Plan:
    check = _Checker()
    plan = Plan()
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
