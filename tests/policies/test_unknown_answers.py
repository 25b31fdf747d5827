"""`unknown` ("not sure", not answered) in the default policy and the guardrails (issue 12).

Every category is crossed with every combination of unanswered safety questions. Only one
kind of combination changes a route: a weapon report whose kind is unknown, which counts as
a weapon possessed. Outside it, an unanswered question never by itself sends a student to the
SRO or the co-responder team.
"""

import itertools

import pytest

from policies.defaults import DEFAULT_POLICY
from policies.diff import describe_condition
from policies.editor import editor_data
from policies.engine import compile_ruleset
from policies.registry import FACTS, SAFETY_ANSWERS, value_label, weapon_reported
from tests.policies.test_engine import BASE, facts, leaf, rule, ruleset

EVERY_CATEGORY = list(FACTS["category"].values)
SRO_OR_CO = {"sro", "co_responder"}
# Every subset of the safety questions left unanswered (64 of them).
UNANSWERED_SETS = [
    subset
    for size in range(len(SAFETY_ANSWERS) + 1)
    for subset in itertools.combinations(SAFETY_ANSWERS, size)
]


@pytest.fixture(scope="module")
def default():
    return compile_ruleset(DEFAULT_POLICY)


def unanswered(category, questions, **more):
    return facts(category=category, **dict.fromkeys(questions, "unknown"), **more)


def test_every_safety_question_has_unknown_as_a_value():
    for name in SAFETY_ANSWERS:
        assert FACTS[name].values[-1] == "unknown", name
    assert value_label("unknown") == "not answered (not sure)"
    assert value_label("object_used_as_weapon") == "object used as weapon"


def test_only_a_weapon_report_with_its_kind_unknown_changes_a_route(default):
    """Category x unanswered questions: the route is what it is with every answer given,
    except a weapon report whose kind is unknown, which goes to the SRO."""
    changed = []
    for category in EVERY_CATEGORY:
        answered = default.decide(facts(category=category))
        for questions in UNANSWERED_SETS:
            decision = default.decide(unanswered(category, questions))
            if decision.route != answered.route:
                changed.append((category, questions, answered.route, decision.route))
    weapon_unknown = [q for q in UNANSWERED_SETS if "weapon" in q]
    assert changed == [("weapon", q, "administrator", "sro") for q in weapon_unknown]


@pytest.mark.parametrize("questions", [q for q in UNANSWERED_SETS if "weapon" in q], ids="+".join)
def test_weapon_report_with_unknown_kind_goes_to_the_sro_with_its_reason(default, questions):
    decision = default.decide(unanswered("weapon", questions))

    assert (decision.route, decision.rule_id) == ("sro", "life-safety")
    assert decision.also_notify == ("administrator",)
    threat = "unknown" if "threat" in questions else "none"
    assert list(decision.reasons) == [
        {"fact": "weapon", "value": "unknown"},
        {"fact": "category", "value": "weapon"},
        {"fact": "threat", "value": threat},
    ]
    assert "kind was not answered counts as a weapon possessed" in decision.rationale
    assert decision.guardrails == ()


@pytest.mark.parametrize("category", [c for c in EVERY_CATEGORY if c != "weapon"])
def test_outside_a_weapon_report_no_unanswered_question_sends_to_sro_or_co(default, category):
    answered = default.decide(facts(category=category))
    for questions in UNANSWERED_SETS:
        decision = default.decide(unanswered(category, questions))
        if decision.route in SRO_OR_CO:
            # Only where the category goes there with every answer given (intruder, sexual
            # assault): never because of the unanswered questions.
            assert (answered.route, answered.rule_id) == (decision.route, decision.rule_id), (
                category,
                questions,
            )


# (id, facts, route, rule id, guardrails, the reason that decided it)
UNKNOWN_CASES = [
    (
        "weapon report, kind unknown, student with a BIP: no disability safeguard",
        unanswered("weapon", ["weapon"], any_bip=True, any_disability=True),
        "sro",
        "life-safety",
        [],
        {"fact": "weapon", "value": "unknown"},
    ),
    (
        "weapon report, kind unknown, 8-year-old: a weapon beats the minimum age",
        unanswered("weapon", ["weapon"], youngest_subject_age=8),
        "sro",
        "life-safety",
        [],
        {"fact": "weapon", "value": "unknown"},
    ),
    (
        "weapon report, every answer omitted (an API caller sent category and narrative)",
        unanswered("weapon", SAFETY_ANSWERS),
        "sro",
        "life-safety",
        [],
        {"fact": "weapon", "value": "unknown"},
    ),
    (
        "weapon report with 'no weapon' answered stays with the administrator",
        facts(category="weapon", weapon="none"),
        "administrator",
        None,
        [],
        None,
    ),
    (
        "intruder with the weapon unknown: life safety by category",
        unanswered("intruder", ["weapon"]),
        "sro",
        "life-safety",
        [],
        {"fact": "category", "value": "intruder"},
    ),
    (
        "threat with target unknown: assessed by the administrator and counselor",
        unanswered("threat", ["threat"]),
        "administrator",
        "transient-threat",
        [],
        {"fact": "threat", "value": "unknown"},
    ),
    (
        "fight with weapon and injury unknown: school discipline, named as unanswered",
        unanswered("physical_aggression", ["weapon", "injury"]),
        "administrator",
        "school-discipline-unanswered",
        [],
        {"fact": "weapon", "value": "unknown"},
    ),
    (
        "vaping with everything unknown",
        unanswered("substance_use", SAFETY_ANSWERS),
        "administrator",
        "school-discipline-unanswered",
        [],
        {"fact": "injury", "value": "unknown"},
    ),
    (
        "self-harm with danger and state unknown: a counselor, never the SRO",
        unanswered("self_harm", ["danger_now", "student_state", "with_now"]),
        "counselor",
        "emotional-crisis-or-disclosure",
        [],
        {"fact": "category", "value": "self_harm"},
    ),
    (
        "a student with an IEP whose state is unknown is not 'dysregulated'",
        unanswered("other", ["student_state"], any_iep=True, any_disability=True),
        "administrator",
        None,
        [],
        None,
    ),
    (
        "a non-weapon category with the weapon unknown does not reach the floor",
        unanswered("other", ["weapon", "danger_now"]),
        "administrator",
        None,
        [],
        None,
    ),
]


@pytest.mark.parametrize(
    ("case_facts", "route", "rule_id", "guardrails", "reason"),
    [case[1:] for case in UNKNOWN_CASES],
    ids=[case[0] for case in UNKNOWN_CASES],
)
def test_unknown_answers_in_the_default_policy(
    default, case_facts, route, rule_id, guardrails, reason
):
    decision = default.decide(case_facts)

    assert (decision.route, decision.rule_id, [g["guardrail"] for g in decision.guardrails]) == (
        route,
        rule_id,
        guardrails,
    )
    if reason is None:
        assert decision.reasons == ()
    else:
        assert reason in decision.reasons


def test_a_rule_listing_none_does_not_match_an_unanswered_weapon():
    policy = compile_ruleset(
        ruleset(
            rule(
                "no-weapon-to-counselor",
                "counselor",
                leaf("weapon", "in", ["none", "object_used_as_weapon"]),
            )
        )
    )

    assert policy.decide(facts(weapon="none")).rule_id == "no-weapon-to-counselor"
    assert policy.decide(facts(weapon="unknown")).rule_id is None


def test_the_life_safety_floor_counts_a_weapon_report_of_unknown_kind():
    # A district policy that sends everything to the counselor: the floor still adds the SRO.
    policy = compile_ruleset(
        ruleset(rule("all-counselor", "counselor", leaf("category", "in", EVERY_CATEGORY)))
    )

    decision = policy.decide(facts(category="weapon", weapon="unknown", any_iep=True))

    assert decision.route == "sro"
    assert decision.guardrails == (
        {
            "guardrail": "life_safety_floor",
            "from": "counselor",
            "to": "sro",
            "explanation": "A weapon was reported and its kind was not answered (counted as a "
            "weapon possessed): the SRO always responds when life is at risk (this floor "
            "cannot be turned off).",
        },
    )
    # The same unanswered weapon in a fight report is not a weapon for the floor.
    assert policy.decide(facts(category="physical_aggression", weapon="unknown")).route == (
        "counselor"
    )


def test_weapon_reported_matches_the_engine():
    assert weapon_reported("weapon", "unknown") is True
    assert weapon_reported("weapon", "none") is False
    assert weapon_reported("physical_aggression", "unknown") is False
    assert weapon_reported("other", "firearm") is True


def test_base_answers_every_safety_question():
    # The table above compares against BASE: it must answer every question.
    assert all(BASE[name] != "unknown" for name in SAFETY_ANSWERS)


def test_the_rule_editor_offers_unknown_in_words():
    values = editor_data()["facts"]["weapon"]["values"]
    assert values[-1] == ["unknown", "Not answered (not sure)"]
    for name in SAFETY_ANSWERS:
        assert ["unknown", "Not answered (not sure)"] in editor_data()["facts"][name]["values"]
    assert describe_condition(leaf("weapon", "in", ["none", "unknown"])) == (
        "Weapon is one of none, not answered (not sure)"
    )
