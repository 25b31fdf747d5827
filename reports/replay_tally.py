"""What a what-if replay counts, chunk by chunk, and how partial counts merge.

Pure: rows and a ``decide`` function in, counts out; no ORM. A chunk's tally is stored as
JSON (``ReplayChunk.tally``) and the partials merge into the very result one pass over all
the rows would give, examples included (each chunk keeps its first examples in id order, and
the merge takes them in chunk order, i.e. id order).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from policies.registry import LAW_ENFORCEMENT_ROUTES, ROUTES, SRO

EXAMPLES_PER_CHANGE = 5
LAW_ENFORCEMENT = LAW_ENFORCEMENT_ROUTES
WITH_DISABILITY = ("idea", "504")


class ReplayTally:
    """What a replay accumulates: bounded in size whatever the number of incidents."""

    def __init__(self, visible_school_ids: Iterable[int] = ()) -> None:
        self.visible = frozenset(visible_school_ids)
        self.total = 0
        self.transitions: Counter[tuple[str, str]] = Counter()
        # (disability group, "before"/"after", route or "referral")
        self.groups: Counter[tuple[str, str, str]] = Counter()
        self.examples: dict[tuple[str, str], list[int]] = {}

    def add(self, rows: Iterable[tuple], disability: dict[int, str], decide: Callable) -> None:
        """Tally (pk, school_id, route, facts, old also_notify) rows, in id order."""
        transitions, groups, examples, visible = (
            self.transitions,
            self.groups,
            self.examples,
            self.visible,
        )
        group_of = disability.get
        count = 0
        for pk, school_id, old, facts, old_notify in rows:
            count += 1
            group = group_of(pk, "none")
            decision = decide(facts)
            new = decision.route
            transitions[old, new] += 1
            groups[group, "before", old] += 1
            groups[group, "after", new] += 1
            if old in LAW_ENFORCEMENT or (old_notify and SRO in old_notify):
                groups[group, "before", "referral"] += 1
            if new in LAW_ENFORCEMENT or SRO in decision.also_notify:
                groups[group, "after", "referral"] += 1
            if old != new and school_id in visible:
                found = examples.setdefault((old, new), [])
                if len(found) < EXAMPLES_PER_CHANGE:
                    found.append(pk)
        self.total += count

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
