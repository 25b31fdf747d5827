"""Validate a rule set: every error a person must fix before publishing, with its path and a
message that says what to do. Pure; never raises on garbage input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.registry import (
    BOOL,
    CHOICE,
    DEFAULT_ROUTE,
    FACTS,
    GUARDRAILS,
    INT,
    LIST_OPERATORS,
    MAX_MINIMUM_AGE,
    OPERATORS,
    OPERATORS_BY_TYPE,
    ROUTE_INFO,
    ROUTES,
)

from .lint import lint
from .normalize import normalize_ruleset
from .problems import (
    GROUP_KEYS,
    GUARDRAIL_KEYS,
    LEAF_KEYS,
    MAX_DEPTH,
    RULE_KEYS,
    SLUG_MAX,
    SLUG_RE,
    TOP_KEYS,
    Problem,
    ValidationResult,
    did_you_mean,
    jsonish,
    kind_of,
)

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
TYPE_WORDS = {CHOICE: "a choice", BOOL: "true/false", INT: "a whole number"}
NOT_DEFAULT = tuple(route for route, info in ROUTE_INFO.items() if not info.may_be_default)


def _unknown_route(route: Any) -> str:
    hint = did_you_mean(route, ROUTES)
    return f"unknown route {jsonish(route)}{hint}; routes: {', '.join(ROUTES)}"


def _is_slug(value: Any) -> bool:
    return isinstance(value, str) and bool(SLUG_RE.match(value)) and len(value) <= SLUG_MAX


class _Validator:
    def __init__(self) -> None:
        self.errors: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(Problem(path, message))

    def unknown_keys(self, obj: Mapping, allowed: tuple[str, ...], path: str, what: str) -> None:
        for key in obj:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
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
                f"got {kind_of(spec)}",
            )
            return
        self.unknown_keys(spec, TOP_KEYS, "", "the rule set")
        self.rules(spec.get("rules", None), "rules" in spec)
        self.default_route(spec.get("default_route", DEFAULT_ROUTE))
        if "guardrails" in spec:
            self.guardrails(spec["guardrails"])

    def default_route(self, route: Any) -> None:
        if route in NOT_DEFAULT:
            self.error(
                "default_route",
                f"the default route can never be {route!r}: the SRO is for life safety only; "
                f"use {DEFAULT_ROUTE!r}",
            )
        elif not isinstance(route, str) or route not in ROUTES:
            self.error("default_route", _unknown_route(route))

    def rules(self, rules: Any, present: bool) -> None:
        if not present:
            self.error("rules", "missing: a rule set needs a list of rules (it may be empty)")
            return
        if not isinstance(rules, list):
            self.error("rules", f"must be a list of rules, got {kind_of(rules)}")
            return
        seen_ids: dict[str, int] = {}
        for i, rule in enumerate(rules):
            path = f"rules[{i}]"
            if not isinstance(rule, Mapping):
                self.error(
                    path, f"a rule must be an object with name, route and when, got {kind_of(rule)}"
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
        if "id" in rule and not _is_slug(rule["id"]):
            self.error(
                f"{path}.id",
                f"an id is a short slug of lowercase letters, digits and dashes "
                f"(e.g. 'life-safety', at most {SLUG_MAX} characters), got {jsonish(rule['id'])}",
            )
        self.rule_name(rule.get("name"), f"{path}.name")
        route = rule.get("route")
        route_ok = isinstance(route, str) and route in ROUTES
        if "route" not in rule:
            self.error(f"{path}.route", f"missing: choose one of {', '.join(ROUTES)}")
        elif not route_ok:
            self.error(f"{path}.route", _unknown_route(route))
        if "also_notify" in rule:
            self.also_notify(
                rule["also_notify"], route if route_ok else None, f"{path}.also_notify"
            )
        if "enabled" in rule and not isinstance(rule["enabled"], bool):
            self.error(f"{path}.enabled", f"must be true or false, got {jsonish(rule['enabled'])}")
        for key in ("rationale", "source"):
            if key in rule and not isinstance(rule[key], str):
                self.error(f"{path}.{key}", f"must be text, got {kind_of(rule[key])}")
        if "when" not in rule:
            self.error(f"{path}.when", "missing: a rule needs a condition")
        else:
            self.condition(rule["when"], f"{path}.when", 1)

    def rule_name(self, name: Any, path: str) -> None:
        if not isinstance(name, str) or not name.strip():
            self.error(path, "every rule needs a name: say in a few words what it catches")
        elif len(name) > 200:
            self.error(path, "a rule name is at most 200 characters")

    def also_notify(self, notify: Any, route: str | None, path: str) -> None:
        if not isinstance(notify, list):
            self.error(path, f"must be a list of routes, got {kind_of(notify)}")
            return
        seen: set[str] = set()
        for j, item in enumerate(notify):
            item_path = f"{path}[{j}]"
            if not isinstance(item, str) or item not in ROUTES:
                self.error(item_path, _unknown_route(item))
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
                f'or {{"fact": ..., "op": ..., "value": ...}}, got {kind_of(node)}',
            )
            return
        keys = set(node)
        groups = [k for k in GROUP_KEYS if k in keys]
        if len(groups) == 1 and keys == {groups[0]}:
            self.group(node, groups[0], path, depth)
        elif groups:
            self.mixed_group(keys, groups, path)
        elif keys & LEAF_KEYS:
            self.leaf_keys(node, keys, path)
        else:
            self.error(
                path,
                "a condition node must be exactly one of all, any, not, or a leaf "
                f"(fact, op, value); got keys: {', '.join(sorted(str(k) for k in keys)) or 'none'}",
            )

    def group(self, node: Mapping, kind: str, path: str, depth: int) -> None:
        if kind == "not":
            self.condition(node["not"], f"{path}.not", depth + 1)
            return
        children = node[kind]
        if not isinstance(children, list):
            self.error(f"{path}.{kind}", f"must be a list of conditions, got {kind_of(children)}")
            return
        if not children:
            self.error(
                f"{path}.{kind}",
                f"empty '{kind}' group: add at least one condition or remove the group",
            )
            return
        for j, child in enumerate(children):
            self.condition(child, f"{path}.{kind}[{j}]", depth + 1)

    def mixed_group(self, keys: set, groups: list[str], path: str) -> None:
        if len(groups) > 1:
            detail = f"it has {', '.join(repr(g) for g in groups)}"
        else:
            others = sorted(str(k) for k in keys if k != groups[0])
            detail = f"{groups[0]!r} cannot be combined with {', '.join(repr(k) for k in others)}"
        self.error(
            path,
            f"a condition node must be exactly one of all, any, not, or a leaf "
            f"(fact, op, value): {detail}",
        )

    def leaf_keys(self, node: Mapping, keys: set, path: str) -> None:
        missing = [k for k in ("fact", "op", "value") if k not in keys]
        extra = sorted(str(k) for k in keys - LEAF_KEYS)
        if not missing and not extra:
            self.leaf(node, path)
            return
        parts = []
        if missing:
            parts.append(f"missing {', '.join(repr(k) for k in missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(repr(k) for k in extra)}")
        self.error(path, f"a leaf condition has exactly fact, op and value: {'; '.join(parts)}")

    def leaf(self, node: Mapping, path: str) -> None:
        name, op, value = node["fact"], node["op"], node["value"]
        fact = FACTS.get(name) if isinstance(name, str) else None
        if fact is None:
            self.error(f"{path}.fact", f"unknown fact {jsonish(name)}{did_you_mean(name, FACTS)}")
        if not isinstance(op, str) or op not in OPERATORS:
            self.unknown_operator(op, f"{path}.op")
            return
        if fact is None:
            return
        if op not in OPERATORS_BY_TYPE[fact.type]:
            valid_ops = [o for o in OPERATORS if o in OPERATORS_BY_TYPE[fact.type]]
            self.error(
                f"{path}.op",
                f"operator {op!r} is not valid for {fact.name!r} ({TYPE_WORDS[fact.type]}); "
                f"use one of: {', '.join(valid_ops)}",
            )
            return
        if op not in LIST_OPERATORS:
            self.value(fact.name, value, f"{path}.value")
        elif not isinstance(value, list) or not value:
            self.error(
                f"{path}.value",
                f"operator {op!r} needs a non-empty list of values, got {kind_of(value)}",
            )
        else:
            for j, item in enumerate(value):
                self.value(fact.name, item, f"{path}.value[{j}]")

    def unknown_operator(self, op: Any, path: str) -> None:
        hint = (
            f" (did you mean {OPERATOR_ALIASES[op]!r}?)"
            if isinstance(op, str) and op in OPERATOR_ALIASES
            else did_you_mean(op, OPERATORS)
        )
        self.error(path, f"unknown operator {jsonish(op)}{hint}; operators: {', '.join(OPERATORS)}")

    def value(self, name: str, value: Any, path: str) -> None:
        fact = FACTS[name]
        if fact.type == BOOL:
            if not isinstance(value, bool):
                self.error(path, f"{name!r} is true/false: use true or false, not {kind_of(value)}")
        elif fact.type == INT:
            if isinstance(value, bool) or not isinstance(value, int):
                self.error(path, f"{name!r} is a whole number: use a number, not {kind_of(value)}")
        elif not isinstance(value, str):
            self.error(
                path,
                f"{name!r} is a choice: use one of its values as text, not {kind_of(value)}; "
                f"allowed: {', '.join(fact.values)}",
            )
        elif value not in fact.values:
            self.error(
                path,
                f"{value!r} is not a value of {name!r}{did_you_mean(value, fact.values)}; "
                f"allowed: {', '.join(fact.values)}",
            )

    # ---- guardrails

    def guardrails(self, guardrails: Any) -> None:
        if not isinstance(guardrails, Mapping):
            self.error(
                "guardrails", f"must be an object keyed by guardrail, got {kind_of(guardrails)}"
            )
            return
        for name, config in guardrails.items():
            path = f"guardrails.{name}"
            if name not in GUARDRAILS:
                self.error(
                    path,
                    f"unknown guardrail {jsonish(name)}{did_you_mean(name, GUARDRAILS)}; "
                    f"guardrails: {', '.join(GUARDRAILS)}",
                )
            elif not isinstance(config, Mapping):
                self.error(
                    path, f'must be an object like {{"enabled": true}}, got {kind_of(config)}'
                )
            else:
                self.guardrail(name, config, path)

    def guardrail(self, name: str, config: Mapping, path: str) -> None:
        self.unknown_keys(config, GUARDRAIL_KEYS[name], path, f"guardrail {name!r}")
        enabled = config.get("enabled", True)
        if not isinstance(enabled, bool):
            self.error(f"{path}.enabled", f"must be true or false, got {jsonish(enabled)}")
            enabled = True
        reason = config.get("reason", "")
        if "reason" in config and not isinstance(reason, str):
            self.error(f"{path}.reason", f"must be text, got {kind_of(reason)}")
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
            self.minimum_age(config["age"], f"{path}.age")

    def minimum_age(self, age: Any, path: str) -> None:
        if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= MAX_MINIMUM_AGE:
            self.error(
                path,
                f"the minimum age is a whole number from 0 to {MAX_MINIMUM_AGE}, "
                f"got {jsonish(age)}",
            )


def validate_ruleset(spec: Any) -> ValidationResult:
    """Errors block publishing; warnings (lint) do not. Never raises on garbage input."""
    validator = _Validator()
    try:
        validator.ruleset(spec)
    except Exception as exc:  # a last resort: garbage must come back as an error, not a 500
        validator.error("ruleset", f"could not be read: {type(exc).__name__}")
    result = ValidationResult(errors=validator.errors)
    if not result.errors:
        result.warnings = lint(normalize_ruleset(spec))
    return result
