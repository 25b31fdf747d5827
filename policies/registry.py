"""The field registry: every fact a rule may test, its type, values and plain-English label.

Pure data, no Django: the engine, the validator, the rule editor and the API all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROUTES: tuple[str, ...] = ("counselor", "administrator", "co_responder", "sro")

ROUTE_LABELS: dict[str, str] = {
    "counselor": "Counselor, psychologist or social worker",
    "administrator": "Principal or assistant principal",
    "co_responder": "Clinician and SRO together, clinician leading",
    "sro": "School resource officer (administrator always notified)",
}

CHOICE, BOOL, INT = "choice", "bool", "int"

OPERATORS_BY_TYPE: dict[str, frozenset[str]] = {
    CHOICE: frozenset({"eq", "ne", "in", "not_in"}),
    BOOL: frozenset({"eq", "ne"}),
    INT: frozenset({"eq", "ne", "in", "not_in", "lt", "le", "gt", "ge"}),
}

# Display order for messages and the editor.
OPERATORS: tuple[str, ...] = ("eq", "ne", "in", "not_in", "lt", "le", "gt", "ge")
LIST_OPERATORS = frozenset({"in", "not_in"})

OPERATOR_LABELS: dict[str, str] = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "lt": "is less than",
    "le": "is at most",
    "gt": "is more than",
    "ge": "is at least",
}

# "Weapon" in the policy means possessed or a firearm: an everyday object used as a weapon
# (a pencil) is not one, for the rules or for the guardrails.
WEAPON_VALUES = frozenset({"weapon_possessed", "firearm"})

# Every safety answer may be "not sure" or not given: `unknown`, its own value, never "none".
UNKNOWN = "unknown"
UNKNOWN_LABEL = "not answered (not sure)"
SAFETY_ANSWERS = ("weapon", "injury", "threat", "danger_now", "student_state", "with_now")


def weapon_reported(category: object, weapon: object) -> bool:
    """A weapon for the life-safety floor: possessed or a firearm, or a report in category
    `weapon` whose kind is unknown (a person who reports a weapon and cannot say what kind
    has still reported a weapon: it counts as one possessed)."""
    return weapon in WEAPON_VALUES or (category == "weapon" and weapon == UNKNOWN)


def value_label(value: object) -> str:
    """A registry value for people: "object_used_as_weapon" -> "object used as weapon"."""
    if value == UNKNOWN:
        return UNKNOWN_LABEL
    return str(value).replace("_", " ")


LIFE_SAFETY_DANGER = "to_others"
CLINICIANS = frozenset({"counselor", "school_psychologist", "social_worker"})


@dataclass(frozen=True, slots=True)
class Fact:
    name: str
    type: str
    label: str
    description: str
    values: tuple[Any, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "description": self.description,
            "values": list(self.values),
            "operators": [op for op in OPERATORS if op in OPERATORS_BY_TYPE[self.type]],
        }


_FACTS: tuple[Fact, ...] = (
    Fact(
        "category",
        CHOICE,
        "Category",
        "What kind of incident the reporter chose.",
        (
            "physical_aggression",
            "threat",
            "weapon",
            "self_harm",
            "emotional_crisis",
            "bullying_harassment",
            "sexual_misconduct",
            "substance_use",
            "drug_distribution",
            "theft",
            "vandalism",
            "disruption",
            "abuse_disclosure",
            "medical",
            "intruder",
            "other",
        ),
    ),
    Fact(
        "location",
        CHOICE,
        "Location",
        "Where it happened.",
        (
            "classroom",
            "hallway",
            "cafeteria",
            "restroom",
            "gym",
            "playground",
            "library",
            "office",
            "bus",
            "parking_lot",
            "school_event",
            "online",
            "other",
        ),
    ),
    Fact(
        "weapon",
        CHOICE,
        "Weapon",
        "None; an everyday object used as a weapon (not a weapon for the rules); a weapon "
        "seen or possessed; a firearm; unknown (not answered). In a `weapon` report an "
        "unknown kind counts as a weapon possessed for the life-safety floor.",
        ("none", "object_used_as_weapon", "weapon_possessed", "firearm", "unknown"),
    ),
    Fact(
        "injury",
        CHOICE,
        "Injury",
        "The worst injury to anyone: none, first aid, medical attention, serious, or unknown "
        "(not answered).",
        ("none", "first_aid", "medical_attention", "serious", "unknown"),
    ),
    Fact(
        "threat",
        CHOICE,
        "Threat",
        "A threat that was made: none, to self, to others, to kill or seriously injure, or "
        "unknown (not answered). A threat in words alone is not a life-safety fact.",
        ("none", "to_self", "to_others", "to_kill_or_seriously_injure", "unknown"),
    ),
    Fact(
        "danger_now",
        CHOICE,
        "Danger right now",
        "Is anyone in danger right now: no one, the student, others, or unknown (not answered).",
        ("none", "to_self", "to_others", "unknown"),
    ),
    Fact(
        "student_state",
        CHOICE,
        "Student's state",
        "How the student is now: calm, calming down, upset, dysregulated, or unknown (not "
        "answered).",
        ("calm", "calming_down", "upset", "dysregulated", "unknown"),
    ),
    Fact(
        "with_now",
        CHOICE,
        "With the student now",
        "Who is with the student right now; unknown when not answered.",
        (
            "nobody",
            "teacher",
            "counselor",
            "school_psychologist",
            "social_worker",
            "nurse",
            "administrator",
            "sro",
            "unknown",
        ),
    ),
    Fact("any_iep", BOOL, "Has an IEP", "A student involved has an IEP (from the roster)."),
    Fact("any_504", BOOL, "Has a 504 plan", "A student involved has a 504 plan (from the roster)."),
    Fact("any_bip", BOOL, "Has a BIP", "A student involved has a behaviour intervention plan."),
    Fact(
        "any_disability",
        BOOL,
        "Has an IEP, 504 plan or BIP",
        "A student involved has an IEP, a 504 plan or a BIP.",
    ),
    Fact(
        "youngest_subject_age",
        INT,
        "Youngest student's age",
        "Age in years of the youngest student involved; empty when no age is known (then "
        "every comparison is false).",
    ),
    Fact(
        "school_grade_low",
        INT,
        "School's lowest grade",
        "Lowest grade the school serves: PK is -1, K is 0, then 1 to 12.",
    ),
    Fact(
        "school_grade_high",
        INT,
        "School's highest grade",
        "Highest grade the school serves: PK is -1, K is 0, then 1 to 12.",
    ),
    Fact(
        "subject_prior_incidents",
        INT,
        "Prior incidents this year",
        "Incidents the student involved already had this school year (the most of any "
        "student involved).",
    ),
    Fact("hour_of_day", INT, "Hour of day", "Hour the incident happened, school-local, 0 to 23."),
    Fact(
        "within_school_hours",
        BOOL,
        "During school hours",
        "The incident happened during school hours.",
    ),
    Fact("student_count", INT, "Students involved", "How many students were involved."),
)

FACTS: dict[str, Fact] = {fact.name: fact for fact in _FACTS}

GUARDRAILS: dict[str, dict[str, str]] = {
    "disability_safeguard": {
        "label": "Disability safeguard",
        "description": "A student with an IEP, 504 plan or BIP and no firearm or weapon: "
        "sro becomes co_responder (clinician leads; the SRO sees the BIP).",
    },
    "clinician_safeguard": {
        "label": "Already with a clinician",
        "description": "A student calming down with a counselor, psychologist or social "
        "worker, with no life-safety fact, never goes to sro or co_responder.",
    },
    "minimum_age": {
        "label": "Minimum age",
        "description": "With no life-safety fact, no student under the minimum age is routed "
        "to sro or co_responder; the route becomes counselor.",
    },
    "life_safety_floor": {
        "label": "Life-safety floor",
        "description": "A firearm, a weapon possessed (a weapon report whose kind is unknown "
        "counts as one), or others in danger right now always involves the SRO. Cannot be "
        "turned off.",
    },
}
DEFAULT_MINIMUM_AGE = 10
MAX_MINIMUM_AGE = 21


def registry_as_data() -> dict[str, Any]:
    """The registry as JSON-able data, for the rule editor and the API."""
    return {
        "facts": [fact.as_dict() for fact in _FACTS],
        "operators": [{"op": op, "label": OPERATOR_LABELS[op]} for op in OPERATORS],
        "routes": [{"route": route, "label": ROUTE_LABELS[route]} for route in ROUTES],
        "guardrails": [
            {"name": name, **info, "can_disable": name != "life_safety_floor"}
            for name, info in GUARDRAILS.items()
        ],
        "default_minimum_age": DEFAULT_MINIMUM_AGE,
    }
