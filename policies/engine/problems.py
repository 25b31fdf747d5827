"""The shape of a rule set, and the problems found in one: what validate, normalize and lint
share. Pure."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


def jsonish(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def kind_of(value: Any) -> str:
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


def did_you_mean(word: Any, options: Any) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
