"""The routing engine: validate, lint, compile and decide.

Pure functions: facts in, decision and explanation out. No Django, no ORM, no settings, no I/O,
so it can be tested with tables of cases and replayed over a million incidents.

A rule set is compiled once per version into one generated Python function that tests the
rules in order. Only identifiers chosen here go into the generated source; every value that
came from a rule set (fact names, values, lists) is passed in as a bound constant.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from policies.registry import (
    BOOL,
    CHOICE,
    CLINICIANS,
    DEFAULT_MINIMUM_AGE,
    FACTS,
    GUARDRAILS,
    INT,
    LIFE_SAFETY_DANGER,
    LIST_OPERATORS,
    MAX_MINIMUM_AGE,
    OPERATORS,
    OPERATORS_BY_TYPE,
    ROUTES,
    UNKNOWN,
    WEAPON_VALUES,
)

__all__ = [
    "CompiledPolicy",
    "Decision",
    "Problem",
    "RulesetError",
    "ValidationResult",
    "compile_ruleset",
    "normalize_ruleset",
    "validate_ruleset",
]

MAX_DEPTH = 32
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = 64
TOP_KEYS = ("rules", "default_route", "guardrails")
RULE_KEYS = ("id", "name", "route", "also_notify", "enabled", "rationale", "source", "when")
LEAF_KEYS = frozenset({"fact", "op", "value"})
GROUP_KEYS = ("all", "any", "not")
GUARDRAIL_KEYS = {
    "life_safety_floor": ("enabled",),
    "disability_safeguard": ("enabled", "reason"),
    "clinician_safeguard": ("enabled", "reason"),
    "minimum_age": ("enabled", "age", "reason"),
}
OPERATOR_ALIASES = {
    "==": "eq",
    "=": "eq",
    "!=": "ne",
    "<": "lt",
    "<=": "le",
    ">": "gt",
    ">=": "ge",
    "not in": "not_in",
}
SRO_OR_CO = frozenset({"sro", "co_responder"})
TYPE_WORDS = {CHOICE: "a choice", BOOL: "true/false", INT: "a whole number"}


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(slots=True)
class ValidationResult:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class RulesetError(ValueError):
    """Raised by compile_ruleset when a rule set does not validate; `.errors` lists why."""

    def __init__(self, errors: list[Problem]) -> None:
        self.errors = errors
        super().__init__("invalid rule set:\n" + "\n".join(str(e) for e in errors))


def _jsonish(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list | tuple):
        return "a list" if value else "an empty list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def _did_you_mean(word: Any, options: Any) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or "rule"


class _Validator:
    def __init__(self) -> None:
        self.errors: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(Problem(path, message))

    def unknown_keys(self, obj: Mapping, allowed: tuple[str, ...], path: str, what: str) -> None:
        for key in obj:
            if key not in allowed:
                hint = _did_you_mean(key, allowed)
                where = f"{path}.{key}" if path else str(key)
                self.error(
                    where, f"unknown key {key!r} in {what}{hint}; allowed: {', '.join(allowed)}"
                )

    # ---- top level

    def ruleset(self, spec: Any) -> None:
        if not isinstance(spec, Mapping):
            self.error(
                "ruleset",
                f"a rule set must be an object with rules, default_route and guardrails, "
                f"got {_kind(spec)}",
            )
            return
        self.unknown_keys(spec, TOP_KEYS, "", "the rule set")
        self.rules(spec.get("rules", None), "rules" in spec)
        self.default_route(spec.get("default_route", "administrator"))
        if "guardrails" in spec:
            self.guardrails(spec["guardrails"])

    def default_route(self, route: Any) -> None:
        if route == "sro":
            self.error(
                "default_route",
                "the default route can never be 'sro': the SRO is for life safety only; "
                "use 'administrator'",
            )
        elif not isinstance(route, str) or route not in ROUTES:
            self.error(
                "default_route",
                f"unknown route {_jsonish(route)}{_did_you_mean(route, ROUTES)}; "
                f"routes: {', '.join(ROUTES)}",
            )

    def rules(self, rules: Any, present: bool) -> None:
        if not present:
            self.error("rules", "missing: a rule set needs a list of rules (it may be empty)")
            return
        if not isinstance(rules, list):
            self.error("rules", f"must be a list of rules, got {_kind(rules)}")
            return
        seen_ids: dict[str, int] = {}
        for i, rule in enumerate(rules):
            path = f"rules[{i}]"
            if not isinstance(rule, Mapping):
                self.error(
                    path, f"a rule must be an object with name, route and when, got {_kind(rule)}"
                )
                continue
            self.rule(rule, path)
            rule_id = rule.get("id")
            if isinstance(rule_id, str) and SLUG_RE.match(rule_id):
                if rule_id in seen_ids:
                    self.error(
                        f"{path}.id",
                        f"duplicate id {rule_id!r}: rules[{seen_ids[rule_id]}] already uses it",
                    )
                else:
                    seen_ids[rule_id] = i

    def rule(self, rule: Mapping, path: str) -> None:
        self.unknown_keys(rule, RULE_KEYS, path, "a rule")
        if "id" in rule:
            rule_id = rule["id"]
            if (
                not isinstance(rule_id, str)
                or not SLUG_RE.match(rule_id)
                or len(rule_id) > SLUG_MAX
            ):
                self.error(
                    f"{path}.id",
                    f"an id is a short slug of lowercase letters, digits and dashes "
                    f"(e.g. 'life-safety', at most {SLUG_MAX} characters), got {_jsonish(rule_id)}",
                )
        name = rule.get("name")
        if not isinstance(name, str) or not name.strip():
            self.error(
                f"{path}.name", "every rule needs a name: say in a few words what it catches"
            )
        elif len(name) > 200:
            self.error(f"{path}.name", "a rule name is at most 200 characters")
        route = rule.get("route")
        route_ok = isinstance(route, str) and route in ROUTES
        if "route" not in rule:
            self.error(f"{path}.route", f"missing: choose one of {', '.join(ROUTES)}")
        elif not route_ok:
            self.error(
                f"{path}.route",
                f"unknown route {_jsonish(route)}{_did_you_mean(route, ROUTES)}; "
                f"routes: {', '.join(ROUTES)}",
            )
        if "also_notify" in rule:
            self.also_notify(
                rule["also_notify"], route if route_ok else None, f"{path}.also_notify"
            )
        if "enabled" in rule and not isinstance(rule["enabled"], bool):
            self.error(f"{path}.enabled", f"must be true or false, got {_jsonish(rule['enabled'])}")
        for key in ("rationale", "source"):
            if key in rule and not isinstance(rule[key], str):
                self.error(f"{path}.{key}", f"must be text, got {_kind(rule[key])}")
        if "when" not in rule:
            self.error(f"{path}.when", "missing: a rule needs a condition")
        else:
            self.condition(rule["when"], f"{path}.when", 1)

    def also_notify(self, notify: Any, route: str | None, path: str) -> None:
        if not isinstance(notify, list):
            self.error(path, f"must be a list of routes, got {_kind(notify)}")
            return
        seen: set[str] = set()
        for j, item in enumerate(notify):
            item_path = f"{path}[{j}]"
            if not isinstance(item, str) or item not in ROUTES:
                self.error(
                    item_path,
                    f"unknown route {_jsonish(item)}{_did_you_mean(item, ROUTES)}; "
                    f"routes: {', '.join(ROUTES)}",
                )
            elif item == route:
                self.error(
                    item_path, f"{item!r} is this rule's own route; notify other routes only"
                )
            elif item in seen:
                self.error(item_path, f"{item!r} is listed twice")
            else:
                seen.add(item)

    # ---- conditions

    def condition(self, node: Any, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.error(path, f"conditions nest deeper than {MAX_DEPTH} levels")
            return
        if not isinstance(node, Mapping):
            self.error(
                path,
                'a condition must be an object: {"all": [...]}, {"any": [...]}, {"not": {...}} '
                f'or {{"fact": ..., "op": ..., "value": ...}}, got {_kind(node)}',
            )
            return
        keys = set(node)
        groups = [k for k in GROUP_KEYS if k in keys]
        if len(groups) == 1 and keys == {groups[0]}:
            kind = groups[0]
            if kind == "not":
                self.condition(node["not"], f"{path}.not", depth + 1)
                return
            children = node[kind]
            if not isinstance(children, list):
                self.error(f"{path}.{kind}", f"must be a list of conditions, got {_kind(children)}")
                return
            if not children:
                self.error(
                    f"{path}.{kind}",
                    f"empty '{kind}' group: add at least one condition or remove the group",
                )
                return
            for j, child in enumerate(children):
                self.condition(child, f"{path}.{kind}[{j}]", depth + 1)
            return
        if groups:
            others = sorted(str(k) for k in keys if k != groups[0]) if len(groups) == 1 else []
            detail = (
                f"it has {', '.join(repr(g) for g in groups)}"
                if len(groups) > 1
                else f"{groups[0]!r} cannot be combined with {', '.join(repr(k) for k in others)}"
            )
            self.error(
                path,
                f"a condition node must be exactly one of all, any, not, or a leaf "
                f"(fact, op, value): {detail}",
            )
            return
        if keys & LEAF_KEYS:
            missing = [k for k in ("fact", "op", "value") if k not in keys]
            extra = sorted(str(k) for k in keys - LEAF_KEYS)
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"missing {', '.join(repr(k) for k in missing)}")
                if extra:
                    parts.append(f"unexpected {', '.join(repr(k) for k in extra)}")
                self.error(
                    path,
                    f"a leaf condition has exactly fact, op and value: {'; '.join(parts)}",
                )
                return
            self.leaf(node, path)
            return
        self.error(
            path,
            "a condition node must be exactly one of all, any, not, or a leaf (fact, op, value); "
            f"got keys: {', '.join(sorted(str(k) for k in keys)) or 'none'}",
        )

    def leaf(self, node: Mapping, path: str) -> None:
        name, op, value = node["fact"], node["op"], node["value"]
        fact = FACTS.get(name) if isinstance(name, str) else None
        if fact is None:
            self.error(f"{path}.fact", f"unknown fact {_jsonish(name)}{_did_you_mean(name, FACTS)}")
        if not isinstance(op, str) or op not in OPERATORS:
            hint = (
                f" (did you mean {OPERATOR_ALIASES[op]!r}?)"
                if isinstance(op, str) and op in OPERATOR_ALIASES
                else _did_you_mean(op, OPERATORS)
            )
            self.error(
                f"{path}.op",
                f"unknown operator {_jsonish(op)}{hint}; operators: {', '.join(OPERATORS)}",
            )
            return
        if fact is None:
            return
        valid_ops = [o for o in OPERATORS if o in OPERATORS_BY_TYPE[fact.type]]
        if op not in OPERATORS_BY_TYPE[fact.type]:
            self.error(
                f"{path}.op",
                f"operator {op!r} is not valid for {fact.name!r} ({TYPE_WORDS[fact.type]}); "
                f"use one of: {', '.join(valid_ops)}",
            )
            return
        if op in LIST_OPERATORS:
            if not isinstance(value, list) or not value:
                self.error(
                    f"{path}.value",
                    f"operator {op!r} needs a non-empty list of values, got {_kind(value)}",
                )
                return
            for j, item in enumerate(value):
                self.value(fact.name, item, f"{path}.value[{j}]")
        else:
            self.value(fact.name, value, f"{path}.value")

    def value(self, name: str, value: Any, path: str) -> None:
        fact = FACTS[name]
        if fact.type == BOOL:
            if not isinstance(value, bool):
                self.error(path, f"{name!r} is true/false: use true or false, not {_kind(value)}")
        elif fact.type == INT:
            if isinstance(value, bool) or not isinstance(value, int):
                self.error(path, f"{name!r} is a whole number: use a number, not {_kind(value)}")
        elif not isinstance(value, str):
            self.error(
                path,
                f"{name!r} is a choice: use one of its values as text, not {_kind(value)}; "
                f"allowed: {', '.join(fact.values)}",
            )
        elif value not in fact.values:
            self.error(
                path,
                f"{value!r} is not a value of {name!r}{_did_you_mean(value, fact.values)}; "
                f"allowed: {', '.join(fact.values)}",
            )

    # ---- guardrails

    def guardrails(self, guardrails: Any) -> None:
        if not isinstance(guardrails, Mapping):
            self.error(
                "guardrails", f"must be an object keyed by guardrail, got {_kind(guardrails)}"
            )
            return
        for name, config in guardrails.items():
            path = f"guardrails.{name}"
            if name not in GUARDRAILS:
                self.error(
                    path,
                    f"unknown guardrail {_jsonish(name)}{_did_you_mean(name, GUARDRAILS)}; "
                    f"guardrails: {', '.join(GUARDRAILS)}",
                )
                continue
            if not isinstance(config, Mapping):
                self.error(path, f'must be an object like {{"enabled": true}}, got {_kind(config)}')
                continue
            self.unknown_keys(config, GUARDRAIL_KEYS[name], path, f"guardrail {name!r}")
            enabled = config.get("enabled", True)
            if not isinstance(enabled, bool):
                self.error(f"{path}.enabled", f"must be true or false, got {_jsonish(enabled)}")
                enabled = True
            reason = config.get("reason", "")
            if "reason" in config and not isinstance(reason, str):
                self.error(f"{path}.reason", f"must be text, got {_kind(reason)}")
                reason = ""
            if name == "life_safety_floor":
                if not enabled:
                    self.error(
                        f"{path}.enabled",
                        "the life-safety floor cannot be turned off: a firearm, a weapon "
                        "possessed or others in danger right now always involve the SRO",
                    )
            elif not enabled and not reason.strip():
                self.error(
                    f"{path}.reason",
                    f"turning off {name!r} requires a written reason; it is logged",
                )
            if name == "minimum_age" and "age" in config:
                age = config["age"]
                if (
                    isinstance(age, bool)
                    or not isinstance(age, int)
                    or not 0 <= age <= MAX_MINIMUM_AGE
                ):
                    self.error(
                        f"{path}.age",
                        f"the minimum age is a whole number from 0 to {MAX_MINIMUM_AGE}, "
                        f"got {_jsonish(age)}",
                    )


def normalize_ruleset(spec: Any) -> Any:
    """Fill every default so that what GET returns is what PUT accepts.

    Works on a copy. Tolerates drafts with errors: fills only where the shape allows it.
    """
    if not isinstance(spec, Mapping):
        return copy.deepcopy(spec)
    out: dict[str, Any] = {k: copy.deepcopy(v) for k, v in spec.items() if k not in TOP_KEYS}
    rules = spec.get("rules", [])
    if isinstance(rules, list):
        taken = {r["id"] for r in rules if isinstance(r, Mapping) and isinstance(r.get("id"), str)}
        normal_rules: list[Any] = []
        for rule in rules:
            if not isinstance(rule, Mapping):
                normal_rules.append(copy.deepcopy(rule))
                continue
            rule_id = rule.get("id")
            if rule_id is None:
                name = rule.get("name")
                base = _slugify(name) if isinstance(name, str) else "rule"
                rule_id, n = base, 2
                while rule_id in taken:
                    suffix = f"-{n}"
                    rule_id = base[: SLUG_MAX - len(suffix)] + suffix
                    n += 1
                taken.add(rule_id)
            normal = {
                "id": rule_id,
                "name": copy.deepcopy(rule.get("name", "")),
                "route": copy.deepcopy(rule.get("route")),
                "also_notify": copy.deepcopy(rule.get("also_notify", [])),
                "enabled": copy.deepcopy(rule.get("enabled", True)),
                "rationale": copy.deepcopy(rule.get("rationale", "")),
                "source": copy.deepcopy(rule.get("source", "")),
                "when": copy.deepcopy(rule.get("when")),
            }
            normal.update({k: copy.deepcopy(v) for k, v in rule.items() if k not in normal})
            normal_rules.append(normal)
        out["rules"] = normal_rules
    else:
        out["rules"] = copy.deepcopy(rules)
    out["default_route"] = copy.deepcopy(spec.get("default_route", "administrator"))
    guardrails = spec.get("guardrails", {})
    if isinstance(guardrails, Mapping):
        normal_guardrails: dict[str, Any] = {}
        for name in GUARDRAILS:
            config = guardrails.get(name, {})
            if not isinstance(config, Mapping):
                normal_guardrails[name] = copy.deepcopy(config)
                continue
            normal = {"enabled": copy.deepcopy(config.get("enabled", True))}
            if name == "minimum_age":
                normal["age"] = copy.deepcopy(config.get("age", DEFAULT_MINIMUM_AGE))
            if name != "life_safety_floor":
                normal["reason"] = copy.deepcopy(config.get("reason", ""))
            normal.update({k: copy.deepcopy(v) for k, v in config.items() if k not in normal})
            normal_guardrails[name] = normal
        normal_guardrails.update(
            {k: copy.deepcopy(v) for k, v in guardrails.items() if k not in GUARDRAILS}
        )
        out["guardrails"] = normal_guardrails
    else:
        out["guardrails"] = copy.deepcopy(guardrails)
    return out


def validate_ruleset(spec: Any) -> ValidationResult:
    """Errors block publishing; warnings (lint) do not. Never raises on garbage input."""
    validator = _Validator()
    try:
        validator.ruleset(spec)
    except Exception as exc:  # a last resort: garbage must come back as an error, not a 500
        validator.error("ruleset", f"could not be read: {type(exc).__name__}")
    result = ValidationResult(errors=validator.errors)
    if not result.errors:
        result.warnings = _lint(normalize_ruleset(spec))
    return result


# --------------------------------------------------------------------------- lint
#
# Conditions are put in negation normal form whose leaves are (fact, accepted values). An
# accepted set records whether a missing fact (None) is accepted, plus the values: a frozenset
# for choice and bool facts, sorted disjoint closed intervals for int facts.

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


def _lint(spec: Mapping) -> list[Problem]:
    warnings: list[Problem] = []
    earlier: list[tuple[int, str, tuple]] = []
    for i, rule in enumerate(spec["rules"]):
        if not rule["enabled"]:
            continue
        cond = _nnf(rule["when"])
        if rule["route"] == "sro" and not _implies(cond, _LIFE_SAFETY):
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


# --------------------------------------------------------------------------- compile

_FACT_INDEX = {name: i for i, name in enumerate(FACTS)}


class _Codegen:
    """Turns validated conditions into Python source; values become bound constants."""

    def __init__(self) -> None:
        self.consts: dict[str, Any] = {}
        self.used: dict[str, str] = {}  # fact name -> local variable
        self.keys: dict[str, str] = {}  # fact name -> constant holding it

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def key(self, fact_name: str) -> str:
        if fact_name not in self.keys:
            self.keys[fact_name] = self.const(fact_name)
        return self.keys[fact_name]

    def var(self, fact_name: str) -> str:
        if fact_name not in self.used:
            # The variable name comes from the registry position, never from the rule set.
            self.used[fact_name] = f"f{_FACT_INDEX[fact_name]}"
        return self.used[fact_name]

    def expr(self, node: Mapping) -> str:
        if "not" in node:
            return f"(not {self.expr(node['not'])})"
        if "all" in node:
            return "(" + " and ".join(self.expr(c) for c in node["all"]) + ")"
        if "any" in node:
            return "(" + " or ".join(self.expr(c) for c in node["any"]) + ")"
        var, op, value = self.var(node["fact"]), node["op"], node["value"]
        if op in LIST_OPERATORS:
            return f"({var} {'in' if op == 'in' else 'not in'} {self.const(frozenset(value))})"
        if op in ("eq", "ne"):
            return f"({var} {'==' if op == 'eq' else '!='} {self.const(value)})"
        symbol = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
        return f"({var} is not None and {var} {symbol} {self.const(value)})"


def _facts_in_order(node: Mapping, out: dict[str, None]) -> None:
    if "not" in node:
        _facts_in_order(node["not"], out)
    elif "all" in node or "any" in node:
        for child in node.get("all") or node["any"]:
            _facts_in_order(child, out)
    else:
        out.setdefault(FACTS[node["fact"]].name, None)


def _notify(route: str, also_notify: tuple[str, ...]) -> tuple[str, ...]:
    wanted = list(also_notify)
    if route == "sro":
        wanted.append("administrator")
    return tuple(dict.fromkeys(r for r in wanted if r != route))


@dataclass(frozen=True)
class Decision:
    route: str
    also_notify: tuple[str, ...]
    rule_route: str
    rule_id: str | None
    rule_name: str | None
    rationale: str
    reasons: tuple[Mapping[str, Any], ...]
    tried: tuple[Mapping[str, str], ...]
    guardrails: tuple[Mapping[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "also_notify": list(self.also_notify),
            "rule_route": self.rule_route,
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "rationale": self.rationale,
            "reasons": [dict(r) for r in self.reasons],
            "tried": [dict(t) for t in self.tried],
            "guardrails": [dict(g) for g in self.guardrails],
        }


# decide() builds a Decision by handing it a finished __dict__: the same object Decision(...)
# makes, without nine frozen __setattr__ calls, which were a third of the time budget.
_new = object.__new__
_set = object.__setattr__


def _disability_from_flags(get: Callable[[str], Any]) -> bool | None:
    flags = (get("any_iep"), get("any_504"), get("any_bip"))
    if any(flags):
        return True
    return None if all(f is None for f in flags) else False


_WEAPON_WORDS = {
    "firearm": "a firearm was involved",
    "weapon_possessed": "a weapon was possessed",
    UNKNOWN: "a weapon was reported and its kind was not answered (counted as a weapon possessed)",
}


class CompiledPolicy:
    """One rule-set version, compiled. Immutable after construction, safe to share."""

    def __init__(self, spec: Mapping[str, Any], warnings: list[Problem]) -> None:
        self.spec = spec
        self.warnings = warnings
        self.default_route: str = spec["default_route"]
        guardrails = spec["guardrails"]
        self.disability_safeguard: bool = guardrails["disability_safeguard"]["enabled"]
        self.clinician_safeguard: bool = guardrails["clinician_safeguard"]["enabled"]
        self.minimum_age_on: bool = guardrails["minimum_age"]["enabled"]
        self.minimum_age: int = guardrails["minimum_age"]["age"]

        gen = _Codegen()
        lines: list[str] = []
        # One Decision template per enabled rule, then the default's last (index -1).
        templates: list[dict[str, Any]] = []
        also_notify: list[tuple[str, ...]] = []
        tried: list[Mapping[str, str]] = []
        for rule in spec["rules"]:
            if not rule["enabled"]:
                continue
            also = tuple(rule["also_notify"])
            templates.append(
                {
                    "route": rule["route"],
                    "also_notify": _notify(rule["route"], also),
                    "rule_route": rule["route"],
                    "rule_id": rule["id"],
                    "rule_name": rule["name"],
                    "rationale": rule["rationale"],
                    "reasons": (),
                    "tried": tuple(tried),
                    "guardrails": (),
                }
            )
            also_notify.append(also)
            facts: dict[str, None] = {}
            _facts_in_order(rule["when"], facts)
            # Each fact is read once, just before the first rule that tests it, so an incident
            # that matches early reads only what it needs.
            for name in facts:
                if name not in gen.used:
                    source = "dis" if name == "any_disability" else f"get({gen.key(name)})"
                    lines.append(f"    {gen.var(name)} = {source}")
            reasons = ", ".join(
                f'{{"fact": {gen.key(name)}, "value": {gen.var(name)}}}' for name in facts
            )
            lines.append(f"    if {gen.expr(rule['when'])}:")
            lines.append(f"        return {len(templates) - 1}, ({reasons},)")
            tried.append(MappingProxyType({"id": rule["id"], "name": rule["name"]}))
        templates.append(
            {
                "route": self.default_route,
                "also_notify": (),
                "rule_route": self.default_route,
                "rule_id": None,
                "rule_name": None,
                "rationale": "",
                "reasons": (),
                "tried": tuple(tried),
                "guardrails": (),
            }
        )
        also_notify.append(())
        self._templates = tuple(templates)
        self._also_notify = tuple(also_notify)

        # The constants are arguments of an outer function, so the generated code reads them
        # as closure cells: fast, and no rule-set value is ever spelled out in the source.
        body = [f"    {line}" for line in [*lines, "    return -1, ()"]]
        source = "\n".join(
            [
                f"def _make({', '.join(gen.consts)}):",
                "    def _match(get, dis):",
                *body,
                "    return _match",
                "",
            ]
        )
        namespace: dict[str, Any] = {}
        exec(compile(source, "<policy>", "exec"), namespace)  # noqa: S102
        self._match: Callable[..., tuple[int, tuple[dict[str, Any], ...]]] = namespace["_make"](
            *gen.consts.values()
        )
        self.source = source

    def decide(self, facts: Mapping[str, object]) -> Decision:
        """Route one incident: the first enabled rule that matches, then the guardrails."""
        get = facts.get
        dis = get("any_disability")
        if dis is None:
            dis = _disability_from_flags(get)
        index, reasons = self._match(get, dis)
        state = self._templates[index].copy()
        state["reasons"] = reasons
        route = state["route"]
        weapon = get("weapon")
        # A weapon report whose kind is unknown counts as a weapon possessed (weapon_reported).
        armed = (
            weapon == "firearm"
            or weapon == "weapon_possessed"
            or (weapon == UNKNOWN and get("category") == "weapon")
        )
        others_in_danger = get("danger_now") == LIFE_SAFETY_DANGER
        # Guardrails only ever move sro/co_responder down, or anything else up to sro.
        if route in SRO_OR_CO or armed or others_in_danger:
            applied = self._guardrails(route, get, dis, weapon, armed, others_in_danger)
            if applied:
                route = applied[-1]["to"]
                state["route"] = route
                state["also_notify"] = _notify(route, self._also_notify[index])
                state["guardrails"] = applied
        decision = _new(Decision)
        _set(decision, "__dict__", state)
        return decision

    def _guardrails(
        self,
        route: str,
        get: Callable[[str], Any],
        dis: Any,
        weapon: Any,
        armed: bool,
        others_in_danger: bool,
    ) -> tuple[dict[str, str], ...]:
        life_safety = armed or others_in_danger
        applied: list[dict[str, str]] = []
        if route == "sro" and dis and not armed and self.disability_safeguard:
            applied.append(
                {
                    "guardrail": "disability_safeguard",
                    "from": route,
                    "to": "co_responder",
                    "explanation": "A student involved has an IEP, 504 plan or BIP and there "
                    "was no weapon: the SRO is joined by a clinician who leads.",
                }
            )
            route = "co_responder"
        if route in SRO_OR_CO and not life_safety:
            if (
                self.clinician_safeguard
                and get("student_state") == "calming_down"
                and get("with_now") in CLINICIANS
            ):
                who = str(get("with_now")).replace("_", " ")
                applied.append(
                    {
                        "guardrail": "clinician_safeguard",
                        "from": route,
                        "to": "counselor",
                        "explanation": f"The student is already calming down with the {who} "
                        "and there is no life-safety fact: the clinician on scene continues, "
                        "with no SRO or co-responder.",
                    }
                )
                route = "counselor"
            elif self.minimum_age_on:
                age = get("youngest_subject_age")
                if age is not None and age < self.minimum_age:
                    applied.append(
                        {
                            "guardrail": "minimum_age",
                            "from": route,
                            "to": "counselor",
                            "explanation": f"The youngest student involved is {age}, under "
                            f"the minimum age of {self.minimum_age} for an SRO or "
                            "co-responder, and there is no life-safety fact: a counselor "
                            "responds.",
                        }
                    )
                    route = "counselor"
        if life_safety and route not in SRO_OR_CO:
            why = [_WEAPON_WORDS[weapon]] if armed else []
            if others_in_danger:
                why.append("others are in danger right now")
            applied.append(
                {
                    "guardrail": "life_safety_floor",
                    "from": route,
                    "to": "sro",
                    "explanation": f"{' and '.join(why).capitalize()}: the SRO always "
                    "responds when life is at risk (this floor cannot be turned off).",
                }
            )
        return tuple(applied)


def compile_ruleset(spec: Any) -> CompiledPolicy:
    """Validate and compile a rule set; raises RulesetError (a ValueError) if it is invalid."""
    result = validate_ruleset(spec)
    if result.errors:
        raise RulesetError(result.errors)
    return CompiledPolicy(normalize_ruleset(spec), result.warnings)
