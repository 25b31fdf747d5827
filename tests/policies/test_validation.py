"""Validation, lint and normalisation of rule sets: each problem with its exact path and text."""

import copy

import pytest

from policies.defaults import DEFAULT_POLICY
from policies.engine import Problem, normalize_ruleset, validate_ruleset
from policies.registry import FACTS

ROUTES_TEXT = "routes: counselor, administrator, co_responder, sro"
WEAPON_VALUES_TEXT = "allowed: none, object_used_as_weapon, weapon_possessed, firearm, unknown"
OPS_TEXT = "operators: eq, ne, in, not_in, lt, le, gt, ge"
EVERY_CATEGORY = list(FACTS["category"].values)


def leaf(fact, op, value):
    return {"fact": fact, "op": op, "value": value}


def one_rule(when, **extra):
    return {"rules": [{"name": "R", "route": "counselor", "when": when, **extra}]}


def errors(spec):
    return [str(problem) for problem in validate_ruleset(spec).errors]


def warnings(spec):
    result = validate_ruleset(spec)
    assert result.errors == []
    return [str(problem) for problem in result.warnings]


def test_problem_prints_path_then_message():
    assert str(Problem("rules[0].name", "required")) == "rules[0].name: required"


def test_default_policy_is_valid_with_no_warnings():
    result = validate_ruleset(DEFAULT_POLICY)

    assert (result.errors, result.warnings, result.ok) == ([], [], True)


# --------------------------------------------------------------------------- conditions

CONDITION_CASES = [
    (
        "unknown fact with suggestion",
        {"all": [leaf("category", "eq", "theft"), leaf("categry", "eq", "theft")]},
        "rules[0].when.all[1].fact: unknown fact 'categry' (did you mean 'category'?)",
    ),
    (
        "unknown fact without suggestion",
        leaf("zzz", "eq", 1),
        "rules[0].when.fact: unknown fact 'zzz'",
    ),
    (
        "unknown operator",
        leaf("weapon", "equals", "none"),
        f"rules[0].when.op: unknown operator 'equals'; {OPS_TEXT}",
    ),
    (
        "operator written as a symbol",
        leaf("weapon", "==", "none"),
        f"rules[0].when.op: unknown operator '==' (did you mean 'eq'?); {OPS_TEXT}",
    ),
    (
        "operator not valid for a choice",
        leaf("weapon", "lt", "none"),
        "rules[0].when.op: operator 'lt' is not valid for 'weapon' (a choice); use one of: "
        "eq, ne, in, not_in",
    ),
    (
        "operator not valid for a bool",
        leaf("any_iep", "in", [True]),
        "rules[0].when.op: operator 'in' is not valid for 'any_iep' (true/false); use one of: "
        "eq, ne",
    ),
    (
        "string for an int fact",
        leaf("youngest_subject_age", "lt", "10"),
        "rules[0].when.value: 'youngest_subject_age' is a whole number: use a number, not the "
        "text '10'",
    ),
    (
        "bool for an int fact",
        leaf("youngest_subject_age", "eq", True),
        "rules[0].when.value: 'youngest_subject_age' is a whole number: use a number, not true",
    ),
    (
        "1 for a bool fact",
        leaf("any_iep", "eq", 1),
        "rules[0].when.value: 'any_iep' is true/false: use true or false, not the number 1",
    ),
    (
        "number for a choice fact",
        leaf("weapon", "eq", 3),
        "rules[0].when.value: 'weapon' is a choice: use one of its values as text, not the "
        f"number 3; {WEAPON_VALUES_TEXT}",
    ),
    (
        "in needs a list",
        leaf("weapon", "in", "firearm"),
        "rules[0].when.value: operator 'in' needs a non-empty list of values, got the text "
        "'firearm'",
    ),
    (
        "not_in needs a non-empty list",
        leaf("weapon", "not_in", []),
        "rules[0].when.value: operator 'not_in' needs a non-empty list of values, got an "
        "empty list",
    ),
    (
        "choice value with suggestion, inside a list",
        leaf("weapon", "in", ["none", "firarm"]),
        "rules[0].when.value[1]: 'firarm' is not a value of 'weapon' (did you mean 'firearm'?); "
        f"{WEAPON_VALUES_TEXT}",
    ),
    (
        "choice value without suggestion",
        leaf("weapon", "eq", "gun"),
        f"rules[0].when.value: 'gun' is not a value of 'weapon'; {WEAPON_VALUES_TEXT}",
    ),
    (
        "int list item of the wrong type",
        leaf("school_grade_low", "in", [0, "K"]),
        "rules[0].when.value[1]: 'school_grade_low' is a whole number: use a number, not the "
        "text 'K'",
    ),
    (
        "empty all",
        {"all": []},
        "rules[0].when.all: empty 'all' group: add at least one condition or remove the group",
    ),
    (
        "empty any, nested",
        {"not": {"any": []}},
        "rules[0].when.not.any: empty 'any' group: add at least one condition or remove the group",
    ),
    (
        "all and any in one node",
        {"all": [leaf("weapon", "eq", "none")], "any": [leaf("weapon", "eq", "none")]},
        "rules[0].when: a condition node must be exactly one of all, any, not, or a leaf "
        "(fact, op, value): it has 'all', 'any'",
    ),
    (
        "not mixed with a leaf",
        {"not": leaf("weapon", "eq", "none"), "fact": "weapon"},
        "rules[0].when: a condition node must be exactly one of all, any, not, or a leaf "
        "(fact, op, value): 'not' cannot be combined with 'fact'",
    ),
    (
        "leaf missing its value",
        {"fact": "weapon", "op": "eq"},
        "rules[0].when: a leaf condition has exactly fact, op and value: missing 'value'",
    ),
    (
        "leaf with an extra key",
        {**leaf("weapon", "eq", "none"), "note": "x"},
        "rules[0].when: a leaf condition has exactly fact, op and value: unexpected 'note'",
    ),
    (
        "empty node",
        {},
        "rules[0].when: a condition node must be exactly one of all, any, not, or a leaf "
        "(fact, op, value); got keys: none",
    ),
    (
        "node with unknown keys",
        {"either": []},
        "rules[0].when: a condition node must be exactly one of all, any, not, or a leaf "
        "(fact, op, value); got keys: either",
    ),
    (
        "node that is not an object",
        "weapon == none",
        'rules[0].when: a condition must be an object: {"all": [...]}, {"any": [...]}, '
        '{"not": {...}} or {"fact": ..., "op": ..., "value": ...}, got the text '
        "'weapon == none'",
    ),
    (
        "group that is not a list",
        {"any": leaf("weapon", "eq", "none")},
        "rules[0].when.any: must be a list of conditions, got an object",
    ),
]


@pytest.mark.parametrize(
    ("when", "expected"),
    [case[1:] for case in CONDITION_CASES],
    ids=[case[0] for case in CONDITION_CASES],
)
def test_condition_errors(when, expected):
    assert errors(one_rule(when)) == [expected]


def test_deep_nesting_is_an_error_not_a_crash():
    when = leaf("weapon", "eq", "none")
    for _ in range(5000):
        when = {"not": when}

    assert errors(one_rule(when)) == [
        "rules[0].when" + ".not" * 32 + ": conditions nest deeper than 32 levels"
    ]


def test_every_problem_in_a_rule_is_reported():
    spec = one_rule({"all": [leaf("categry", "eq", "x"), leaf("weapon", "eq", "gun"), {"any": []}]})

    assert [p.path for p in validate_ruleset(spec).errors] == [
        "rules[0].when.all[0].fact",
        "rules[0].when.all[1].value",
        "rules[0].when.all[2].any",
    ]


# --------------------------------------------------------------------------- rules and routes

RULE_CASES = [
    (
        "unknown route",
        {"rules": [{"name": "R", "route": "police", "when": leaf("weapon", "eq", "none")}]},
        [f"rules[0].route: unknown route 'police'; {ROUTES_TEXT}"],
    ),
    (
        "route with suggestion",
        {"rules": [{"name": "R", "route": "councelor", "when": leaf("weapon", "eq", "none")}]},
        [f"rules[0].route: unknown route 'councelor' (did you mean 'counselor'?); {ROUTES_TEXT}"],
    ),
    (
        "missing route",
        {"rules": [{"name": "R", "when": leaf("weapon", "eq", "none")}]},
        [f"rules[0].route: missing: choose one of {ROUTES_TEXT.removeprefix('routes: ')}"],
    ),
    (
        "also_notify problems",
        one_rule(leaf("weapon", "eq", "none"), also_notify=["counselor", "police", "sro", "sro"]),
        [
            "rules[0].also_notify[0]: 'counselor' is this rule's own route; notify other "
            "routes only",
            f"rules[0].also_notify[1]: unknown route 'police'; {ROUTES_TEXT}",
            "rules[0].also_notify[3]: 'sro' is listed twice",
        ],
    ),
    (
        "also_notify not a list",
        one_rule(leaf("weapon", "eq", "none"), also_notify="sro"),
        ["rules[0].also_notify: must be a list of routes, got the text 'sro'"],
    ),
    (
        "default route sro",
        {"rules": [], "default_route": "sro"},
        [
            "default_route: the default route can never be 'sro': the SRO is for life safety "
            "only; use 'administrator'"
        ],
    ),
    (
        "default route unknown",
        {"rules": [], "default_route": "principal"},
        [f"default_route: unknown route 'principal'; {ROUTES_TEXT}"],
    ),
    (
        "missing and blank names",
        {
            "rules": [
                {"route": "counselor", "when": leaf("weapon", "eq", "none")},
                {"name": "  ", "route": "counselor", "when": leaf("weapon", "eq", "none")},
            ]
        },
        [
            "rules[0].name: every rule needs a name: say in a few words what it catches",
            "rules[1].name: every rule needs a name: say in a few words what it catches",
        ],
    ),
    (
        "duplicate and malformed ids",
        {
            "rules": [
                {
                    "id": "a",
                    "name": "A",
                    "route": "counselor",
                    "when": leaf("weapon", "eq", "none"),
                },
                {
                    "id": "a",
                    "name": "B",
                    "route": "counselor",
                    "when": leaf("injury", "eq", "none"),
                },
                {
                    "id": "Bad Id",
                    "name": "C",
                    "route": "counselor",
                    "when": leaf("weapon", "eq", "none"),
                },
            ]
        },
        [
            "rules[1].id: duplicate id 'a': rules[0] already uses it",
            "rules[2].id: an id is a short slug of lowercase letters, digits and dashes "
            "(e.g. 'life-safety', at most 64 characters), got 'Bad Id'",
        ],
    ),
    (
        "missing condition",
        {"rules": [{"name": "R", "route": "counselor"}]},
        ["rules[0].when: missing: a rule needs a condition"],
    ),
    (
        "wrong types for enabled, rationale, source",
        one_rule(leaf("weapon", "eq", "none"), enabled="yes", rationale=3, source=None),
        [
            "rules[0].enabled: must be true or false, got 'yes'",
            "rules[0].rationale: must be text, got the number 3",
            "rules[0].source: must be text, got null",
        ],
    ),
    (
        "unknown rule key with suggestion",
        one_rule(leaf("weapon", "eq", "none"), rational="x"),
        [
            "rules[0].rational: unknown key 'rational' in a rule (did you mean 'rationale'?); "
            "allowed: id, name, route, also_notify, enabled, rationale, source, when"
        ],
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [case[1:] for case in RULE_CASES],
    ids=[case[0] for case in RULE_CASES],
)
def test_rule_errors(spec, expected):
    assert errors(spec) == expected


# --------------------------------------------------------------------------- guardrails

GUARDRAIL_CASES = [
    (
        "unknown guardrail with suggestion",
        {"min_age": {"age": 12}},
        [
            "guardrails.min_age: unknown guardrail 'min_age' (did you mean 'minimum_age'?); "
            "guardrails: disability_safeguard, clinician_safeguard, minimum_age, life_safety_floor"
        ],
    ),
    (
        "life-safety floor cannot be turned off",
        {"life_safety_floor": {"enabled": False}},
        [
            "guardrails.life_safety_floor.enabled: the life-safety floor cannot be turned off: "
            "a firearm, a weapon possessed or others in danger right now always involve the SRO"
        ],
    ),
    (
        "turning off needs a reason",
        {"disability_safeguard": {"enabled": False}},
        [
            "guardrails.disability_safeguard.reason: turning off 'disability_safeguard' "
            "requires a written reason; it is logged"
        ],
    ),
    (
        "a blank reason is no reason",
        {"clinician_safeguard": {"enabled": False, "reason": "   "}},
        [
            "guardrails.clinician_safeguard.reason: turning off 'clinician_safeguard' requires "
            "a written reason; it is logged"
        ],
    ),
    (
        "minimum age above 21",
        {"minimum_age": {"age": 22}},
        ["guardrails.minimum_age.age: the minimum age is a whole number from 0 to 21, got 22"],
    ),
    (
        "minimum age negative",
        {"minimum_age": {"age": -1}},
        ["guardrails.minimum_age.age: the minimum age is a whole number from 0 to 21, got -1"],
    ),
    (
        "minimum age as text",
        {"minimum_age": {"age": "12"}},
        ["guardrails.minimum_age.age: the minimum age is a whole number from 0 to 21, got '12'"],
    ),
    (
        "enabled must be a bool",
        {"minimum_age": {"enabled": "no"}},
        ["guardrails.minimum_age.enabled: must be true or false, got 'no'"],
    ),
    (
        "unknown key in a guardrail",
        {"life_safety_floor": {"enabled": True, "reason": "x"}},
        [
            "guardrails.life_safety_floor.reason: unknown key 'reason' in guardrail "
            "'life_safety_floor'; allowed: enabled"
        ],
    ),
    (
        "guardrail config not an object",
        {"minimum_age": 12},
        ['guardrails.minimum_age: must be an object like {"enabled": true}, got the number 12'],
    ),
    (
        "turned off with a reason is fine",
        {"minimum_age": {"enabled": False, "reason": "MA law"}},
        [],
    ),
    ("age bounds are inclusive", {"minimum_age": {"age": 21}}, []),
]


@pytest.mark.parametrize(
    ("guardrails", "expected"),
    [case[1:] for case in GUARDRAIL_CASES],
    ids=[case[0] for case in GUARDRAIL_CASES],
)
def test_guardrail_errors(guardrails, expected):
    assert errors({"rules": [], "guardrails": guardrails}) == expected


# --------------------------------------------------------------------------- top level and garbage

TOP_CASES = [
    (
        "not an object",
        [],
        [
            "ruleset: a rule set must be an object with rules, default_route and guardrails, "
            "got an empty list"
        ],
    ),
    ("rules missing", {}, ["rules: missing: a rule set needs a list of rules (it may be empty)"]),
    ("rules not a list", {"rules": {}}, ["rules: must be a list of rules, got an object"]),
    (
        "rule not an object",
        {"rules": [None]},
        ["rules[0]: a rule must be an object with name, route and when, got null"],
    ),
    (
        "unknown top-level key with suggestion",
        {"rules": [], "default_rout": "counselor"},
        [
            "default_rout: unknown key 'default_rout' in the rule set (did you mean "
            "'default_route'?); allowed: rules, default_route, guardrails"
        ],
    ),
    (
        "guardrails not an object",
        {"rules": [], "guardrails": []},
        ["guardrails: must be an object keyed by guardrail, got an empty list"],
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [case[1:] for case in TOP_CASES],
    ids=[case[0] for case in TOP_CASES],
)
def test_top_level_errors(spec, expected):
    assert errors(spec) == expected


GARBAGE = [
    None,
    "rules",
    42,
    {"rules": None},
    {"rules": [1, "x", [], {}]},
    {
        "rules": [
            {
                "name": ["x"],
                "route": {},
                "also_notify": [[]],
                "when": {"fact": {}, "op": [], "value": {}},
            }
        ]
    },
    {1: 2, "rules": [{"name": "R", "route": "counselor", "when": {1: 2}}]},
    {"rules": [{"name": "R", "route": "counselor", "when": leaf("weapon", "in", [["none"], {}])}]},
    {"rules": [], "guardrails": {"minimum_age": {"age": float("nan")}}},
    {"rules": [{"name": "R", "route": "counselor", "when": leaf(None, None, None)}]},
]


@pytest.mark.parametrize("spec", GARBAGE)
def test_garbage_gives_errors_not_exceptions(spec):
    result = validate_ruleset(spec)

    assert result.errors
    assert all(isinstance(p, Problem) and p.path and p.message for p in result.errors)


# --------------------------------------------------------------------------- lint


def sro_rule(when, name="To SRO"):
    return {"name": name, "route": "sro", "when": when}


SRO_LINT = (
    "rules[0].route: routes to the SRO but can match without a life-safety fact (a firearm or "
    "weapon possessed, others in danger right now, a threat to kill or seriously injure, or an "
    "intruder or weapon incident): the SRO is for life safety only"
)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (leaf("category", "eq", "theft"), [SRO_LINT]),
        (leaf("category", "in", EVERY_CATEGORY), [SRO_LINT]),
        ({"any": [leaf("weapon", "eq", "firearm"), leaf("category", "eq", "theft")]}, [SRO_LINT]),
        (leaf("weapon", "ne", "none"), [SRO_LINT]),
        (leaf("weapon", "eq", "firearm"), []),
        (leaf("danger_now", "eq", "to_others"), []),
        (leaf("threat", "eq", "to_kill_or_seriously_injure"), []),
        (leaf("category", "in", ["intruder", "weapon"]), []),
        ({"all": [leaf("weapon", "eq", "firearm"), leaf("category", "eq", "theft")]}, []),
        ({"not": leaf("weapon", "not_in", ["firearm", "weapon_possessed"])}, []),
    ],
)
def test_lint_sro_without_a_life_safety_condition(when, expected):
    assert warnings({"rules": [sro_rule(when)]}) == expected


def test_lint_does_not_flag_the_default_sro_rules():
    spec = copy.deepcopy(DEFAULT_POLICY)
    spec["rules"] = [spec["rules"][0], spec["rules"][2]]

    assert warnings(spec) == []


def rules_of(*pairs):
    return {
        "rules": [
            {"name": name, "route": "counselor" if i == 0 else "administrator", "when": when}
            for i, (name, when) in enumerate(pairs)
        ]
    }


ALWAYS = "this rule can never match: rule 'A' (rules[0]) always matches first; reorder the rules or narrow the earlier one"  # noqa: E501
FIRST = "this rule can never match: rule 'A' (rules[0]) matches first whenever this one would; reorder the rules or narrow the earlier one"  # noqa: E501
THEFT = leaf("category", "eq", "theft")
THEFT_NO_INJURY = {"all": [THEFT, leaf("injury", "eq", "none")]}

SHADOW_CASES = [
    ("in lists every choice", leaf("category", "in", EVERY_CATEGORY), THEFT, ALWAYS),
    (
        "any covering both bool values",
        {"any": [leaf("any_iep", "eq", True), leaf("any_iep", "eq", False)]},
        THEFT,
        ALWAYS,
    ),
    (
        "any covering every int",
        {"any": [leaf("student_count", "lt", 3), leaf("student_count", "ge", 3)]},
        THEFT,
        ALWAYS,
    ),
    ("identical condition", THEFT, THEFT, FIRST),
    (
        "any containing the whole later condition",
        {"any": [THEFT_NO_INJURY, leaf("weapon", "eq", "none")]},
        THEFT_NO_INJURY,
        FIRST,
    ),
    (
        "leaf implied by the later rule",
        leaf("weapon", "in", ["firearm", "weapon_possessed"]),
        {"all": [leaf("weapon", "eq", "firearm"), leaf("category", "eq", "other")]},
        FIRST,
    ),
    (
        "int range implied",
        leaf("youngest_subject_age", "lt", 12),
        leaf("youngest_subject_age", "le", 8),
        FIRST,
    ),
    ("negated leaf", {"not": leaf("weapon", "eq", "none")}, leaf("weapon", "eq", "firearm"), FIRST),
    (
        "int set inside a range",
        leaf("student_count", "ge", 0),
        leaf("student_count", "in", [1, 2]),
        FIRST,
    ),
    (
        "narrower earlier range",
        leaf("youngest_subject_age", "lt", 8),
        leaf("youngest_subject_age", "lt", 12),
        None,
    ),
    ("different facts", THEFT, leaf("weapon", "eq", "none"), None),
    (
        "later accepts a missing fact",
        leaf("weapon", "ne", "none"),
        leaf("weapon", "ne", "firearm"),
        None,
    ),
    ("earlier is narrower", THEFT_NO_INJURY, THEFT, None),
]


@pytest.mark.parametrize(
    ("earlier", "later", "expected"),
    [case[1:] for case in SHADOW_CASES],
    ids=[case[0] for case in SHADOW_CASES],
)
def test_lint_rule_that_can_never_match(earlier, later, expected):
    found = warnings(rules_of(("A", earlier), ("B", later)))

    assert found == ([f"rules[1].when: {expected}"] if expected else [])


def test_disabled_rules_do_not_shadow():
    spec = rules_of(("A", leaf("category", "in", EVERY_CATEGORY)), ("B", THEFT))
    spec["rules"][0]["enabled"] = False

    assert warnings(spec) == []


def test_lint_reports_only_the_first_shadowing_rule():
    spec = rules_of(("A", THEFT), ("B", THEFT), ("C", THEFT))

    assert warnings(spec) == [f"rules[1].when: {FIRST}", f"rules[2].when: {FIRST}"]


def test_warnings_are_skipped_while_there_are_errors():
    spec = rules_of(("A", THEFT), ("B", THEFT))
    spec["default_route"] = "sro"

    result = validate_ruleset(spec)

    assert (len(result.errors), result.warnings) == (1, [])


# --------------------------------------------------------------------------- normalise


def test_normalize_fills_every_default():
    spec = {
        "rules": [
            {"name": "Theft!", "route": "administrator", "when": THEFT},
            {"id": "theft", "name": "Other", "route": "counselor", "when": THEFT},
            {"name": "Theft", "route": "counselor", "when": THEFT},
        ]
    }

    normal = normalize_ruleset(spec)

    assert normal == {
        "rules": [
            {
                "id": "theft-2",
                "name": "Theft!",
                "route": "administrator",
                "also_notify": [],
                "enabled": True,
                "rationale": "",
                "source": "",
                "when": THEFT,
            },
            {
                "id": "theft",
                "name": "Other",
                "route": "counselor",
                "also_notify": [],
                "enabled": True,
                "rationale": "",
                "source": "",
                "when": THEFT,
            },
            {
                "id": "theft-3",
                "name": "Theft",
                "route": "counselor",
                "also_notify": [],
                "enabled": True,
                "rationale": "",
                "source": "",
                "when": THEFT,
            },
        ],
        "default_route": "administrator",
        "guardrails": {
            "disability_safeguard": {"enabled": True, "reason": ""},
            "clinician_safeguard": {"enabled": True, "reason": ""},
            "minimum_age": {"enabled": True, "age": 10, "reason": ""},
            "life_safety_floor": {"enabled": True},
        },
    }
    assert validate_ruleset(normal).errors == []
    assert normalize_ruleset(normal) == normal
    assert "id" not in spec["rules"][0]


def test_normalize_keeps_the_default_policy_as_is():
    assert normalize_ruleset(DEFAULT_POLICY) == DEFAULT_POLICY


def test_normalize_keeps_a_partial_guardrail_setting():
    normal = normalize_ruleset({"rules": [], "guardrails": {"minimum_age": {"age": 12}}})

    assert normal["guardrails"]["minimum_age"] == {"enabled": True, "age": 12, "reason": ""}


@pytest.mark.parametrize("spec", GARBAGE)
def test_normalize_tolerates_garbage(spec):
    normalize_ruleset(spec)
