"""The one rule preview selector (policies/preview.py), behind the preview page and API."""

import pytest

from policies import services
from policies.models import RuleSet
from policies.preview import decision_in_words, ruleset_preview, ruleset_preview_against_published
from schools.models import Role
from tests.factories import user_with_role

FACTS = {"category": "disruption", "danger_now": "none", "weapon": "none"}
TO_COUNSELOR = {
    "id": "all-to-counselor",
    "name": "Everything to the counselor",
    "route": "counselor",
    "when": {"fact": "category", "op": "eq", "value": "disruption"},
}


@pytest.fixture
def admin(school):
    services.ruleset_ensure_default(district=school.district)
    return user_with_role(Role.DISTRICT_ADMIN, school, username="dana")


@pytest.fixture
def draft(admin):
    return services.ruleset_create_draft(user=admin)


def draft_with(admin, draft: RuleSet, *rules: dict) -> RuleSet:
    spec = draft.spec()
    spec["rules"] = [*rules, *spec["rules"]]
    ruleset, _ = services.ruleset_save_draft(user=admin, version=draft.version, spec=spec)
    return ruleset


def test_an_unchanged_draft_decides_as_the_published_version(draft):
    comparison = ruleset_preview_against_published(ruleset=draft, facts=FACTS)
    assert comparison.published.ruleset.version == 1
    assert comparison.version.ruleset == draft
    assert comparison.published.decision == comparison.version.decision
    assert comparison.version.decision.route == "administrator"
    assert comparison.differs is False
    assert (comparison.published.problem, comparison.version.problem) == ("", "")


def test_a_draft_that_routes_elsewhere_differs(admin, draft):
    changed = draft_with(admin, draft, TO_COUNSELOR)
    comparison = ruleset_preview_against_published(ruleset=changed, facts=FACTS)
    assert comparison.version.decision.route == "counselor"
    assert comparison.published.decision.route == "administrator"
    assert comparison.differs is True


def test_a_draft_with_errors_decides_nothing_and_says_why(admin, draft):
    broken = draft_with(admin, draft, {**TO_COUNSELOR, "route": "nurse"})
    preview = ruleset_preview(ruleset=broken, facts=FACTS)
    assert preview.decision is None
    assert [str(e) for e in preview.errors] == [
        "rules[0].route: unknown route 'nurse'; routes: counselor, administrator, co_responder, sro"
    ]
    assert preview.problem == (
        f"Version {broken.version} has 1 error: fix them in the editor to preview it."
    )
    comparison = ruleset_preview_against_published(ruleset=broken, facts=FACTS)
    assert comparison.differs is False


def test_with_no_published_version_the_published_side_says_so(draft):
    RuleSet.objects.filter(version=1).update(status="archived")
    comparison = ruleset_preview_against_published(ruleset=draft, facts=FACTS)
    assert comparison.published.ruleset is None
    assert comparison.published.problem == "No version is published."
    assert comparison.differs is False


def test_a_decision_in_words_names_routes_facts_and_guardrails_for_people(draft):
    facts = {**FACTS, "category": "weapon", "weapon": "firearm"}
    words = decision_in_words(ruleset_preview(ruleset=draft, facts=facts).decision)
    assert words["route"] == "sro"
    assert words["route_words"] == "SRO"
    assert words["also_notify"] == ["administrator"]
    assert {"fact": "Weapon", "value": "firearm"} in words["reasons"]
