"""The field registry: every fact a rule may test, its type, values and plain-English label.

Pure data, no Django: the engine, the validator, the rule editor and the API all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------- routes
#
# The one route vocabulary: every other module (the models' choices, the engine, the diff
# words, the Celery queues, the reports and the templates) reads a route's facts from here.

COUNSELOR = "counselor"
ADMINISTRATOR = "administrator"
CO_RESPONDER = "co_responder"
SRO = "sro"


@dataclass(frozen=True, slots=True)
class RouteInfo:
    value: str
    label: str  # the route's name wherever a page, a report or a mail names it
    words: str  # the route inside a sentence: "routed to the SRO"
    responders: str  # who answers it, where a person chooses a route (the rule editor)
    who: str  # the subject of a sentence to the reporter: "The school resource officer ..."
    who_also: str  # the same, inside a list of also-notified routes
    urgency: int  # 0 is most urgent: the order of a queue and the words of a mail subject
    ack_minutes: int  # default minutes to acknowledge; a school may override them
    law_enforcement: bool  # its queue includes police (the SRO alone or with a clinician)
    may_be_default: bool  # a rule set's default route; the SRO is for life safety only
    outcomes: tuple[str, ...]  # the outcomes its responders may record, in the form's order

    @property
    def queue(self) -> str:
        """The Celery queue of its deliveries: a worker may consume one route only."""
        return f"responder.{self.value}"


# Outcomes offered on every route, after each route's own ones; citation and arrest are a
# sworn officer's acts, offered on the routes whose queues include police.
_EVERY_ROUTE_OUTCOMES = (
    "parent_contacted",
    "safety_plan",
    "referred_to_community_services",
    "referred_to_law_enforcement",
    "no_action_needed",
)
POLICE_ONLY_OUTCOMES = ("citation", "arrest")

ROUTE_INFO: dict[str, RouteInfo] = {
    info.value: info
    for info in (
        RouteInfo(
            value=COUNSELOR,
            label="Counselor",
            words="counselor",
            responders="Counselor, psychologist or social worker",
            who="A counselor",
            who_also="a counselor",
            urgency=2,
            ack_minutes=15,
            law_enforcement=False,
            may_be_default=True,
            outcomes=("counseling_provided", "restorative_conference", *_EVERY_ROUTE_OUTCOMES),
        ),
        RouteInfo(
            value=ADMINISTRATOR,
            label="Administrator",
            words="administrator",
            responders="Principal or assistant principal",
            who="An administrator",
            who_also="an administrator",
            urgency=3,
            ack_minutes=30,
            law_enforcement=False,
            may_be_default=True,
            outcomes=(
                "discipline_assigned",
                "restorative_conference",
                "counseling_provided",
                *_EVERY_ROUTE_OUTCOMES,
            ),
        ),
        RouteInfo(
            value=CO_RESPONDER,
            label="Co-responder (clinician and SRO)",
            words="co-responder",
            responders="Clinician and SRO together, clinician leading",
            who="A clinician and the school resource officer",
            who_also="the co-responder team",
            urgency=1,
            ack_minutes=5,
            law_enforcement=True,
            may_be_default=True,
            outcomes=("counseling_provided", *_EVERY_ROUTE_OUTCOMES, *POLICE_ONLY_OUTCOMES),
        ),
        RouteInfo(
            value=SRO,
            label="School resource officer",
            words="SRO",
            responders="School resource officer (administrator always notified)",
            who="The school resource officer",
            who_also="the school resource officer",
            urgency=0,
            ack_minutes=2,
            law_enforcement=True,
            may_be_default=False,
            outcomes=("restorative_conference", *_EVERY_ROUTE_OUTCOMES, *POLICE_ONLY_OUTCOMES),
        ),
    )
}
ROUTES: tuple[str, ...] = tuple(ROUTE_INFO)
ROUTE_CHOICES: list[tuple[str, str]] = [(info.value, info.label) for info in ROUTE_INFO.values()]
LAW_ENFORCEMENT_ROUTES: frozenset[str] = frozenset(
    info.value for info in ROUTE_INFO.values() if info.law_enforcement
)
DEFAULT_ROUTE = ADMINISTRATOR  # a rule set's default route when it names none
# The route the administrator is always notified from: the SRO is never sent alone.
ADMINISTRATOR_NOTIFIED_FROM = SRO

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
        "routes": [
            {"route": info.value, "label": info.label, "responders": info.responders}
            for info in ROUTE_INFO.values()
        ],
        "guardrails": [
            {"name": name, **info, "can_disable": name != "life_safety_floor"}
            for name, info in GUARDRAILS.items()
        ],
        "default_minimum_age": DEFAULT_MINIMUM_AGE,
    }
