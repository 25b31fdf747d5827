"""A small OneRoster 1.1 CSV set written for the tests, and a writer for larger ones."""

import csv
import io
import zipfile
from pathlib import Path

ORGS = [
    ["sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"],
    ["org-d", "active", "", "Riverside District", "district", "RSD", ""],
    ["org-1", "active", "", "Lincoln Elementary", "school", "LIN-ES", "org-d"],
    ["org-2", "active", "", "Washington Middle", "school", "WAS-MS", "org-d"],
]
USERS_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
]


def user(sourced_id, role, orgs, given, family, identifier="", email="", grades="", status=""):
    username = email.split("@")[0] if email else ""
    return [
        sourced_id,
        status,
        "",
        "true",
        orgs,
        role,
        username,
        "",
        given,
        family,
        "",
        identifier,
        email,
        "",
        "",
        "",
        grades,
        "",
    ]


USERS = [
    USERS_HEADER,
    user("u-s1", "student", "org-1", "Ava", "Garcia", "S1", grades="03"),
    user("u-s2", "student", "org-2", "Liam", "Begay", "S2", grades="07"),
    user("u-s3", "student", "org-2", "Mia", "Nguyen", "S3", grades="KG"),
    user("u-s9", "student", "org-2", "Gone", "Away", "S9", grades="08", status="tobedeleted"),
    user("u-t1", "teacher", "org-1,org-2", "Tess", "Teacher", "T1", "tess@rsd.example.org"),
    user("u-a1", "administrator", "org-2", "Al", "Principal", "A1", "al@rsd.example.org"),
    user("u-x1", "aide", "org-1", "Andy", "Aide", "X1", "andy@rsd.example.org"),
    user(
        "u-t9",
        "teacher",
        "org-1",
        "Lee",
        "Left",
        "T9",
        "left@rsd.example.org",
        status="tobedeleted",
    ),
]
DEMOGRAPHICS = [
    [
        "sourcedId",
        "status",
        "dateLastModified",
        "birthDate",
        "sex",
        "americanIndianOrAlaskaNative",
        "asian",
        "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander",
        "white",
        "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity",
        "countryOfBirthCode",
        "stateOfBirthAbbreviation",
        "cityOfBirth",
        "publicSchoolResidenceStatus",
    ],
    # Hispanic/Latino wins over a race flag; two flags make two or more races.
    ["u-s1", "", "", "2017-04-02", "female", "", "", "", "", "true", "", "true", "", "", "", ""],
    ["u-s2", "", "", "2013-09-30", "male", "true", "", "", "", "true", "", "false", "", "", "", ""],
    ["u-s3", "", "", "2020-01-15", "other", "", "true", "", "", "", "", "false", "", "", "", ""],
    ["u-t1", "", "", "1980-01-01", "female", "", "", "", "", "true", "", "", "", "", "", ""],
]
SPECIAL_EDUCATION = [
    ["student_id", "iep", "section_504", "bip", "plan_contact"],
    ["S2", "Y", "N", "Y", "Ms. Ortiz, ext 214"],
    ["S3", "N", "Y", "N", ""],
]


def to_csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def write_set(folder: Path, **files: list[list[str]]) -> Path:
    """The test set in ``folder``; keyword arguments replace a file (``users=[...]``)."""
    contents = {"orgs": ORGS, "users": USERS, "demographics": DEMOGRAPHICS, **files}
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in contents.items():
        if rows is not None:
            (folder / f"{name}.csv").write_text(to_csv(rows), encoding="utf-8")
    return folder


def zip_folder(folder: Path, target: Path, inside: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{inside}{path.name}")
    return target


def write_large_set(folder: Path, *, students: int, schools: int = 50) -> Path:
    """``students`` students over ``schools`` schools, with demographics, for the benchmark."""
    orgs = [ORGS[0], ORGS[1]]
    orgs += [
        [f"org-{n}", "active", "", f"School {n}", "school", f"B-{n:03d}", "org-d"]
        for n in range(schools)
    ]
    users = [USERS_HEADER]
    demographics = [DEMOGRAPHICS[0]]
    flags = ["americanIndianOrAlaskaNative", "asian", "black", "pacific", "white"]
    for n in range(students):
        grade = f"{n % 12 + 1:02d}"
        users.append(
            user(
                f"s-{n}", "student", f"org-{n % schools}", "Kid", f"N{n}", f"B{n:06d}", grades=grade
            )
        )
        race = ["", "", "", "", ""]
        race[n % len(flags)] = "true"
        demographics.append(
            [
                f"s-{n}",
                "",
                "",
                "2012-05-01",
                ("male", "female")[n % 2],
                *race,
                "",
                ("true" if n % 4 == 0 else "false"),
                "",
                "",
                "",
                "",
            ]
        )
    return write_set(folder, orgs=orgs, users=users, demographics=demographics)
