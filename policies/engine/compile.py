"""Compile a rule set into one generated Python function, and decide with it. Pure.

A rule set is compiled once per version into one generated Python function that tests the
rules in order. Only identifiers chosen here go into the generated source; every value that
came from a rule set (fact names, values, lists) is passed in as a bound constant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from policies.registry import (
    ADMINISTRATOR,
    ADMINISTRATOR_NOTIFIED_FROM,
    CLINICIANS,
    CO_RESPONDER,
    COUNSELOR,
    FACTS,
    LAW_ENFORCEMENT_ROUTES,
    LIFE_SAFETY_DANGER,
    LIST_OPERATORS,
    SRO,
    UNKNOWN,
)

from .normalize import normalize_ruleset
from .problems import Problem, RulesetError
from .validate import validate_ruleset

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
    if route == ADMINISTRATOR_NOTIFIED_FROM:
        wanted.append(ADMINISTRATOR)
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """The decision kept with an incident (``as_dict()``), read back. A key an older
        version did not keep reads as empty."""
        return cls(
            route=data["route"],
            also_notify=tuple(data.get("also_notify", ())),
            rule_route=data.get("rule_route", data["route"]),
            rule_id=data.get("rule_id"),
            rule_name=data.get("rule_name"),
            rationale=data.get("rationale", ""),
            reasons=tuple(data.get("reasons", ())),
            tried=tuple(data.get("tried", ())),
            guardrails=tuple(data.get("guardrails", ())),
        )


# decide() builds a Decision by handing it a finished __dict__: the same object Decision(...)
# makes, without nine frozen __setattr__ calls, which were a third of the time budget.
_new = object.__new__
_set = object.__setattr__


def _disability_from_flags(get: Callable[[str], Any]) -> bool | None:
    flags = (get("any_iep"), get("any_504"), get("any_bip"))
    if any(flags):
        return True
    return None if all(f is None for f in flags) else False


# What decide() and the guardrails read besides the rules' own facts (the disability flags are
# read when any_disability is not answered). Keep in step with decide(): a test checks it.
DECIDE_READS = (
    "any_disability",
    "any_iep",
    "any_504",
    "any_bip",
    "weapon",
    "category",
    "danger_now",
    "student_state",
    "with_now",
    "youngest_subject_age",
)

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
        # Every fact a decision can depend on: a decision is a pure function of these alone.
        self.facts_read: tuple[str, ...] = tuple(dict.fromkeys([*gen.used, *DECIDE_READS]))

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
        if route in LAW_ENFORCEMENT_ROUTES or armed or others_in_danger:
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
        if route == SRO and dis and not armed and self.disability_safeguard:
            applied.append(
                {
                    "guardrail": "disability_safeguard",
                    "from": route,
                    "to": CO_RESPONDER,
                    "explanation": "A student involved has an IEP, 504 plan or BIP and there "
                    "was no weapon: the SRO is joined by a clinician who leads.",
                }
            )
            route = CO_RESPONDER
        if route in LAW_ENFORCEMENT_ROUTES and not life_safety:
            moved = self._to_counselor(route, get)
            if moved is not None:
                applied.append(moved)
                route = COUNSELOR
        if life_safety and route not in LAW_ENFORCEMENT_ROUTES:
            why = [_WEAPON_WORDS[weapon]] if armed else []
            if others_in_danger:
                why.append("others are in danger right now")
            applied.append(
                {
                    "guardrail": "life_safety_floor",
                    "from": route,
                    "to": SRO,
                    "explanation": f"{' and '.join(why).capitalize()}: the SRO always "
                    "responds when life is at risk (this floor cannot be turned off).",
                }
            )
        return tuple(applied)

    def _to_counselor(self, route: str, get: Callable[[str], Any]) -> dict[str, str] | None:
        """With no life-safety fact: the clinician safeguard, else the minimum age."""
        if (
            self.clinician_safeguard
            and get("student_state") == "calming_down"
            and get("with_now") in CLINICIANS
        ):
            who = str(get("with_now")).replace("_", " ")
            return {
                "guardrail": "clinician_safeguard",
                "from": route,
                "to": COUNSELOR,
                "explanation": f"The student is already calming down with the {who} "
                "and there is no life-safety fact: the clinician on scene continues, "
                "with no SRO or co-responder.",
            }
        if not self.minimum_age_on:
            return None
        age = get("youngest_subject_age")
        if age is None or age >= self.minimum_age:
            return None
        return {
            "guardrail": "minimum_age",
            "from": route,
            "to": COUNSELOR,
            "explanation": f"The youngest student involved is {age}, under "
            f"the minimum age of {self.minimum_age} for an SRO or "
            "co-responder, and there is no life-safety fact: a counselor "
            "responds.",
        }


def compile_ruleset(spec: Any) -> CompiledPolicy:
    """Validate and compile a rule set; raises RulesetError (a ValueError) if it is invalid."""
    result = validate_ruleset(spec)
    if result.errors:
        raise RulesetError(result.errors)
    return CompiledPolicy(normalize_ruleset(spec), result.warnings)
