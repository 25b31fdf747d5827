"""What changed between two rule-set versions, in plain words. Pure: specs in, changes out.

Rules are matched by id, so a renamed rule is a change, not a removal and an addition.
Works on drafts that still hold errors: whatever cannot be read is compared as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .engine import normalize_ruleset
from .registry import FACTS, GUARDRAILS, OPERATOR_LABELS, ROUTE_INFO, value_label


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # rule_added, rule_removed, rule_moved, rule_changed, default_route, guardrail
    text: str
    rule_id: str | None = None


def route_words(route: Any) -> str:
    if not isinstance(route, str) or not route:
        return "(no route)"
    info = ROUTE_INFO.get(route)
    return info.words if info else route


def value_words(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None:
        return "(empty)"
    if isinstance(value, list):
        return ", ".join(value_words(v) for v in value) or "(nothing)"
    return value_label(value)


def describe_condition(node: Any, nested: bool = False) -> str:
    """A condition as a sentence: "Weapon is one of firearm, weapon possessed or ..."."""
    if not isinstance(node, Mapping):
        return "(an unreadable condition)"
    if set(node) == {"not"}:
        return f"not ({describe_condition(node['not'])})"
    for kind, joiner in (("all", " and "), ("any", " or ")):
        if set(node) == {kind} and isinstance(node[kind], list):
            if not node[kind]:
                return "(an empty group)"
            text = joiner.join(describe_condition(child, nested=True) for child in node[kind])
            return f"({text})" if nested and len(node[kind]) > 1 else text
    return _describe_leaf(node)


def _describe_leaf(node: Mapping) -> str:
    fact = node.get("fact")
    label = FACTS[fact].label if isinstance(fact, str) and fact in FACTS else str(fact or "")
    op = node.get("op")
    op_words = OPERATOR_LABELS.get(op, op) if isinstance(op, str) and op else ""
    label, op_words = label or "(no fact)", op_words or "(no operator)"
    return f"{label} {op_words} {value_words(node.get('value'))}"


def _rules(spec: Any) -> list[Mapping]:
    rules = spec.get("rules") if isinstance(spec, Mapping) else None
    if not isinstance(rules, list):
        return []
    return [r for r in rules if isinstance(r, Mapping)]


def _longest_common_order(old: list[str], new: list[str]) -> set[str]:
    """The ids that kept their relative order (a longest common subsequence)."""
    lengths = [[0] * (len(new) + 1) for _ in range(len(old) + 1)]
    for i in range(len(old) - 1, -1, -1):
        for j in range(len(new) - 1, -1, -1):
            lengths[i][j] = (
                lengths[i + 1][j + 1] + 1
                if old[i] == new[j]
                else max(lengths[i + 1][j], lengths[i][j + 1])
            )
    kept: set[str] = set()
    i = j = 0
    while i < len(old) and j < len(new):
        if old[i] == new[j]:
            kept.add(old[i])
            i, j = i + 1, j + 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept


def _canonical(node: Any) -> Any:
    """A condition with its value lists sorted: "one of a, b" is "one of b, a"."""
    if isinstance(node, Mapping):
        out = {key: _canonical(value) for key, value in node.items()}
        if "fact" in node and isinstance(node.get("value"), list):
            out["value"] = sorted(node["value"], key=repr)
        return out
    if isinstance(node, list):
        return [_canonical(item) for item in node]
    return node


def _notify_changes(name: Any, old: Mapping, new: Mapping) -> list[str]:
    old_notify = old.get("also_notify") if isinstance(old.get("also_notify"), list) else []
    new_notify = new.get("also_notify") if isinstance(new.get("also_notify"), list) else []
    added = [r for r in new_notify if r not in old_notify]
    removed = [r for r in old_notify if r not in new_notify]
    parts: list[str] = []
    if added:
        parts.append(f"Rule {name!r} now also notifies {', '.join(route_words(r) for r in added)}.")
    if removed:
        parts.append(
            f"Rule {name!r} no longer notifies {', '.join(route_words(r) for r in removed)}."
        )
    return parts


def _rule_changes(old: Mapping, new: Mapping) -> list[str]:
    name = new.get("name") or old.get("name")
    parts: list[str] = []
    if old.get("name") != new.get("name"):
        parts.append(f"Rule {old.get('name')!r} renamed to {new.get('name')!r}.")
    if old.get("route") != new.get("route"):
        parts.append(
            f"Rule {name!r}: route changed from {route_words(old.get('route'))} to "
            f"{route_words(new.get('route'))}."
        )
    parts.extend(_notify_changes(name, old, new))
    if old.get("enabled") != new.get("enabled"):
        state = "turned on" if new.get("enabled") else "turned off"
        parts.append(f"Rule {name!r} {state}.")
    for key in ("rationale", "source"):
        if old.get(key) != new.get(key):
            parts.append(f"Rule {name!r}: {key} changed to {new.get(key)!r}.")
    if _canonical(old.get("when")) != _canonical(new.get("when")):
        parts.append(
            f"Rule {name!r}: conditions changed from “{describe_condition(old.get('when'))}” "
            f"to “{describe_condition(new.get('when'))}”."
        )
    return parts


def _guardrail_changes(old: Any, new: Any) -> list[Change]:
    old = old if isinstance(old, Mapping) else {}
    new = new if isinstance(new, Mapping) else {}
    changes: list[Change] = []
    for name, info in GUARDRAILS.items():
        before = old.get(name) if isinstance(old.get(name), Mapping) else {}
        after = new.get(name) if isinstance(new.get(name), Mapping) else {}
        label = info["label"]
        was_on, is_on = before.get("enabled", True), after.get("enabled", True)
        if was_on != is_on:
            if is_on:
                text = f"{label} turned back on."
            else:
                text = f"{label} turned off (reason: {after.get('reason', '')!r})."
            changes.append(Change("guardrail", text))
        elif not is_on and before.get("reason") != after.get("reason"):
            changes.append(
                Change(
                    "guardrail",
                    f"{label}: reason for keeping it off changed to {after.get('reason')!r}.",
                )
            )
        if name == "minimum_age" and before.get("age") != after.get("age"):
            changes.append(
                Change(
                    "guardrail",
                    f"Minimum age changed from {before.get('age')} to {after.get('age')}.",
                )
            )
    return changes


def _rules_changes(old_rules: list[Mapping], new_rules: list[Mapping]) -> list[Change]:
    old_by_id = {str(r.get("id")): (i, r) for i, r in enumerate(old_rules)}
    new_by_id = {str(r.get("id")): (i, r) for i, r in enumerate(new_rules)}
    common_old = [rid for rid in old_by_id if rid in new_by_id]
    common_new = [rid for rid in new_by_id if rid in old_by_id]
    kept_order = _longest_common_order(common_old, common_new)

    changes: list[Change] = [
        Change("rule_removed", f"Removed rule {rule.get('name')!r} (was #{i + 1}).", rid)
        for rid, (i, rule) in old_by_id.items()
        if rid not in new_by_id
    ]
    for rid, (j, rule) in new_by_id.items():
        if rid not in old_by_id:
            changes.append(
                Change(
                    "rule_added",
                    f"Added rule {rule.get('name')!r} at #{j + 1}: "
                    f"{route_words(rule.get('route'))} when "
                    f"{describe_condition(rule.get('when'))}.",
                    rid,
                )
            )
            continue
        i, old_rule = old_by_id[rid]
        if rid not in kept_order:
            where = f"just after {new_rules[j - 1].get('name')!r}" if j else "the top"
            changes.append(
                Change(
                    "rule_moved",
                    f"Moved rule {rule.get('name')!r} to {where} (now #{j + 1}, was #{i + 1}).",
                    rid,
                )
            )
        changes.extend(Change("rule_changed", text, rid) for text in _rule_changes(old_rule, rule))
    return changes


def ruleset_diff(old_spec: Any, new_spec: Any) -> list[Change]:
    """Changes from ``old_spec`` to ``new_spec``: rules added, removed, moved and changed
    (in the new version's order), then the default route and the guardrails."""
    old_spec, new_spec = normalize_ruleset(old_spec), normalize_ruleset(new_spec)
    old, new = (spec if isinstance(spec, Mapping) else {} for spec in (old_spec, new_spec))
    changes = _rules_changes(_rules(old_spec), _rules(new_spec))
    old_default, new_default = old.get("default_route"), new.get("default_route")
    if old_default != new_default:
        changes.append(
            Change(
                "default_route",
                f"Default route (when no rule matches) changed from {route_words(old_default)} "
                f"to {route_words(new_default)}.",
            )
        )
    changes.extend(_guardrail_changes(old.get("guardrails"), new.get("guardrails")))
    return changes
