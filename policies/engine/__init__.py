"""The routing engine: validate, normalize, lint, compile and decide.

Pure functions: facts in, decision and explanation out. No Django, no ORM, no settings, no I/O,
so it can be tested with tables of cases and replayed over a million incidents. One module per
job: `validate` (errors), `normalize` (defaults filled), `lint` (warnings), `compile` (the
generated matcher, the guardrails and the `Decision`); `problems` holds what they share.
"""

from __future__ import annotations

from .compile import CompiledPolicy, Decision, compile_ruleset
from .normalize import normalize_ruleset
from .problems import Problem, RulesetError, ValidationResult
from .validate import validate_ruleset

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
