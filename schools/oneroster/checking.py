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
    """Check every file of the set, in order (orgs, roles, users, demographics, special
    education), then what needs the stored roster; raises OneRosterError with every problem."""
    checking = _SetCheck(roster_set, district)
    checking.orgs()
    checking.roles()
    checking.users()
    checking.demographics()
    checking.special_education()
    checking.against_the_roster()
    if checking.check.problems:
        raise OneRosterError(checking.check.problems)
    return checking.plan


class _SetCheck:
    """One pass over a set: each file's rows checked into the plan, in the order they depend
    on each other (users name orgs and roles; demographics name users)."""

    def __init__(self, roster_set: OneRosterSet, district: District) -> None:
        self.roster_set = roster_set
        self.district = district
        self.check = _Checker()
        self.plan = Plan()
        self.org_types: dict[str, str] = {}
        self.user_roles: dict[str, list[tuple[str, str]]] = {}  # 1.2: sourcedId -> [(role, org)]
        self.users_seen: dict[str, tuple[int, str]] = {}  # sourcedId -> (line, role)
        self.student_lines: dict[str, int] = {}
        self.emails: dict[str, int] = {}

    def orgs(self) -> None:
        check, f = self.check, "orgs.csv"
        codes: dict[str, int] = {}
        other_district_codes = set(
            School.objects.exclude(district=self.district).values_list("code", flat=True)
        )
        for line, row in check.rows(self.roster_set, f):
            sourced_id = check.text(f, line, row, "sourcedId", 255)
            status = check.choice(f, line, row, "status", STATUSES)
            kind = check.choice(f, line, row, "type", ORG_TYPES)
            self.org_types[sourced_id] = kind
            if kind != "school" or status == "tobedeleted":
                continue
            code = check.text(f, line, row, "identifier", 20)
            name = check.text(f, line, row, "name", 200)
            if code in codes:
                check.problem(f, line, "identifier", f"{code!r} repeats line {codes[code]}")
            elif code in other_district_codes:
                check.problem(f, line, "identifier", f"{code!r} is a school of another district")
            codes[code] = line
            self.plan.schools[sourced_id] = {"code": code, "name": name}

    def roles(self) -> None:
        check, f = self.check, "roles.csv"
        for line, row in check.rows(self.roster_set, f):
            role = row.get("role", "")
            if role not in STAFF_ROLES and role not in OTHER_ROLES and role != "student":
                check.problem(f, line, "role", f"{role!r} is not a OneRoster role")
            if row.get("status", "") == "tobedeleted":
                continue
            org = row.get("orgSourcedId", "")
            if org not in self.org_types:
                check.problem(f, line, "orgSourcedId", f"no org {org!r} in orgs.csv")
            self.user_roles.setdefault(row.get("userSourcedId", ""), []).append((role, org))

    def users(self) -> None:
        check, f = self.check, "users.csv"
        for line, row in check.rows(self.roster_set, f):
            sourced_id = check.text(f, line, row, "sourcedId", 255)
            status = check.choice(f, line, row, "status", STATUSES)
            found = self._roles_of(line, row, sourced_id)
            if found is None:
                continue
            roles, role_column = found
            role = roles[0][0]
            self.users_seen[sourced_id] = (line, role)
            if role != "student" and role not in STAFF_ROLES:
                self.plan.skipped_roles[role] += 1
                continue
            org_column = "orgSourcedIds" if role_column else ""
            unknown_orgs = [org for _, org in roles if org not in self.org_types]
            if unknown_orgs:
                check.problem(f, line, org_column, f"no org {unknown_orgs[0]!r} in orgs.csv")
                continue
            if role == "student":
                self._student(line, row, sourced_id, status, roles, org_column)
            else:
                self._staff(line, row, sourced_id, status, roles)

    def _roles_of(
        self, line: int, row: dict, sourced_id: str
    ) -> tuple[list[tuple[str, str]], str] | None:
        """A user's (role, org) pairs and the column they came from ("" for roles.csv), or
        None after a problem."""
        f = "users.csv"
        if "role" in row:
            roles = [(row["role"], org) for org in row.get("orgSourcedIds", "").split(",")]
            role_column = "role"
        elif sourced_id in self.user_roles:
            roles = self.user_roles[sourced_id]
            role_column = ""
        else:
            self.check.problem(f, line, "", "has no role (no role column and no row in roles.csv)")
            return None
        role = roles[0][0]
        if role_column and role not in STAFF_ROLES and role not in OTHER_ROLES | {"student"}:
            self.check.problem(f, line, role_column, f"{role!r} is not a OneRoster role")
            return None
        return roles, role_column

    def _student(
        self, line: int, row: dict, sourced_id: str, status: str, roles: list, org_column: str
    ) -> None:
        check, f = self.check, "users.csv"
        schools = [org for _, org in roles if org in self.plan.schools]
        student_id = check.text(f, line, row, "identifier", 40)
        if status == "tobedeleted":
            self.plan.students_leaving.add(student_id)
            return
        if student_id in self.student_lines:
            check.problem(
                f,
                line,
                "identifier",
                f"{student_id!r} repeats line {self.student_lines[student_id]}",
            )
            return
        self.student_lines[student_id] = line
        if not schools:
            check.problem(f, line, org_column, "names no school of orgs.csv")
        raw_grade = row.get("grades", "").split(",")[0].strip()
        if raw_grade not in GRADES:
            check.problem(
                f, line, "grades", f"{raw_grade!r} is not a grade (use PK, TK, KG or 01-12)"
            )
        self.plan.students[student_id] = {
            "sourced_id": sourced_id,
            "line": line,
            "school": schools[0] if schools else None,
            "first_name": check.text(f, line, row, "givenName", 100),
            "last_name": check.text(f, line, row, "familyName", 100),
            "grade": GRADES.get(raw_grade),
        }

    def _staff(self, line: int, row: dict, sourced_id: str, status: str, roles: list) -> None:
        check, f = self.check, "users.csv"
        email = row.get("email", "").lower()
        try:
            validate_email(email)
        except ValidationError:
            check.problem(f, line, "email", f"{email!r} is not an email address")
        if status == "tobedeleted":
            self.plan.staff_leaving[sourced_id] = email
            return
        if email in self.emails:
            check.problem(f, line, "email", f"{email!r} repeats line {self.emails[email]}")
        self.emails[email] = line
        username = row.get("username", "") or email
        if len(username) > 150:
            check.problem(f, line, "username", "is longer than 150 characters")
        self.plan.staff[sourced_id] = {
            "line": line,
            "email": email,
            "username": username,
            "first_name": check.text(f, line, row, "givenName", 150),
            "last_name": check.text(f, line, row, "familyName", 150),
            "roles": sorted(
                {
                    (STAFF_ROLES[r], org)
                    for r, org in roles
                    if r in STAFF_ROLES and org in self.plan.schools
                }
            ),
        }

    def demographics(self) -> None:
        check, f = self.check, "demographics.csv"
        by_sourced_id = {v["sourced_id"]: v for v in self.plan.students.values()}
        for line, row in check.rows(self.roster_set, f):
            sourced_id = row.get("sourcedId", "")
            if sourced_id not in self.users_seen:
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
            race_ethnicity = self._race_ethnicity(line, row)
            if race_ethnicity is not None:
                student["race_ethnicity"] = race_ethnicity
            student["demographics_line"] = line

    def _race_ethnicity(self, line: int, row: dict) -> str | None:
        """The one race/ethnicity code the row's flags give, or None after a problem."""
        check, f = self.check, "demographics.csv"
        flags = {}
        for column in (*RACE_FLAGS, "demographicRaceTwoOrMoreRaces", "hispanicOrLatinoEthnicity"):
            value = row.get(column, "").lower()
            if value not in BOOLEANS:
                check.problem(f, line, column, f"{row.get(column)!r} is not true or false")
            flags[column] = BOOLEANS.get(value, False)
        races = [code for column, code in RACE_FLAGS.items() if flags[column]]
        if flags["hispanicOrLatinoEthnicity"]:
            return RaceEthnicity.HISPANIC
        if flags["demographicRaceTwoOrMoreRaces"] or len(races) > 1:
            return RaceEthnicity.TWO_OR_MORE
        if races:
            return races[0]
        check.problem(f, line, "", "no race or ethnicity flag is true")
        return None

    def special_education(self) -> None:
        check, f = self.check, "special_education.csv"
        for line, row in check.rows(self.roster_set, f):
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
            self.plan.special_education[student_id] = values

    def against_the_roster(self) -> None:
        """Cross-file checks that need the stored roster."""
        plan = self.plan
        existing = set(
            Student.objects.filter(district=self.district).values_list("student_id", flat=True)
        )
        for student_id, values in plan.students.items():
            if "demographics_line" not in values and student_id not in existing:
                self.check.problem(
                    "users.csv",
                    values["line"],
                    "sourcedId",
                    "no demographics.csv row: a new student needs a birth date, sex and race",
                )
        for student_id, values in plan.special_education.items():
            if student_id not in plan.students and student_id not in existing:
                self.check.problem(
                    "special_education.csv",
                    values["line"],
                    "student_id",
                    f"no student {student_id!r} in users.csv or on the roster",
                )
