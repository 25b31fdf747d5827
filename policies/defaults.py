"""The default policy from DOMAIN.md, as a plain rule-set spec (the REST API shape).

A starting point that a district admin can change; the life-safety floor cannot be turned off.
"""

from __future__ import annotations

import copy
from typing import Any

CLINICIANS_ON_SCENE = ["counselor", "school_psychologist", "social_worker"]

# The kinds of incident both school-discipline rules cover (answered, and not answered).
SCHOOL_DISCIPLINE = (
    "physical_aggression",
    "disruption",
    "substance_use",
    "theft",
    "vandalism",
    "bullying_harassment",
)

DEFAULT_POLICY: dict[str, Any] = {
    "rules": [
        {
            "id": "life-safety",
            "name": "Firearm, weapon, threat to kill or intruder",
            "route": "sro",
            "also_notify": ["administrator"],
            "enabled": True,
            "rationale": "A firearm; a weapon possessed or brandished; a threat to kill, shoot, "
            "stab or seriously injure; an intruder. Life safety: the SRO responds and the "
            "administrator is notified. A weapon report whose kind was not answered counts as "
            "a weapon possessed: the reporter said there is a weapon and could not say what "
            "kind, and an unanswered question is not a 'no'. An intruder is life safety whether "
            "or not a weapon was answered. An unanswered threat does not match here: only "
            "threat words to kill or seriously injure do.",
            "source": "CSTAG 'very serious substantive'; Salem-Keizer; Gun-Free Schools Act "
            "(firearm referral is federally required)",
            "when": {
                "any": [
                    {"fact": "weapon", "op": "in", "value": ["firearm", "weapon_possessed"]},
                    {
                        "all": [
                            {"fact": "category", "op": "eq", "value": "weapon"},
                            {"fact": "weapon", "op": "eq", "value": "unknown"},
                        ]
                    },
                    {"fact": "threat", "op": "eq", "value": "to_kill_or_seriously_injure"},
                    {"fact": "category", "op": "eq", "value": "intruder"},
                ]
            },
        },
        {
            "id": "danger-with-mental-health",
            "name": "Others in danger, student dysregulated or with a disability plan",
            "route": "co_responder",
            "also_notify": [],
            "enabled": True,
            "rationale": "Others are in danger right now and the student is dysregulated or has "
            "an IEP, 504 plan or BIP: a clinician and an SRO respond together, clinician leading. "
            "An unanswered 'danger right now' does not match: not knowing is not danger, and it "
            "never by itself sends a student to the co-responder team.",
            "source": "Co-responder models (Thompson SD, Cambridge, Round Rock); Douglas County "
            "settlement",
            "when": {
                "all": [
                    {"fact": "danger_now", "op": "eq", "value": "to_others"},
                    {
                        "any": [
                            {"fact": "student_state", "op": "eq", "value": "dysregulated"},
                            {"fact": "any_disability", "op": "eq", "value": True},
                        ]
                    },
                ]
            },
        },
        {
            "id": "danger-to-others",
            "name": "Others in danger right now",
            "route": "sro",
            "also_notify": ["administrator"],
            "enabled": True,
            "rationale": "Others are in danger right now: act now. An unanswered 'danger right "
            "now' does not match (outside a reported weapon, an unanswered question never by "
            "itself sends a student to the SRO).",
            "source": "CSTAG 'imminent: act now'; Illinois model procedure",
            "when": {"fact": "danger_now", "op": "eq", "value": "to_others"},
        },
        {
            "id": "serious-injury-or-sexual-assault",
            "name": "Serious injury or sexual assault",
            "route": "co_responder",
            "also_notify": [],
            "enabled": True,
            "rationale": "Serious injury to another person, or sexual assault: not a school-only "
            "matter, and it needs a clinician. An unanswered injury question does not match: "
            "the responder who gets the report asks, and an unknown injury alone never sends a "
            "student to the co-responder team.",
            "source": "CAHOOTS call-taking manual; Utah-style SRO MOUs (fighting with injury is "
            "not school-only)",
            "when": {
                "any": [
                    {"fact": "injury", "op": "eq", "value": "serious"},
                    {"fact": "category", "op": "eq", "value": "sexual_misconduct"},
                ]
            },
        },
        {
            "id": "danger-to-self",
            "name": "Student in danger right now",
            "route": "co_responder",
            "also_notify": [],
            "enabled": True,
            "rationale": "The student is in danger right now (e.g. on a ledge, running into "
            "traffic). An unanswered 'danger right now' does not match; a self-harm or crisis "
            "report with it unanswered still reaches a counselor (rule below).",
            "source": "Denver STAR / CAHOOTS eligibility; Round Rock",
            "when": {"fact": "danger_now", "op": "eq", "value": "to_self"},
        },
        {
            "id": "calming-with-clinician",
            "name": "Already calming down with a clinician",
            "route": "counselor",
            "also_notify": [],
            "enabled": True,
            "rationale": "The student is already calming down with a counselor, psychologist or "
            "social worker: the clinician on scene continues. It needs both answers: an "
            "unanswered state or 'who is with them' does not match.",
            "source": "The Douglas County facts",
            "when": {
                "all": [
                    {"fact": "student_state", "op": "eq", "value": "calming_down"},
                    {"fact": "with_now", "op": "in", "value": list(CLINICIANS_ON_SCENE)},
                ]
            },
        },
        {
            "id": "disability-dysregulated",
            "name": "Student with a disability plan is dysregulated",
            "route": "counselor",
            "also_notify": ["administrator"],
            "enabled": True,
            "rationale": "A student involved has an IEP, 504 plan or BIP and is dysregulated: "
            "behaviour linked to a disability goes to a clinician; the administrator is "
            "notified. An unanswered state does not match; the report goes where its category "
            "sends it.",
            "source": "OCR/OSERS 2022 (Section 504 duties bind SROs); Douglas County settlement",
            "when": {
                "all": [
                    {"fact": "any_disability", "op": "eq", "value": True},
                    {"fact": "student_state", "op": "eq", "value": "dysregulated"},
                ]
            },
        },
        {
            "id": "emotional-crisis-or-disclosure",
            "name": "Self-harm, emotional crisis or abuse disclosure",
            "route": "counselor",
            "also_notify": [],
            "enabled": True,
            "rationale": "Self-harm or suicidal talk, an emotional crisis, or an abuse or neglect "
            "disclosure: a counselor responds, also when how the student is now, who is with "
            "them or whether they are in danger was not answered (a counselor, never the SRO, "
            "finds out).",
            "source": "STAR / CAHOOTS; Round Rock; mandated-reporter practice",
            "when": {
                "any": [
                    {
                        "fact": "category",
                        "op": "in",
                        "value": ["self_harm", "emotional_crisis", "abuse_disclosure"],
                    },
                    {"fact": "threat", "op": "eq", "value": "to_self"},
                ]
            },
        },
        {
            "id": "transient-threat",
            "name": "Any other threat",
            "route": "administrator",
            "also_notify": ["counselor"],
            "enabled": True,
            "rationale": "Any other threat (said in anger, retracted, no plan): school "
            "discipline with counselor follow-up. A threat report whose target or seriousness "
            "was not answered lands here too: the administrator and the counselor assess it "
            "(CSTAG: every threat is assessed), and words alone, unanswered or not, are not a "
            "life-safety fact; a weapon or danger right now, when reported, sends it higher.",
            "source": "CSTAG transient vs substantive",
            "when": {
                "any": [
                    {"fact": "threat", "op": "eq", "value": "to_others"},
                    {"fact": "category", "op": "eq", "value": "threat"},
                ]
            },
        },
        {
            "id": "drug-distribution",
            "name": "Drug distribution",
            "route": "administrator",
            "also_notify": ["sro"],
            "enabled": True,
            "rationale": "Drug distribution (not possession): the administrator responds and "
            "the SRO is notified (state-mandated report where configured).",
            "source": "Illinois mandatory reports",
            "when": {"fact": "category", "op": "eq", "value": "drug_distribution"},
        },
        {
            "id": "school-discipline",
            "name": "School discipline",
            "route": "administrator",
            "also_notify": [],
            "enabled": True,
            "rationale": "A fight or physical aggression without injury beyond first aid and "
            "without a weapon; disruption; vaping; theft or vandalism; bullying: school "
            "discipline, no role for the SRO. It needs the answers: an unanswered weapon or "
            "injury question does not match here (see the next rule).",
            "source": "Utah / Wake County MOUs; ED-DOJ 2016 letters; Philadelphia diversion; "
            "Florida s.1006.13 'petty acts'",
            "when": {
                "all": [
                    {"fact": "category", "op": "in", "value": list(SCHOOL_DISCIPLINE)},
                    {"fact": "injury", "op": "in", "value": ["none", "first_aid"]},
                    {"fact": "weapon", "op": "in", "value": ["none", "object_used_as_weapon"]},
                ]
            },
        },
        {
            "id": "school-discipline-unanswered",
            "name": "School discipline, some answers not given",
            "route": "administrator",
            "also_notify": [],
            "enabled": True,
            "rationale": "The same kinds of incident as school discipline, with the weapon or "
            "injury question not answered. Outside a reported weapon an unanswered question "
            "never by itself sends a student to the SRO or the co-responder team: the "
            "administrator responds, reads the reporter's words and asks what was not "
            "answered. A weapon or a serious injury, when answered, is caught by the rules "
            "above.",
            "source": "DOMAIN.md: an unknown answer never by itself sends a student to the SRO; "
            "ED-DOJ 2016 letters (no SRO role in routine discipline)",
            "when": {
                "all": [
                    {"fact": "category", "op": "in", "value": list(SCHOOL_DISCIPLINE)},
                    {"fact": "injury", "op": "in", "value": ["none", "first_aid", "unknown"]},
                    {
                        "fact": "weapon",
                        "op": "in",
                        "value": ["none", "object_used_as_weapon", "unknown"],
                    },
                ]
            },
        },
    ],
    "default_route": "administrator",
    "guardrails": {
        "life_safety_floor": {"enabled": True},
        "disability_safeguard": {"enabled": True, "reason": ""},
        "clinician_safeguard": {"enabled": True, "reason": ""},
        "minimum_age": {"enabled": True, "age": 10, "reason": ""},
    },
}


def default_policy() -> dict[str, Any]:
    """A fresh copy of the default policy, safe to edit."""
    return copy.deepcopy(DEFAULT_POLICY)
