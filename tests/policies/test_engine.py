"""The engine, tested with tables of facts -> expected route, rule and guardrails. No database."""

import copy
import json
import random

import pytest

from policies.defaults import DEFAULT_POLICY, default_policy
from policies.engine import CompiledPolicy, Decision, RulesetError, compile_ruleset
from policies.registry import FACTS, OPERATORS_BY_TYPE, ROUTES, registry_as_data

# A calm middle-school incident that no default rule catches: every case below changes only
# the facts it is about.
BASE = {
    "category": "other",
    "location": "classroom",
    "weapon": "none",
    "injury": "none",
    "threat": "none",
    "danger_now": "none",
    "student_state": "calm",
    "with_now": "teacher",
    "any_iep": False,
    "any_504": False,
    "any_bip": False,
    "any_disability": False,
    "youngest_subject_age": 13,
    "school_grade_low": 6,
    "school_grade_high": 8,
    "subject_prior_incidents": 0,
    "hour_of_day": 10,
    "within_school_hours": True,
    "student_count": 1,
}

DEFAULT_IDS = [rule["id"] for rule in DEFAULT_POLICY["rules"]]
EVERY_CATEGORY = list(FACTS["category"].values)


def facts(**changes):
    return {**BASE, **changes}


def ruleset(*rules, default_route="administrator", **guardrails):
    spec = {"rules": list(rules), "default_route": default_route}
    if guardrails:
        spec["guardrails"] = guardrails
    return spec


def rule(rule_id, route, when, **extra):
    return {
        "id": rule_id,
        "name": rule_id.replace("-", " ").capitalize(),
        "route": route,
        "when": when,
        **extra,
    }


def leaf(fact, op, value):
    return {"fact": fact, "op": op, "value": value}


EVERYTHING = leaf("category", "in", EVERY_CATEGORY)
ALL_TO_SRO = rule("everything-to-sro", "sro", EVERYTHING)
ALL_TO_COUNSELOR = rule("everything-to-counselor", "counselor", EVERYTHING)

DOUGLAS_COUNTY = facts(
    category="physical_aggression",
    weapon="object_used_as_weapon",  # a pencil
    injury="none",
    danger_now="none",
    student_state="calming_down",
    with_now="school_psychologist",
    any_iep=True,
    any_bip=True,
    any_disability=True,
    youngest_subject_age=11,
    school_grade_low=0,
    school_grade_high=5,
)


@pytest.fixture(scope="module")
def default():
    return compile_ruleset(DEFAULT_POLICY)


def guardrail_names(decision):
    return [g["guardrail"] for g in decision.guardrails]


# --------------------------------------------------------------------------- default policy

DEFAULT_CASES = [
    # (id, fact changes, route, rule id, guardrails applied)
    ("firearm", {"weapon": "firearm"}, "sro", "life-safety", []),
    ("weapon possessed", {"weapon": "weapon_possessed"}, "sro", "life-safety", []),
    ("threat to kill", {"threat": "to_kill_or_seriously_injure"}, "sro", "life-safety", []),
    ("intruder", {"category": "intruder"}, "sro", "life-safety", []),
    (
        "firearm, student with IEP: no safeguard",
        {"weapon": "firearm", "any_iep": True, "any_disability": True},
        "sro",
        "life-safety",
        [],
    ),
    (
        "threat to kill in words, student with BIP",
        {"threat": "to_kill_or_seriously_injure", "any_bip": True, "any_disability": True},
        "co_responder",
        "life-safety",
        ["disability_safeguard"],
    ),
    (
        "threat to kill in words, 8-year-old",
        {"threat": "to_kill_or_seriously_injure", "youngest_subject_age": 8},
        "counselor",
        "life-safety",
        ["minimum_age"],
    ),
    (
        "others in danger, dysregulated",
        {"danger_now": "to_others", "student_state": "dysregulated"},
        "co_responder",
        "danger-with-mental-health",
        [],
    ),
    (
        "others in danger, 504 plan",
        {"danger_now": "to_others", "any_504": True, "any_disability": True},
        "co_responder",
        "danger-with-mental-health",
        [],
    ),
    ("others in danger", {"danger_now": "to_others"}, "sro", "danger-to-others", []),
    (
        "others in danger, 8-year-old: life safety beats minimum age",
        {"danger_now": "to_others", "youngest_subject_age": 8},
        "sro",
        "danger-to-others",
        [],
    ),
    (
        "serious injury",
        {"injury": "serious"},
        "co_responder",
        "serious-injury-or-sexual-assault",
        [],
    ),
    (
        "sexual misconduct",
        {"category": "sexual_misconduct"},
        "co_responder",
        "serious-injury-or-sexual-assault",
        [],
    ),
    (
        "serious injury, 9-year-old",
        {"injury": "serious", "youngest_subject_age": 9},
        "counselor",
        "serious-injury-or-sexual-assault",
        ["minimum_age"],
    ),
    ("student in danger", {"danger_now": "to_self"}, "co_responder", "danger-to-self", []),
    (
        "student in danger, calming down with counselor",
        {"danger_now": "to_self", "student_state": "calming_down", "with_now": "counselor"},
        "counselor",
        "danger-to-self",
        ["clinician_safeguard"],
    ),
    (
        "calming down with social worker",
        {"student_state": "calming_down", "with_now": "social_worker"},
        "counselor",
        "calming-with-clinician",
        [],
    ),
    (
        "calming down with a teacher is not rule 6",
        {"student_state": "calming_down", "with_now": "teacher"},
        "administrator",
        None,
        [],
    ),
    (
        "IEP and dysregulated",
        {"any_iep": True, "any_disability": True, "student_state": "dysregulated"},
        "counselor",
        "disability-dysregulated",
        [],
    ),
    ("self harm", {"category": "self_harm"}, "counselor", "emotional-crisis-or-disclosure", []),
    (
        "emotional crisis",
        {"category": "emotional_crisis"},
        "counselor",
        "emotional-crisis-or-disclosure",
        [],
    ),
    (
        "abuse disclosure",
        {"category": "abuse_disclosure"},
        "counselor",
        "emotional-crisis-or-disclosure",
        [],
    ),
    ("suicidal talk", {"threat": "to_self"}, "counselor", "emotional-crisis-or-disclosure", []),
    ("threat to others", {"threat": "to_others"}, "administrator", "transient-threat", []),
    ("threat category", {"category": "threat"}, "administrator", "transient-threat", []),
    (
        "drug distribution",
        {"category": "drug_distribution"},
        "administrator",
        "drug-distribution",
        [],
    ),
    (
        "fight with first aid and a pencil",
        {
            "category": "physical_aggression",
            "injury": "first_aid",
            "weapon": "object_used_as_weapon",
        },
        "administrator",
        "school-discipline",
        [],
    ),
    ("vaping", {"category": "substance_use"}, "administrator", "school-discipline", []),
    ("theft", {"category": "theft"}, "administrator", "school-discipline", []),
    (
        "fight needing medical attention falls to the default",
        {"category": "physical_aggression", "injury": "medical_attention"},
        "administrator",
        None,
        [],
    ),
    (
        "fight with the weapon question not answered",
        {"category": "physical_aggression", "weapon": "unknown"},
        "administrator",
        "school-discipline-unanswered",
        [],
    ),
    (
        "weapon report with its kind not answered",
        {"category": "weapon", "weapon": "unknown"},
        "sro",
        "life-safety",
        [],
    ),
    ("nothing matched", {"category": "medical"}, "administrator", None, []),
]


@pytest.mark.parametrize(
    ("changes", "route", "rule_id", "guardrails"),
    [case[1:] for case in DEFAULT_CASES],
    ids=[case[0] for case in DEFAULT_CASES],
)
def test_default_policy_routes(default, changes, route, rule_id, guardrails):
    decision = default.decide(facts(**changes))

    assert (decision.route, decision.rule_id, guardrail_names(decision)) == (
        route,
        rule_id,
        guardrails,
    )


def test_default_policy_covers_every_rule(default):
    matched = {default.decide(facts(**case[1])).rule_id for case in DEFAULT_CASES}

    assert matched == {*DEFAULT_IDS, None}


def test_default_policy_has_twelve_rules_and_a_safe_default():
    assert len(DEFAULT_POLICY["rules"]) == 12
    assert DEFAULT_POLICY["default_route"] == "administrator"
    assert all(r["rationale"] and r["source"] for r in DEFAULT_POLICY["rules"])


def test_default_policy_copy_is_independent():
    copied = default_policy()
    copied["rules"].clear()

    assert len(DEFAULT_POLICY["rules"]) == 12


# --------------------------------------------------------------------------- Douglas County


def test_douglas_county_goes_to_the_psychologist_on_scene(default):
    decision = default.decide(DOUGLAS_COUNTY)

    assert decision.as_dict() == {
        "route": "counselor",
        "also_notify": [],
        "rule_route": "counselor",
        "rule_id": "calming-with-clinician",
        "rule_name": "Already calming down with a clinician",
        "rationale": "The student is already calming down with a counselor, psychologist or "
        "social worker: the clinician on scene continues. It needs both answers: an "
        "unanswered state or 'who is with them' does not match.",
        "reasons": [
            {"fact": "student_state", "value": "calming_down"},
            {"fact": "with_now", "value": "school_psychologist"},
        ],
        "tried": [
            {"id": "life-safety", "name": "Firearm, weapon, threat to kill or intruder"},
            {
                "id": "danger-with-mental-health",
                "name": "Others in danger, student dysregulated or with a disability plan",
            },
            {"id": "danger-to-others", "name": "Others in danger right now"},
            {"id": "serious-injury-or-sexual-assault", "name": "Serious injury or sexual assault"},
            {"id": "danger-to-self", "name": "Student in danger right now"},
        ],
        "guardrails": [],
    }


def test_douglas_county_is_never_sro_whatever_the_minimum_age(default):
    for age in range(0, 22):
        spec = copy.deepcopy(DEFAULT_POLICY)
        spec["guardrails"]["minimum_age"]["age"] = age

        assert compile_ruleset(spec).decide(DOUGLAS_COUNTY).route == "counselor"


DOUGLAS_ALL_TO_SRO = [
    # (guardrail overrides, route, guardrails applied)
    ({}, "counselor", ["disability_safeguard", "clinician_safeguard"]),
    (
        {"clinician_safeguard": {"enabled": False, "reason": "pilot"}},
        "co_responder",
        ["disability_safeguard"],
    ),
    (
        {
            "clinician_safeguard": {"enabled": False, "reason": "pilot"},
            "minimum_age": {"enabled": True, "age": 12},
        },
        "counselor",
        ["disability_safeguard", "minimum_age"],
    ),
    (
        {"disability_safeguard": {"enabled": False, "reason": "pilot"}},
        "counselor",
        ["clinician_safeguard"],
    ),
]


@pytest.mark.parametrize(("overrides", "route", "applied"), DOUGLAS_ALL_TO_SRO)
def test_douglas_county_under_a_rule_set_that_sends_everything_to_sro(overrides, route, applied):
    policy = compile_ruleset(ruleset(ALL_TO_SRO, **overrides))

    decision = policy.decide(DOUGLAS_COUNTY)

    assert (decision.rule_route, decision.route, guardrail_names(decision)) == (
        "sro",
        route,
        applied,
    )


def test_douglas_county_guardrail_explanations_are_plain_words():
    decision = compile_ruleset(ruleset(ALL_TO_SRO)).decide(DOUGLAS_COUNTY)

    assert list(decision.guardrails) == [
        {
            "guardrail": "disability_safeguard",
            "from": "sro",
            "to": "co_responder",
            "explanation": "A student involved has an IEP, 504 plan or BIP and there was no "
            "weapon: the SRO is joined by a clinician who leads.",
        },
        {
            "guardrail": "clinician_safeguard",
            "from": "co_responder",
            "to": "counselor",
            "explanation": "The student is already calming down with the school psychologist "
            "and there is no life-safety fact: the clinician on scene continues, with no SRO "
            "or co-responder.",
        },
    ]
    assert decision.also_notify == ()


# --------------------------------------------------------------------------- guardrails

GUARDRAIL_CASES = [
    # (id, rules, guardrail overrides, fact changes, route, guardrails applied)
    (
        "disability safeguard on",
        [ALL_TO_SRO],
        {},
        {"any_504": True, "any_disability": True},
        "co_responder",
        ["disability_safeguard"],
    ),
    (
        "disability safeguard off",
        [ALL_TO_SRO],
        {"disability_safeguard": {"enabled": False, "reason": "MOU under review"}},
        {"any_504": True, "any_disability": True},
        "sro",
        [],
    ),
    (
        "disability safeguard ignores a firearm case",
        [ALL_TO_SRO],
        {},
        {"any_504": True, "any_disability": True, "weapon": "firearm"},
        "sro",
        [],
    ),
    (
        "disability safeguard: a pencil is not a weapon",
        [ALL_TO_SRO],
        {},
        {"any_504": True, "any_disability": True, "weapon": "object_used_as_weapon"},
        "co_responder",
        ["disability_safeguard"],
    ),
    (
        "disability safeguard leaves co_responder alone",
        [rule("co", "co_responder", EVERYTHING)],
        {},
        {"any_504": True, "any_disability": True},
        "co_responder",
        [],
    ),
    (
        "disability safeguard with others in danger: co_responder satisfies the floor",
        [ALL_TO_SRO],
        {},
        {"any_iep": True, "any_disability": True, "danger_now": "to_others"},
        "co_responder",
        ["disability_safeguard"],
    ),
    (
        "clinician safeguard on",
        [ALL_TO_SRO],
        {},
        {"student_state": "calming_down", "with_now": "counselor"},
        "counselor",
        ["clinician_safeguard"],
    ),
    (
        "clinician safeguard off",
        [ALL_TO_SRO],
        {"clinician_safeguard": {"enabled": False, "reason": "board decision 2025-04"}},
        {"student_state": "calming_down", "with_now": "counselor"},
        "sro",
        [],
    ),
    (
        "clinician safeguard needs a clinician",
        [ALL_TO_SRO],
        {},
        {"student_state": "calming_down", "with_now": "nurse"},
        "sro",
        [],
    ),
    (
        "clinician safeguard yields to life safety",
        [ALL_TO_SRO],
        {},
        {"student_state": "calming_down", "with_now": "counselor", "weapon": "firearm"},
        "sro",
        [],
    ),
    (
        "minimum age on: 9 is under 10",
        [ALL_TO_SRO],
        {},
        {"youngest_subject_age": 9},
        "counselor",
        ["minimum_age"],
    ),
    ("minimum age: 10 is not under 10", [ALL_TO_SRO], {}, {"youngest_subject_age": 10}, "sro", []),
    (
        "minimum age configurable to 12",
        [ALL_TO_SRO],
        {"minimum_age": {"enabled": True, "age": 12}},
        {"youngest_subject_age": 11},
        "counselor",
        ["minimum_age"],
    ),
    (
        "minimum age off",
        [ALL_TO_SRO],
        {"minimum_age": {"enabled": False, "age": 10, "reason": "state law sets none"}},
        {"youngest_subject_age": 6},
        "sro",
        [],
    ),
    ("minimum age: unknown age", [ALL_TO_SRO], {}, {"youngest_subject_age": None}, "sro", []),
    (
        "minimum age applies to co_responder",
        [rule("co", "co_responder", EVERYTHING)],
        {},
        {"youngest_subject_age": 7},
        "counselor",
        ["minimum_age"],
    ),
    (
        "minimum age yields to a weapon",
        [ALL_TO_SRO],
        {},
        {"youngest_subject_age": 7, "weapon": "weapon_possessed"},
        "sro",
        [],
    ),
    (
        "minimum age: a threat in words alone is not life safety",
        [ALL_TO_SRO],
        {},
        {"youngest_subject_age": 7, "threat": "to_kill_or_seriously_injure"},
        "counselor",
        ["minimum_age"],
    ),
    (
        "disability then minimum age",
        [ALL_TO_SRO],
        {},
        {"any_bip": True, "any_disability": True, "youngest_subject_age": 8},
        "counselor",
        ["disability_safeguard", "minimum_age"],
    ),
    (
        "floor: firearm",
        [ALL_TO_COUNSELOR],
        {},
        {"weapon": "firearm"},
        "sro",
        ["life_safety_floor"],
    ),
    (
        "floor: others in danger",
        [ALL_TO_COUNSELOR],
        {},
        {"danger_now": "to_others"},
        "sro",
        ["life_safety_floor"],
    ),
    (
        "floor: a pencil is not a weapon",
        [ALL_TO_COUNSELOR],
        {},
        {"weapon": "object_used_as_weapon"},
        "counselor",
        [],
    ),
    (
        "floor: threat in words alone",
        [ALL_TO_COUNSELOR],
        {},
        {"threat": "to_kill_or_seriously_injure"},
        "counselor",
        [],
    ),
    (
        "floor keeps co_responder",
        [rule("co", "co_responder", EVERYTHING)],
        {},
        {"weapon": "firearm"},
        "co_responder",
        [],
    ),
    (
        "floor also applies to the default route",
        [],
        {},
        {"weapon": "weapon_possessed"},
        "sro",
        ["life_safety_floor"],
    ),
    (
        "floor after the clinician safeguard is satisfied: no double move",
        [ALL_TO_COUNSELOR],
        {},
        {"weapon": "firearm", "student_state": "calming_down", "with_now": "counselor"},
        "sro",
        ["life_safety_floor"],
    ),
]


@pytest.mark.parametrize(
    ("rules", "overrides", "changes", "route", "applied"),
    [case[1:] for case in GUARDRAIL_CASES],
    ids=[case[0] for case in GUARDRAIL_CASES],
)
def test_guardrails(rules, overrides, changes, route, applied):
    policy = compile_ruleset(ruleset(*rules, **overrides))

    decision = policy.decide(facts(**changes))

    assert (decision.route, guardrail_names(decision)) == (route, applied)


def test_guardrail_records_from_and_to_and_keeps_rule_route():
    policy = compile_ruleset(ruleset(ALL_TO_COUNSELOR))

    decision = policy.decide(facts(weapon="firearm", danger_now="to_others"))

    assert decision.rule_route == "counselor"
    assert list(decision.guardrails) == [
        {
            "guardrail": "life_safety_floor",
            "from": "counselor",
            "to": "sro",
            "explanation": "A firearm was involved and others are in danger right now: the SRO "
            "always responds when life is at risk (this floor cannot be turned off).",
        }
    ]


def test_minimum_age_explanation_names_the_age_and_the_limit():
    policy = compile_ruleset(ruleset(ALL_TO_SRO, minimum_age={"age": 12}))

    decision = policy.decide(facts(youngest_subject_age=11))

    assert decision.guardrails[0]["explanation"] == (
        "The youngest student involved is 11, under the minimum age of 12 for an SRO or "
        "co-responder, and there is no life-safety fact: a counselor responds."
    )


# --------------------------------------------------------------------------- rule order


def test_first_enabled_match_wins():
    first = rule("first", "counselor", leaf("category", "eq", "theft"))
    second = rule("second", "administrator", leaf("category", "in", ["theft", "vandalism"]))

    forward = compile_ruleset(ruleset(first, second)).decide(facts(category="theft"))
    backward = compile_ruleset(ruleset(second, first)).decide(facts(category="theft"))

    assert (forward.route, forward.rule_id) == ("counselor", "first")
    assert (backward.route, backward.rule_id) == ("administrator", "second")


def test_disabled_rules_are_skipped_and_not_tried():
    spec = ruleset(
        rule("off", "counselor", EVERYTHING, enabled=False),
        rule("theft", "administrator", leaf("category", "eq", "theft"), also_notify=["counselor"]),
    )

    decision = compile_ruleset(spec).decide(facts(category="theft"))

    assert (decision.rule_id, decision.route, list(decision.tried)) == (
        "theft",
        "administrator",
        [],
    )


def test_no_match_uses_the_default_route_and_lists_every_enabled_rule_tried():
    spec = ruleset(
        rule("theft", "administrator", leaf("category", "eq", "theft")),
        rule("off", "administrator", EVERYTHING, enabled=False),
        rule("vandalism", "administrator", leaf("category", "eq", "vandalism")),
        default_route="counselor",
    )

    decision = compile_ruleset(spec).decide(facts(category="other"))

    assert decision.as_dict() == {
        "route": "counselor",
        "also_notify": [],
        "rule_route": "counselor",
        "rule_id": None,
        "rule_name": None,
        "rationale": "",
        "reasons": [],
        "tried": [{"id": "theft", "name": "Theft"}, {"id": "vandalism", "name": "Vandalism"}],
        "guardrails": [],
    }


# --------------------------------------------------------------------------- also_notify

NOTIFY_CASES = [
    # (id, rule, fact changes, route, also_notify)
    (
        "sro always notifies the administrator",
        rule("sro", "sro", EVERYTHING),
        {},
        "sro",
        ("administrator",),
    ),
    (
        "sro keeps other notifications, no duplicates",
        rule("sro", "sro", EVERYTHING, also_notify=["counselor", "administrator"]),
        {},
        "sro",
        ("counselor", "administrator"),
    ),
    (
        "rule notification kept",
        rule("drugs", "administrator", EVERYTHING, also_notify=["sro"]),
        {},
        "administrator",
        ("sro",),
    ),
    (
        "floor to sro drops sro from the list and adds the administrator",
        rule("c", "counselor", EVERYTHING, also_notify=["sro", "administrator"]),
        {"weapon": "firearm"},
        "sro",
        ("administrator",),
    ),
    (
        "guardrail to counselor drops counselor from the list",
        rule("co", "co_responder", EVERYTHING, also_notify=["counselor", "administrator"]),
        {"youngest_subject_age": 7},
        "counselor",
        ("administrator",),
    ),
    (
        "sro moved to co_responder keeps the rule's administrator",
        rule("sro", "sro", EVERYTHING, also_notify=["administrator"]),
        {"any_iep": True, "any_disability": True},
        "co_responder",
        ("administrator",),
    ),
]


@pytest.mark.parametrize(
    ("the_rule", "changes", "route", "also_notify"),
    [case[1:] for case in NOTIFY_CASES],
    ids=[case[0] for case in NOTIFY_CASES],
)
def test_also_notify(the_rule, changes, route, also_notify):
    decision = compile_ruleset(ruleset(the_rule)).decide(facts(**changes))

    assert (decision.route, decision.also_notify) == (route, also_notify)


def test_default_route_lifted_by_the_floor_notifies_the_administrator():
    decision = compile_ruleset(ruleset()).decide(facts(danger_now="to_others"))

    assert (decision.route, decision.also_notify) == ("sro", ("administrator",))


@pytest.mark.parametrize("changes", [case[1] for case in DEFAULT_CASES])
def test_also_notify_never_holds_the_route_or_duplicates(default, changes):
    decision = default.decide(facts(**changes))

    assert decision.route not in decision.also_notify
    assert len(set(decision.also_notify)) == len(decision.also_notify)
    assert decision.route != "sro" or "administrator" in decision.also_notify


# --------------------------------------------------------------------------- explanation


def test_reasons_list_every_fact_the_rule_tests_in_order_once(default):
    decision = default.decide(facts(weapon="firearm"))

    assert list(decision.reasons) == [
        {"fact": "weapon", "value": "firearm"},
        {"fact": "category", "value": "other"},
        {"fact": "threat", "value": "none"},
    ]
    assert decision.rationale == DEFAULT_POLICY["rules"][0]["rationale"]
    assert decision.tried == ()


def test_reasons_have_no_duplicates_across_nested_groups():
    when = {
        "all": [
            leaf("youngest_subject_age", "ge", 5),
            {"not": leaf("category", "eq", "theft")},
            {"any": [leaf("youngest_subject_age", "le", 9), leaf("category", "eq", "other")]},
        ]
    }
    policy = compile_ruleset(ruleset(rule("r", "counselor", when)))

    decision = policy.decide(facts(youngest_subject_age=7))

    assert list(decision.reasons) == [
        {"fact": "youngest_subject_age", "value": 7},
        {"fact": "category", "value": "other"},
    ]


def test_tried_lists_enabled_rules_before_the_match(default):
    decision = default.decide(facts(category="drug_distribution"))

    assert [t["id"] for t in decision.tried] == DEFAULT_IDS[:9]


def test_decision_is_frozen_and_json_ready(default):
    decision = default.decide(facts(weapon="firearm", any_iep=True))

    with pytest.raises(AttributeError):
        decision.route = "counselor"
    assert isinstance(decision, Decision)
    assert json.loads(json.dumps(decision.as_dict())) == decision.as_dict()
    assert decision == Decision(**{k: getattr(decision, k) for k in decision.as_dict()})


def test_tried_entries_cannot_be_mutated_by_callers(default):
    decision = default.decide(facts(category="drug_distribution"))

    with pytest.raises(TypeError):
        decision.tried[0]["id"] = "changed"


# --------------------------------------------------------------------------- missing facts

MISSING_CASES = [
    # (id, condition, facts, matches)
    ("eq on missing is false", leaf("weapon", "eq", "none"), {}, False),
    ("ne on missing is true", leaf("weapon", "ne", "none"), {}, True),
    ("in on missing is false", leaf("weapon", "in", ["none", "firearm"]), {}, False),
    ("not_in on missing is true", leaf("weapon", "not_in", ["none"]), {}, True),
    (
        "lt on None is false",
        leaf("youngest_subject_age", "lt", 100),
        {"youngest_subject_age": None},
        False,
    ),
    (
        "ge on None is false",
        leaf("youngest_subject_age", "ge", 0),
        {"youngest_subject_age": None},
        False,
    ),
    ("gt on missing is false", leaf("student_count", "gt", 0), {}, False),
    ("le on a value", leaf("student_count", "le", 3), {"student_count": 3}, True),
    ("lt on a value", leaf("student_count", "lt", 3), {"student_count": 3}, False),
    ("gt on a value", leaf("hour_of_day", "gt", 15), {"hour_of_day": 16}, True),
    ("int in", leaf("school_grade_low", "in", [-1, 0]), {"school_grade_low": -1}, True),
    ("int not_in", leaf("school_grade_low", "not_in", [-1, 0]), {"school_grade_low": 6}, True),
    ("bool eq false on missing", leaf("within_school_hours", "eq", False), {}, False),
    ("bool ne true on missing", leaf("within_school_hours", "ne", True), {}, True),
    ("not of missing eq", {"not": leaf("weapon", "eq", "none")}, {}, True),
]


@pytest.mark.parametrize(
    ("when", "given", "matches"),
    [case[1:] for case in MISSING_CASES],
    ids=[case[0] for case in MISSING_CASES],
)
def test_operators_and_missing_facts(when, given, matches):
    policy = compile_ruleset(ruleset(rule("r", "counselor", when)))

    decision = policy.decide(given)

    assert decision.rule_id == ("r" if matches else None)


def test_any_disability_is_derived_from_the_flags_when_missing(default):
    given = {k: v for k, v in facts(any_bip=True, student_state="dysregulated").items()}
    del given["any_disability"]

    decision = default.decide(given)

    assert decision.rule_id == "disability-dysregulated"
    assert list(decision.reasons) == [
        {"fact": "any_disability", "value": True},
        {"fact": "student_state", "value": "dysregulated"},
    ]


def test_empty_facts_go_to_the_default_route(default):
    decision = default.decide({})

    assert (decision.route, decision.rule_id, decision.guardrails) == ("administrator", None, ())


# --------------------------------------------------------------------------- compile


def test_compile_rejects_an_invalid_rule_set():
    with pytest.raises(RulesetError) as caught:
        compile_ruleset(ruleset(rule("r", "police", EVERYTHING)))

    assert isinstance(caught.value, ValueError)
    assert [str(e) for e in caught.value.errors] == [
        "rules[0].route: unknown route 'police'; routes: counselor, administrator, "
        "co_responder, sro"
    ]


def test_compiled_source_holds_no_values_from_the_rule_set():
    sneaky = "x') or __import__('os').system('true') or ('"
    spec = ruleset(rule("r", "counselor", leaf("category", "eq", "theft")))
    policy = compile_ruleset(spec)

    assert "theft" not in policy.source
    assert "category" not in policy.source
    assert compile_ruleset(ruleset(rule("r", "counselor", EVERYTHING))).source.count("'") == 0
    with pytest.raises(RulesetError):
        compile_ruleset(ruleset(rule("r", "counselor", leaf("category", "eq", sneaky))))


def test_compiled_policy_keeps_the_normalized_spec_and_warnings():
    spec = ruleset(
        {"name": "Theft to SRO", "route": "sro", "when": leaf("category", "eq", "theft")}
    )

    policy = compile_ruleset(spec)

    assert isinstance(policy, CompiledPolicy)
    assert policy.spec["rules"][0]["id"] == "theft-to-sro"
    assert [w.path for w in policy.warnings] == ["rules[0].route"]


# --------------------------------------------------------------------------- registry


def test_registry_operators_per_type():
    assert OPERATORS_BY_TYPE == {
        "choice": frozenset({"eq", "ne", "in", "not_in"}),
        "bool": frozenset({"eq", "ne"}),
        "int": frozenset({"eq", "ne", "in", "not_in", "lt", "le", "gt", "ge"}),
    }
    assert ROUTES == ("counselor", "administrator", "co_responder", "sro")


def test_registry_as_data_is_json_ready_and_complete():
    data = registry_as_data()

    assert json.loads(json.dumps(data)) == data
    assert [f["name"] for f in data["facts"]] == list(BASE)
    weapon = next(f for f in data["facts"] if f["name"] == "weapon")
    assert weapon["values"] == [
        "none",
        "object_used_as_weapon",
        "weapon_possessed",
        "firearm",
        "unknown",
    ]
    assert weapon["operators"] == ["eq", "ne", "in", "not_in"]
    assert all(f["label"] and f["description"] for f in data["facts"])
    assert [g["name"] for g in data["guardrails"] if not g["can_disable"]] == ["life_safety_floor"]


class Reading(dict):
    """Facts that remember every name the engine reads."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = set()

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)


def random_answers(rng, names):
    """Any registry value, "unknown", null, or no answer at all, for each fact."""
    answers = {}
    for name in names:
        fact = FACTS[name]
        pick = rng.random()
        if pick < 0.1:
            continue
        if pick < 0.2:
            answers[name] = None
        elif fact.type == "bool":
            answers[name] = rng.random() < 0.5
        elif fact.type == "int":
            answers[name] = rng.randint(0, 20)
        else:
            answers[name] = rng.choice([*fact.values, "unknown"])
    return answers


def test_facts_read_holds_every_fact_a_decision_reads(default):
    """A replay fetches only ``facts_read`` and memoizes decisions on them: a decision must
    be the same from those facts alone, whatever the rest of the document says."""
    rng = random.Random(18)
    guardrails_off = compile_ruleset(
        {
            **copy.deepcopy(DEFAULT_POLICY),
            "guardrails": {
                "clinician_safeguard": {"enabled": False, "reason": "pilot"},
                "disability_safeguard": {"enabled": False, "reason": "pilot"},
            },
        }
    )
    for policy in (default, guardrails_off):
        read = set()
        for _ in range(3000):
            facts = Reading(random_answers(rng, FACTS))
            decision = policy.decide(facts)
            read |= facts.read
            only_read = {name: facts[name] for name in policy.facts_read if name in facts}
            assert policy.decide(only_read).as_dict() == decision.as_dict()
        assert read <= set(policy.facts_read)
        assert read >= {"category", "weapon", "danger_now", "any_iep", "youngest_subject_age"}
