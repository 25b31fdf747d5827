"""What a what-if replay counts, chunk by chunk, and how partial counts merge.

Pure: rows and an outcome function (a version's decisions, memoized on the facts they read)
in, counts out; no ORM. A chunk's tally is stored as JSON (``ReplayChunk.tally``) and the
partials merge into the very result one pass over all the rows would give, examples included
(each chunk keeps its first examples in id order, and the merge takes them in chunk order,
i.e. id order).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from policies.engine import Decision
from policies.registry import LAW_ENFORCEMENT_ROUTES, ROUTES, SRO

EXAMPLES_PER_CHANGE = 5
# Distinct fact projections whose outcome a worker process keeps: about 30 MB at most (keys
# of ~180 characters), held until the process replays another version.
MEMO_LIMIT = 100_000
LAW_ENFORCEMENT = LAW_ENFORCEMENT_ROUTES
WITH_DISABILITY = ("idea", "504")


# facts -> (route, SRO notified) under the replayed version
Outcome = Callable[[Any], tuple[str, bool]]


def outcome_of(decision: Decision) -> tuple[str, bool]:
    """All a replay reads of a decision: its route and whether the SRO is notified."""
    return decision.route, SRO in decision.also_notify


def decided(decide: Callable[[Mapping[str, Any]], Decision]) -> Outcome:
    """The outcome of a facts document, decided row by row."""
    return lambda facts: outcome_of(decide(facts))


def decision_memo(
    decide: Callable[[Mapping[str, Any]], Decision], names: Sequence[str], limit: int = MEMO_LIMIT
) -> Outcome:
    """The outcome of a projection, the JSON array text of the facts ``names`` (every fact
    ``decide`` reads, ``CompiledPolicy.facts_read``), decided once per distinct projection.

    A decision is a pure function of the facts it reads, so incidents with the same answers
    share it. Those are categorical answers, disability flags and an age, so the distinct
    sets are bounded by the product of small choice lists and are far fewer in practice
    (answers go together): independent random answers give ~23,000 per 100,000 incidents.
    A miss costs only a short array's parse and a decision, and at most ``limit`` outcomes
    are kept, so memory stays bounded whatever the data."""
    memo: dict[str, tuple[str, bool]] = {}
    loads, keep = json.loads, memo.__setitem__

    def outcome(projection: str) -> tuple[str, bool]:
        known = memo.get(projection)
        if known is None:
            known = outcome_of(decide(dict(zip(names, loads(projection), strict=True))))
            if len(memo) < limit:
                keep(projection, known)
        return known

    return outcome


class ReplayTally:
    """What a replay accumulates: bounded in size whatever the number of incidents."""

    def __init__(self, visible_school_ids: Iterable[int] = ()) -> None:
        self.visible = frozenset(visible_school_ids)
        self.total = 0
        self.transitions: Counter[tuple[str, str]] = Counter()
        # (disability group, "before"/"after", route or "referral")
        self.groups: Counter[tuple[str, str, str]] = Counter()
        self.examples: dict[tuple[str, str], list[int]] = {}

    def add(self, rows: Iterable[tuple], disability: dict[int, str], outcome: Outcome) -> None:
        """Tally (pk, school_id, old route, SRO notified before, facts) rows, in id order;
        ``outcome(facts)`` is the (route, SRO notified) the replayed version decides.

        The loop counts one cell per row (subject group, route and SRO notice before and after)
        and the cells are spread over the transitions and the groups once, at the end."""
        cells: Counter[tuple] = Counter()
        examples, visible, group_of = self.examples, self.visible, disability.get
        for pk, school_id, old, old_sro, facts in rows:
            new = outcome(facts)
            cells[group_of(pk, "none"), old, old_sro, new] += 1
            if old != new[0] and school_id in visible:
                found = examples.setdefault((old, new[0]), [])
                if len(found) < EXAMPLES_PER_CHANGE:
                    found.append(pk)
        transitions, groups = self.transitions, self.groups
        for (group, old, old_sro, (new, new_sro)), n in cells.items():
            self.total += n
            transitions[old, new] += n
            groups[group, "before", old] += n
            groups[group, "after", new] += n
            if old in LAW_ENFORCEMENT or old_sro:
                groups[group, "before", "referral"] += n
            if new in LAW_ENFORCEMENT or new_sro:
                groups[group, "after", "referral"] += n

    # --- partial tallies -----------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "total": self.total,
            "transitions": [[*key, n] for key, n in self.transitions.items()],
            "groups": [[*key, n] for key, n in self.groups.items()],
            "examples": [[*key, pks] for key, pks in self.examples.items()],
        }

    def merge(self, partial: dict) -> None:
        """Add a later chunk's partial tally (``to_json``) to this one."""
        self.total += partial["total"]
        for old, new, n in partial["transitions"]:
            self.transitions[old, new] += n
        for group, phase, route, n in partial["groups"]:
            self.groups[group, phase, route] += n
        for old, new, pks in partial["examples"]:
            found = self.examples.setdefault((old, new), [])
            found.extend(pks[: EXAMPLES_PER_CHANGE - len(found)])

    # --- the result ----------------------------------------------------------------------

    def result(self, visible_ids: set[int]) -> dict:
        changed = sum(n for (old, new), n in self.transitions.items() if old != new)
        transitions = [
            {
                "from": old,
                "to": new,
                "count": n,
                "examples": [pk for pk in self.examples.get((old, new), []) if pk in visible_ids],
            }
            for (old, new), n in sorted(self.transitions.items(), key=lambda kv: (-kv[1], kv[0]))
            if old != new
        ]
        matrix = [
            {"from": old, "to": {new: self.transitions.get((old, new), 0) for new in ROUTES}}
            for old in ROUTES
        ]

        def split(groups: tuple[str, ...]) -> dict:
            figures = {
                "incidents": sum(self.groups[g, "before", r] for g in groups for r in ROUTES)
            }
            for route in (*LAW_ENFORCEMENT, "referral"):
                before = sum(self.groups[g, "before", route] for g in groups)
                after = sum(self.groups[g, "after", route] for g in groups)
                figures[route] = {"before": before, "after": after, "change": after - before}
            return figures

        return {
            "total": self.total,
            "changed": changed,
            "transitions": transitions,
            "matrix": matrix,
            "by_disability": {
                "none": split(("none",)),
                "idea": split(("idea",)),
                "504": split(("504",)),
                "with": split(WITH_DISABILITY),
                "without": split(("none",)),
            },
        }

    def example_ids(self) -> set[int]:
        return {pk for found in self.examples.values() for pk in found}
