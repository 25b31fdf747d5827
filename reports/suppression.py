"""Small-cell suppression: pure functions over published counts (no query, no Django).

- Published counts of 10 or fewer (zero included) are hidden, and so are the counts that would
  give one away by subtraction from a total (complementary suppression, ``suppress``); a risk
  ratio is hidden when a count it is computed from is hidden (``ratio_hidden``). Every hidden
  count shows the same mark, SUPPRESSED.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SUPPRESS_AT_MOST = 10
SUPPRESSED = "*"  # one marker for every hidden count, small or hidden with a small one


def shown(value: int, hidden: bool = False) -> str:
    """A published count: the marker when it is hidden (primary or complementary)."""
    return SUPPRESSED if hidden or is_small(value) else f"{value:,}"


def is_small(value: int) -> bool:
    """Primary suppression: a count of 10 or fewer, zero included (a published zero next to a
    total tells as much about a group as a published 3)."""
    return value <= SUPPRESS_AT_MOST


@dataclass(frozen=True)
class Figure:
    """One published count: its value lives in ``values[name]``, and hiding it adds ``name``
    to ``hidden`` (a row's attributes and hidden set, or a month's counts and hidden set)."""

    values: dict
    hidden: set[str]
    name: str

    @property
    def value(self) -> int:
        return self.values[self.name]

    @property
    def is_hidden(self) -> bool:
        return self.name in self.hidden


@dataclass(frozen=True)
class Relation:
    """Published counts that add up: ``parts`` sum to ``wholes`` (a shown total; or, for the
    tie between the race/ethnicity x sex and English-learner x sex tables, the cells of one
    sex in the other table, which add up to the same number of students of that sex)."""

    parts: tuple[Figure, ...]
    wholes: tuple[Figure, ...] = ()


def figure_of(row, name: str) -> Figure:
    return Figure(vars(row), row.hidden, name)


def relations_of(rows: list, whole_rows: list, measures: Iterable[str]) -> list[Relation]:
    return [
        Relation(tuple(figure_of(r, m) for r in rows), tuple(figure_of(w, m) for w in whole_rows))
        for m in measures
    ]


def hide_small(figures: Iterable[Figure]) -> None:
    """Primary suppression: every count of 10 or fewer, zero included, is hidden."""
    for figure in figures:
        if is_small(figure.value):
            figure.hidden.add(figure.name)


def suppress(relations: list[Relation]) -> None:
    """Complementary suppression, in place, after ``hide_small``.

    A hidden count must not be recoverable by subtraction. Until nothing changes, in every
    relation:

    1. if exactly one of its counts is hidden, the rest give it away (total 25, IDEA 12,
       none 12: 504-only = 1), so the smallest other shown part is hidden too;
    2. if its whole is shown, the hidden parts together (whole minus the shown parts, which
       anyone can work out) must be more than 10: two hidden cells adding to 3, or a run of
       hidden zeros adding to 0, would publish a small count or pin every cell down. The
       smallest shown part is hidden until they are.

    The smallest part is taken (the first of equals, in the order of the table) so the least
    information is lost; a whole (a total) is never hidden: a shown total is over 10, and a
    relation whose only part is hidden cannot add up exactly to a shown whole. Hiding only
    grows, so the loop ends. It runs on the aggregated rows: no query, a few hundred steps.

    Rule 1 over every relation, including the sex ties between the race x sex and English-
    learner x sex tables, leaves no hidden count alone in any equation the page publishes;
    the tests check, by the rank of those equations, that no hidden count is determined by
    any combination of them either.
    """
    changed = True
    while changed:
        changed = False
        for relation in relations:
            shown_parts = [f for f in relation.parts if not f.is_hidden]
            hidden_parts = [f for f in relation.parts if f.is_hidden]
            hidden_wholes = sum(f.is_hidden for f in relation.wholes)
            alone = len(hidden_parts) + hidden_wholes == 1
            small_rest = (
                relation.wholes
                and not hidden_wholes
                and hidden_parts
                and sum(f.value for f in hidden_parts) <= SUPPRESS_AT_MOST
            )
            if shown_parts and (alone or small_rest):
                smallest = min(shown_parts, key=lambda f: f.value)
                smallest.hidden.add(smallest.name)
                changed = True


def ratio_hidden(row, totals) -> bool:
    """Whether a group's risk ratio is hidden (``row`` and ``totals``: rows with ``students``
    and ``hidden``, the dashboard's ``GroupRow``).

    The ratio (s/e) / ((S - s)/(E - e)) is a function of four published counts: the group's
    students referred s and enrolled e, and the totals S and E. Given any three of them the
    ratio gives the fourth back (it is monotonic in each), so it is hidden whenever one of
    them is hidden, primary or complementary. When all four are shown, the ratio tells
    nothing that subtraction from the shown figures does not already, so it cannot reveal a
    hidden cell of this group or of any other (the others enter only through S - s and
    E - e). It is also hidden when all the other students referred (S - s) are 10 or fewer:
    a rate over so few students is not worth publishing.
    """
    return (
        bool({"students", "enrolled"} & row.hidden)
        or bool({"students", "enrolled"} & totals.hidden)
        or is_small(totals.students - row.students)
    )


def risk_ratio(
    group_referred: int, group_enrolled: int, total_referred: int, total_enrolled: int
) -> float | None:
    """The group's rate over the rate of all other students (None when undefined)."""
    other_referred = total_referred - group_referred
    other_enrolled = total_enrolled - group_enrolled
    if not (group_enrolled and other_enrolled and other_referred):
        return None
    return (group_referred / group_enrolled) / (other_referred / other_enrolled)
