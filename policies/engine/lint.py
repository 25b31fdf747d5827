"""Lint a valid rule set: warnings that do not block publishing (a rule that can never match,
an SRO rule that can match without a life-safety fact). Pure.

Conditions are put in negation normal form whose leaves are (fact, accepted values). An
accepted set records whether a missing fact (None) is accepted, plus the values: a frozenset
for choice and bool facts, sorted disjoint closed intervals for int facts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from policies.registry import (
    BOOL,
    FACTS,
    INT,
    LIFE_SAFETY_DANGER,
    LIST_OPERATORS,
    SRO,
    WEAPON_VALUES,
)

from .problems import Problem

_INF = math.inf


def _domain(fact_name: str) -> frozenset:
    fact = FACTS[fact_name]
    return frozenset((True, False)) if fact.type == BOOL else frozenset(fact.values)


def _merge(intervals: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(i for i in intervals if i[0] <= i[1]):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _complement(intervals: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    out, lo = [], -_INF
    for a, b in intervals:
        if a > lo:
            out.append((lo, a - 1))
        lo = b + 1
    if lo <= _INF and not (intervals and intervals[-1][1] == _INF):
        out.append((lo, _INF))
    return _merge(out)


def _leaf_accepts(fact_name: str, op: str, value: Any) -> tuple[bool, Any]:
    values = list(value) if op in LIST_OPERATORS else [value]
    if FACTS[fact_name].type == INT:
        if op in ("eq", "in", "ne", "not_in"):
            points = _merge([(v, v) for v in values])
            if op in ("eq", "in"):
                return False, points
            return True, _complement(points)
        bound = {"lt": (-_INF, value - 1), "le": (-_INF, value)}.get(op)
        bound = bound or {"gt": (value + 1, _INF), "ge": (value, _INF)}[op]
        return False, _merge([bound])
    chosen = frozenset(values)
    if op in ("eq", "in"):
        return False, chosen
    return True, _domain(fact_name) - chosen


def _nnf(node: Mapping, negate: bool = False) -> tuple:
    if "not" in node:
        return _nnf(node["not"], not negate)
    if "all" in node or "any" in node:
        kind = "all" if "all" in node else "any"
        if negate:
            kind = "any" if kind == "all" else "all"
        return (kind, tuple(_nnf(c, negate) for c in node["all" if "all" in node else "any"]))
    name = node["fact"]
    none_ok, vals = _leaf_accepts(name, node["op"], node["value"])
    if negate:
        none_ok = not none_ok
        vals = _complement(vals) if FACTS[name].type == INT else _domain(name) - vals
    return ("leaf", name, none_ok, vals)


def _always_true(node: tuple) -> bool:
    # A leaf counts when it accepts every value of its fact (e.g. `in` listing every choice).
    if node[0] == "leaf":
        _, name, _, vals = node
        if FACTS[name].type == INT:
            return vals == ((-_INF, _INF),)
        return vals == _domain(name)
    if node[0] == "all":
        return all(_always_true(c) for c in node[1])
    if any(_always_true(c) for c in node[1]):
        return True
    # Leaves on one fact that together cover every value, e.g. any[iep is true, iep is false].
    union: dict[str, Any] = {}
    for child in node[1]:
        if child[0] == "leaf":
            _, name, _, vals = child
            if FACTS[name].type == INT:
                union[name] = _merge([*union.get(name, ()), *vals])
            else:
                union[name] = union.get(name, frozenset()) | vals
    return any(_always_true(("leaf", name, False, vals)) for name, vals in union.items())


def _leaf_subset(a: tuple, b: tuple) -> bool:
    if a[1] != b[1] or (a[2] and not b[2]):
        return False
    if FACTS[a[1]].type != INT:
        return a[3] <= b[3]
    return all(any(lo >= blo and hi <= bhi for blo, bhi in b[3]) for lo, hi in a[3])


def _implies(a: tuple, b: tuple) -> bool:
    """Sound, not complete: True only if every incident matching `a` also matches `b`."""
    if a == b or _always_true(b):
        return True
    if a[0] == "any":
        return all(_implies(c, b) for c in a[1])
    if b[0] == "all":
        return all(_implies(a, c) for c in b[1])
    if a[0] == "leaf" and b[0] == "leaf":
        return _leaf_subset(a, b)
    if b[0] == "any" and any(_implies(a, c) for c in b[1]):
        return True
    return a[0] == "all" and any(_implies(c, b) for c in a[1])


_LIFE_SAFETY = (
    "any",
    (
        ("leaf", "weapon", False, WEAPON_VALUES),
        ("leaf", "danger_now", False, frozenset({LIFE_SAFETY_DANGER})),
        ("leaf", "threat", False, frozenset({"to_kill_or_seriously_injure"})),
        ("leaf", "category", False, frozenset({"intruder", "weapon"})),
    ),
)


def lint(spec: Mapping) -> list[Problem]:
    warnings: list[Problem] = []
    earlier: list[tuple[int, str, tuple]] = []
    for i, rule in enumerate(spec["rules"]):
        if not rule["enabled"]:
            continue
        cond = _nnf(rule["when"])
        if rule["route"] == SRO and not _implies(cond, _LIFE_SAFETY):
            warnings.append(
                Problem(
                    f"rules[{i}].route",
                    "routes to the SRO but can match without a life-safety fact (a firearm or "
                    "weapon possessed, others in danger right now, a threat to kill or seriously "
                    "injure, or an intruder or weapon incident): the SRO is for life safety only",
                )
            )
        for j, name, prior in earlier:
            if _always_true(prior):
                why = "always matches first"
            elif _implies(cond, prior):
                why = "matches first whenever this one would"
            else:
                continue
            warnings.append(
                Problem(
                    f"rules[{i}].when",
                    f"this rule can never match: rule {name!r} (rules[{j}]) {why}; reorder "
                    f"the rules or narrow the earlier one",
                )
            )
            break
        earlier.append((i, rule["name"], cond))
    return warnings
