"""Normalize a rule set: fill every default so that what GET returns is what PUT accepts. Pure."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from policies.registry import DEFAULT_MINIMUM_AGE, DEFAULT_ROUTE, GUARDRAILS

from .problems import SLUG_MAX, TOP_KEYS


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or "rule"


def _fresh_id(rule: Mapping, taken: set[str]) -> str:
    name = rule.get("name")
    base = _slugify(name) if isinstance(name, str) else "rule"
    rule_id, n = base, 2
    while rule_id in taken:
        suffix = f"-{n}"
        rule_id = base[: SLUG_MAX - len(suffix)] + suffix
        n += 1
    taken.add(rule_id)
    return rule_id


def _normal_rule(rule: Mapping, taken: set[str]) -> dict[str, Any]:
    rule_id = rule.get("id")
    if rule_id is None:
        rule_id = _fresh_id(rule, taken)
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
    return normal


def _normal_rules(rules: Any) -> Any:
    if not isinstance(rules, list):
        return copy.deepcopy(rules)
    taken = {r["id"] for r in rules if isinstance(r, Mapping) and isinstance(r.get("id"), str)}
    return [
        _normal_rule(rule, taken) if isinstance(rule, Mapping) else copy.deepcopy(rule)
        for rule in rules
    ]


def _normal_guardrail(name: str, config: Any) -> Any:
    if not isinstance(config, Mapping):
        return copy.deepcopy(config)
    normal = {"enabled": copy.deepcopy(config.get("enabled", True))}
    if name == "minimum_age":
        normal["age"] = copy.deepcopy(config.get("age", DEFAULT_MINIMUM_AGE))
    if name != "life_safety_floor":
        normal["reason"] = copy.deepcopy(config.get("reason", ""))
    normal.update({k: copy.deepcopy(v) for k, v in config.items() if k not in normal})
    return normal


def _normal_guardrails(guardrails: Any) -> Any:
    if not isinstance(guardrails, Mapping):
        return copy.deepcopy(guardrails)
    normal = {name: _normal_guardrail(name, guardrails.get(name, {})) for name in GUARDRAILS}
    normal.update({k: copy.deepcopy(v) for k, v in guardrails.items() if k not in GUARDRAILS})
    return normal


def normalize_ruleset(spec: Any) -> Any:
    """Fill every default so that what GET returns is what PUT accepts.

    Works on a copy. Tolerates drafts with errors: fills only where the shape allows it.
    """
    if not isinstance(spec, Mapping):
        return copy.deepcopy(spec)
    out: dict[str, Any] = {k: copy.deepcopy(v) for k, v in spec.items() if k not in TOP_KEYS}
    out["rules"] = _normal_rules(spec.get("rules", []))
    out["default_route"] = copy.deepcopy(spec.get("default_route", DEFAULT_ROUTE))
    out["guardrails"] = _normal_guardrails(spec.get("guardrails", {}))
    return out
