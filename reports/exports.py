"""The equity dashboard's CSV: rows shaped like the CRDC referral and arrest items."""

from __future__ import annotations

from .figures import EquityFigures, GroupRow

CSV_HEADER = (
    "Category",
    "Group",
    "Students enrolled",
    "Instances of referral to law enforcement",
    "Students referred to law enforcement",
    "Students with a school-related arrest",
    "Risk ratio (referred students)",
)
# OWASP CSV injection: a cell starting with one of these may run as a formula (a TAB or CR
# before = is skipped by some spreadsheets, so they count as well).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A spreadsheet never runs a cell as a formula: one that starts with = + - @, TAB or CR
    is quoted."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def equity_csv_rows(figures: EquityFigures) -> list[list[str]]:
    """Rows shaped like the CRDC referral and arrest items, suppression applied."""
    out = [list(CSV_HEADER)]

    def add(category: str, row: GroupRow) -> None:
        cells = row.cells()
        out.append(
            [
                csv_cell(v)
                for v in (
                    category,
                    row.label,
                    cells["enrolled"],
                    cells["instances"],
                    cells["students"],
                    cells["arrested_students"],
                    cells["risk_ratio"],
                )
            ]
        )

    add("Total", figures.total)
    for row in figures.by_disability:
        add("Disability", row)
    for row in figures.by_race_sex:
        add("Race/ethnicity x sex", row)
    for row in figures.by_english_learner_sex:
        add("English learner x sex", row)
    for school in figures.by_school:
        cells = school.display
        out.append(
            [
                csv_cell(v)
                for v in (
                    "School",
                    f"{school.school.name} ({school.school.code})",
                    "",
                    cells["instances"],
                    cells["students"],
                    cells["arrested_students"],
                    "",
                )
            ]
        )
    return out
