"""The rule preview: what a rule-set version decides for one incident's facts, and why.

One selector for the editor's preview page and the preview API. It receives plain facts (the
caller turns a sample incident into them), so policies never reads incidents; nothing is saved.
The caller has already scoped the version to the person (``selectors.ruleset_get``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .diff import route_words, value_words
from .engine import Decision, Problem, RulesetError
from .models import RuleSet
from .registry import FACTS, GUARDRAILS
from .selectors import compiled_policy, ruleset_published


@dataclass(frozen=True)
class RulePreview:
    """One version's decision for the facts, or the errors that keep it from deciding."""

    ruleset: RuleSet | None
    decision: Decision | None
    errors: tuple[Problem, ...] = ()

    @property
    def problem(self) -> str:
        """Why there is no decision, said for a person at the editor; empty when there is one."""
        if self.ruleset is None:
            return "No version is published."
        if not self.errors:
            return ""
        count = len(self.errors)
        return (
            f"Version {self.ruleset.version} has {count} error{'' if count == 1 else 's'}: "
            "fix them in the editor to preview it."
        )


@dataclass(frozen=True)
class RulePreviewComparison:
    published: RulePreview
    version: RulePreview

    @property
    def differs(self) -> bool:
        """Both decided, and they send the incident to different routes or notify others."""
        a, b = self.published.decision, self.version.decision
        if a is None or b is None:
            return False
        return (a.route, a.also_notify) != (b.route, b.also_notify)


def ruleset_preview(*, ruleset: RuleSet, facts: Mapping[str, Any]) -> RulePreview:
    """What ``ruleset`` decides for ``facts``; a draft with errors decides nothing."""
    try:
        policy = compiled_policy(ruleset)
    except RulesetError as exc:
        return RulePreview(ruleset=ruleset, decision=None, errors=tuple(exc.errors))
    return RulePreview(ruleset=ruleset, decision=policy.decide(facts))


def ruleset_preview_against_published(
    *, ruleset: RuleSet, facts: Mapping[str, Any]
) -> RulePreviewComparison:
    """What the district's published version and ``ruleset`` each decide for ``facts``."""
    published = ruleset_published(ruleset.district_id)
    return RulePreviewComparison(
        published=(
            ruleset_preview(ruleset=published, facts=facts)
            if published is not None
            else RulePreview(ruleset=None, decision=None)
        ),
        version=ruleset_preview(ruleset=ruleset, facts=facts),
    )


def decision_in_words(decision: Decision) -> dict[str, Any]:
    """A decision as the preview page shows it: routes, facts and guardrails in plain words."""
    return {
        "route": decision.route,
        "route_words": route_words(decision.route),
        "also_notify": [route_words(r) for r in decision.also_notify],
        "rule_name": decision.rule_name,
        "rule_route": route_words(decision.rule_route),
        "rationale": decision.rationale,
        "reasons": [
            {
                "fact": FACTS[r["fact"]].label if r["fact"] in FACTS else r["fact"],
                "value": value_words(r["value"]),
            }
            for r in decision.reasons
        ],
        "tried": [t["name"] for t in decision.tried],
        "guardrails": [
            {
                "label": GUARDRAILS.get(g["guardrail"], {}).get("label", g["guardrail"]),
                "from": route_words(g["from"]),
                "to": route_words(g["to"]),
                "explanation": g["explanation"],
            }
            for g in decision.guardrails
        ],
    }
