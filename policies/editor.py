"""The rule editor's page model.

Turns a stored spec into rows the template renders, and hangs each of the engine's errors and
warnings on the rule, condition, default route or guardrail its ``path`` names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import engine
from .registry import (
    BOOL,
    CHOICE,
    FACTS,
    GUARDRAILS,
    LIST_OPERATORS,
    OPERATOR_LABELS,
    OPERATORS,
    OPERATORS_BY_TYPE,
    ROUTE_INFO,
    value_label,
)


def words(value: str) -> str:
    """A registry value for people: "object_used_as_weapon" -> "Object used as weapon"."""
    text = value_label(value)
    return text[:1].upper() + text[1:]


@dataclass
class Notes:
    """Errors and warnings hung on one part of the page."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.errors or self.warnings)


@dataclass
class Leaf:
    path: str
    fact: str
    op: str
    value: Any
    notes: Notes = field(default_factory=Notes)
    is_leaf: bool = True

    @property
    def dom_id(self) -> str:
        return "cond-" + _dom(self.path) if self.path else ""

    @property
    def fact_type(self) -> str:
        return FACTS[self.fact].type if self.fact in FACTS else ""

    @property
    def fact_choices(self) -> list[tuple[str, str]]:
        return [(name, fact.label) for name, fact in FACTS.items()]

    @property
    def operator_choices(self) -> list[tuple[str, str]]:
        allowed = OPERATORS_BY_TYPE.get(self.fact_type, frozenset(OPERATORS))
        return [(op, OPERATOR_LABELS[op]) for op in OPERATORS if op in allowed]

    @property
    def widget(self) -> str:
        """select, checkboxes, number, numbers (a list of whole numbers) or bool."""
        kind, many = self.fact_type, self.op in LIST_OPERATORS
        if kind == CHOICE:
            return "checkboxes" if many else "select"
        if kind == BOOL:
            return "bool"
        if kind:
            return "numbers" if many else "number"
        return "none"

    @property
    def value_choices(self) -> list[tuple[str, str, bool]]:
        if self.fact_type != CHOICE:
            return []
        chosen = self.value if isinstance(self.value, list) else [self.value]
        return [(v, words(v), v in chosen) for v in FACTS[self.fact].values]

    @property
    def value_text(self) -> str:
        if isinstance(self.value, bool) or self.value is None:
            return ""
        if isinstance(self.value, list):
            return ", ".join(str(v) for v in self.value)
        return str(self.value)

    @property
    def bool_value(self) -> str:
        return (
            {True: "true", False: "false"}.get(self.value, "")
            if isinstance(self.value, bool)
            else ""
        )


@dataclass
class Group:
    path: str
    kind: str  # all | any
    negate: bool
    children: list[Any]
    depth: int
    notes: Notes = field(default_factory=Notes)
    is_leaf: bool = False

    @property
    def dom_id(self) -> str:
        return "group-" + _dom(self.path) if self.path else ""


@dataclass
class RuleRow:
    index: int
    path: str
    data: Mapping
    when: Group
    notes: Notes = field(default_factory=Notes)

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def dom_id(self) -> str:
        return f"rule-{self.number}" if self.path else ""

    def get(self, key: str, default: Any = "") -> Any:
        value = self.data.get(key, default)
        return default if value is None else value

    @property
    def rule_id(self) -> str:
        value = self.data.get("id")
        return value if isinstance(value, str) else ""

    @property
    def name(self) -> str:
        return str(self.get("name"))

    @property
    def route(self) -> str:
        return str(self.get("route"))

    @property
    def also_notify(self) -> list[str]:
        notify = self.data.get("also_notify")
        return notify if isinstance(notify, list) else []

    @property
    def enabled(self) -> bool:
        return self.data.get("enabled", True) is not False

    @property
    def rationale(self) -> str:
        return str(self.get("rationale"))

    @property
    def source(self) -> str:
        return str(self.get("source"))

    @property
    def all_notes(self) -> Notes:
        """This rule's notes and those of every condition in it (for the rule's heading)."""
        total = Notes(list(self.notes.errors), list(self.notes.warnings))
        stack: list[Any] = [self.when]
        while stack:
            node = stack.pop()
            total.errors += node.notes.errors
            total.warnings += node.notes.warnings
            if not node.is_leaf:
                stack.extend(node.children)
        return total


def _dom(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def _walk(group: Group):
    yield group
    for child in group.children:
        if child.is_leaf:
            yield child
        else:
            yield from _walk(child)


def blank_leaf() -> Leaf:
    return Leaf(path="", fact="", op="", value=None)


def blank_group() -> Group:
    return Group(path="", kind="all", negate=False, children=[blank_leaf()], depth=1)


def blank_rule() -> RuleRow:
    when = Group(path="", kind="all", negate=False, children=[blank_leaf()], depth=0)
    return RuleRow(index=-1, path="", data={"enabled": True, "also_notify": []}, when=when)


def _leaf(node: Mapping, path: str) -> Leaf:
    fact, op = node.get("fact"), node.get("op")
    return Leaf(
        path=path,
        fact=fact if isinstance(fact, str) else "",
        op=op if isinstance(op, str) else "",
        value=node.get("value"),
    )


def _group(node: Any, path: str, depth: int) -> Group:
    """Every rule's condition is shown as a group; a lone leaf becomes a group of one."""
    negate = False
    inner_path = path
    if isinstance(node, Mapping) and set(node) == {"not"}:
        negate, node, inner_path = True, node["not"], f"{path}.not"
    if isinstance(node, Mapping):
        for kind in ("all", "any"):
            if set(node) == {kind} and isinstance(node[kind], list):
                children = [
                    _node(child, f"{inner_path}.{kind}[{j}]", depth + 1)
                    for j, child in enumerate(node[kind])
                ]
                return Group(inner_path, kind, negate, children, depth)
    # A lone leaf (or something unreadable, shown as an empty condition row).
    leaf = _leaf(node if isinstance(node, Mapping) else {}, inner_path)
    return Group(path, "all", negate, [leaf], depth)


def _node(node: Any, path: str, depth: int) -> Any:
    if isinstance(node, Mapping) and (set(node) & {"all", "any", "not"}):
        return _group(node, path, depth)
    return _leaf(node if isinstance(node, Mapping) else {}, path)


VALUE_PATH = re.compile(r"\.value(\[\d+\])?$")


def _value_prompt(leaf: Any) -> str | None:
    value = leaf.get("value") if isinstance(leaf, Mapping) else None
    if value is None or value == "":
        return "Choose a value for this condition."
    if value == []:
        return "Tick at least one value for this condition."
    return None


def _prompt(path: str, message: str, spec: Any) -> str | None:
    """A condition or rule left blank in the editor: ask for the missing choice."""
    node = _at(spec, path.rsplit(".", 1)[0]) if "." in path else None
    if path.endswith(".fact") and isinstance(node, Mapping) and not node.get("fact"):
        return "Choose what this condition tests."
    if path.endswith(".op") and isinstance(node, Mapping) and not node.get("op"):
        return "Choose how to compare (is, is one of, ...)."
    if VALUE_PATH.search(path):
        return _value_prompt(_at(spec, VALUE_PATH.sub("", path)))
    if path.endswith(".route") and (
        "missing" in message or (isinstance(node, Mapping) and not node.get("route"))
    ):
        return "Choose who responds when this rule matches."
    return None


def friendly(problem: engine.Problem, spec: Any) -> str:
    """The engine's message, said for someone at the editor where it is too technical."""
    message = problem.message
    prompt = _prompt(problem.path, message, spec)
    if prompt is not None:
        return prompt
    # Say registry names the way the page shows them: 'minimum_age' -> "Minimum age".
    for name, info in GUARDRAILS.items():
        message = message.replace(repr(name), f"the {info['label'].lower()}")
    for name, fact in FACTS.items():
        message = message.replace(repr(name), f"“{fact.label}”")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _at(spec: Any, path: str) -> Any:
    """The part of a spec a path names, or None."""
    node = spec
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        try:
            node = node[int(part[1:-1])] if part.startswith("[") else node[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return node


@dataclass
class EditorPage:
    spec: Any
    rules: list[RuleRow]
    default_route: str
    guardrails: list[dict]
    default_notes: Notes
    general: Notes
    result: engine.ValidationResult

    def summary(self, kind: str = "errors") -> list[tuple[str, str]]:
        """(anchor id, message) for the list at the top of the editor."""
        items: list[tuple[str, str]] = []
        for rule in self.rules:
            title = f"Rule {rule.number} ({rule.name or 'no name yet'})"
            items += [(rule.dom_id, f"{title}: {m}") for m in getattr(rule.notes, kind)]
            for node in _walk(rule.when):
                what = "condition" if node.is_leaf else "condition group"
                items += [(node.dom_id, f"{title}, {what}: {m}") for m in getattr(node.notes, kind)]
        items += [
            ("default-route", f"Default route: {m}") for m in getattr(self.default_notes, kind)
        ]
        for guardrail in self.guardrails:
            items += [
                (f"guardrail-{guardrail['name']}", f"{guardrail['label']}: {m}")
                for m in getattr(guardrail["notes"], kind)
            ]
        items += [("rules-title", m) for m in getattr(self.general, kind)]
        return items

    @property
    def error_summary(self) -> list[tuple[str, str]]:
        return self.summary("errors")

    @property
    def warning_summary(self) -> list[tuple[str, str]]:
        return self.summary("warnings")

    @property
    def error_count(self) -> int:
        return len(self.result.errors)

    @property
    def warning_count(self) -> int:
        return len(self.result.warnings)


def editor_page(spec: Any) -> EditorPage:
    """The page model of a draft: rows to render, each with its own errors and warnings."""
    result = engine.validate_ruleset(spec)
    spec_map = spec if isinstance(spec, Mapping) else {}
    raw_rules = spec_map.get("rules") if isinstance(spec_map.get("rules"), list) else []
    rules = [
        RuleRow(
            index=i,
            path=f"rules[{i}]",
            data=rule if isinstance(rule, Mapping) else {},
            when=_group(
                rule.get("when") if isinstance(rule, Mapping) else None, f"rules[{i}].when", 0
            ),
        )
        for i, rule in enumerate(raw_rules)
    ]
    guard_spec = (
        spec_map.get("guardrails") if isinstance(spec_map.get("guardrails"), Mapping) else {}
    )
    anchors: dict[str, Notes] = {}
    guardrails = _guardrail_rows(guard_spec, anchors)
    default_notes, general = Notes(), Notes()
    anchors["default_route"] = default_notes
    for rule in rules:
        _anchor_rule(rule, anchors)
    for problems, kind in ((result.errors, "errors"), (result.warnings, "warnings")):
        for problem in problems:
            notes = _anchor(anchors, problem.path) or general
            getattr(notes, kind).append(friendly(problem, spec))
    route = spec_map.get("default_route")
    return EditorPage(
        spec=spec,
        rules=rules,
        default_route=route if isinstance(route, str) else "",
        guardrails=guardrails,
        default_notes=default_notes,
        general=general,
        result=result,
    )


def _guardrail_rows(guard_spec: Mapping, anchors: dict[str, Notes]) -> list[dict]:
    rows = []
    for name, info in GUARDRAILS.items():
        config = guard_spec.get(name) if isinstance(guard_spec.get(name), Mapping) else {}
        notes = Notes()
        anchors[f"guardrails.{name}"] = notes
        reason = config.get("reason", "")
        rows.append(
            {
                "name": name,
                "label": info["label"],
                "description": info["description"],
                "can_disable": name != "life_safety_floor",
                "enabled": config.get("enabled", True) is not False,
                "reason": reason if isinstance(reason, str) else "",
                "age": config.get("age", ""),
                "notes": notes,
            }
        )
    return rows


def _anchor_rule(rule: RuleRow, anchors: dict[str, Notes]) -> None:
    anchors[rule.path] = rule.notes
    stack: list[Any] = [rule.when]
    while stack:
        node = stack.pop()
        anchors.setdefault(node.path, node.notes)
        if node.is_leaf:
            anchors[node.path] = node.notes  # a leaf wins over a group of one at its path
        else:
            stack.extend(node.children)


def _anchor(anchors: dict[str, Notes], path: str) -> Notes | None:
    """The deepest part of the page whose path is ``path`` or a prefix of it."""
    best, best_len = None, -1
    for anchor, notes in anchors.items():
        if (
            path == anchor or path.startswith(anchor + ".") or path.startswith(anchor + "[")
        ) and len(anchor) > best_len:
            best, best_len = notes, len(anchor)
    return best


def editor_data() -> dict[str, Any]:
    """What the editor's script needs to build rows: facts, operators, values, routes."""
    return {
        "facts": {
            name: {
                "type": fact.type,
                "label": fact.label,
                "values": [[v, words(v)] for v in fact.values],
                "operators": [op for op in OPERATORS if op in OPERATORS_BY_TYPE[fact.type]],
            }
            for name, fact in FACTS.items()
        },
        "operators": {op: OPERATOR_LABELS[op] for op in OPERATORS},
        "list_operators": sorted(LIST_OPERATORS),
    }


# The editor offers each route by who answers it ("Choose who responds").
ROUTE_OPTIONS = [(info.value, info.responders) for info in ROUTE_INFO.values()]
DEFAULT_ROUTE_OPTIONS = [
    (info.value, info.responders) for info in ROUTE_INFO.values() if info.may_be_default
]
