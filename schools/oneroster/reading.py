"""The set's files and the vocabulary of OneRoster CSV, and how problems are reported."""

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..models import (
    RaceEthnicity,
    Role,
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


def oneroster_set_read(*, path: Path, special_education: Path | None = None) -> OneRosterSet:
    """The set's CSV files as text, from a folder or a zip (at its root or in one folder)."""
    files: dict[str, str] = {}

    def decode(name: str, raw: bytes) -> None:
        try:
            files[name] = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise OneRosterError(
                [
                    ImportProblem(
                        name,
                        raw[: exc.start].count(b"\n") + 1,
                        "",
                        f"is not UTF-8 ({exc.reason} at byte {exc.start})",
                    )
                ]
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
