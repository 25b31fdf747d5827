"""The choices of an incident's intake answers: what a teacher can say happened.

An unanswered safety question is ``unknown``, never ``none``.
"""

from django.db import models

NARRATIVE_MAX_LENGTH = 10_000


class Category(models.TextChoices):
    PHYSICAL_AGGRESSION = "physical_aggression", "Physical aggression or fight"
    THREAT = "threat", "Threat"
    WEAPON = "weapon", "Weapon"
    SELF_HARM = "self_harm", "Self-harm or suicidal talk"
    EMOTIONAL_CRISIS = "emotional_crisis", "Emotional crisis"
    BULLYING_HARASSMENT = "bullying_harassment", "Bullying or harassment"
    SEXUAL_MISCONDUCT = "sexual_misconduct", "Sexual misconduct or assault"
    SUBSTANCE_USE = "substance_use", "Substance use (vaping, alcohol, drugs)"
    DRUG_DISTRIBUTION = "drug_distribution", "Selling or giving out drugs"
    THEFT = "theft", "Theft"
    VANDALISM = "vandalism", "Vandalism"
    DISRUPTION = "disruption", "Disruption or defiance"
    ABUSE_DISCLOSURE = "abuse_disclosure", "A student disclosed abuse or neglect"
    MEDICAL = "medical", "Medical"
    INTRUDER = "intruder", "Intruder"
    OTHER = "other", "Other"


class Location(models.TextChoices):
    CLASSROOM = "classroom", "Classroom"
    HALLWAY = "hallway", "Hallway"
    CAFETERIA = "cafeteria", "Cafeteria"
    RESTROOM = "restroom", "Restroom"
    GYM = "gym", "Gym"
    PLAYGROUND = "playground", "Playground"
    LIBRARY = "library", "Library"
    OFFICE = "office", "Office"
    BUS = "bus", "Bus"
    PARKING_LOT = "parking_lot", "Parking lot"
    SCHOOL_EVENT = "school_event", "School event"
    ONLINE = "online", "Online"
    OTHER = "other", "Other"


class Weapon(models.TextChoices):
    NONE = "none", "No weapon"
    OBJECT_USED_AS_WEAPON = "object_used_as_weapon", "An everyday object used as a weapon"
    WEAPON_POSSESSED = "weapon_possessed", "A weapon (knife, etc.) seen or possessed"
    FIREARM = "firearm", "A gun"
    UNKNOWN = "unknown", "Not sure (not answered)"


class Injury(models.TextChoices):
    NONE = "none", "No injury"
    FIRST_AID = "first_aid", "Needed first aid only"
    MEDICAL_ATTENTION = "medical_attention", "Needs a nurse or doctor"
    SERIOUS = "serious", "Serious injury"
    UNKNOWN = "unknown", "Not sure (not answered)"


class Threat(models.TextChoices):
    NONE = "none", "No threat"
    TO_SELF = "to_self", "To hurt themself"
    TO_OTHERS = "to_others", "To hurt someone else"
    TO_KILL_OR_SERIOUSLY_INJURE = "to_kill_or_seriously_injure", "To kill or seriously injure"
    UNKNOWN = "unknown", "Not sure (not answered)"


class DangerNow(models.TextChoices):
    NONE = "none", "No one"
    TO_SELF = "to_self", "The student is in danger"
    TO_OTHERS = "to_others", "Other people are in danger"
    UNKNOWN = "unknown", "Not sure (not answered)"


class StudentState(models.TextChoices):
    CALM = "calm", "Calm"
    CALMING_DOWN = "calming_down", "Calming down"
    UPSET = "upset", "Upset"
    DYSREGULATED = "dysregulated", "Out of control (dysregulated)"
    UNKNOWN = "unknown", "Not sure (not answered)"


class WithNow(models.TextChoices):
    NOBODY = "nobody", "Nobody"
    TEACHER = "teacher", "A teacher"
    COUNSELOR = "counselor", "A counselor"
    SCHOOL_PSYCHOLOGIST = "school_psychologist", "The school psychologist"
    SOCIAL_WORKER = "social_worker", "A social worker"
    NURSE = "nurse", "The nurse"
    ADMINISTRATOR = "administrator", "An administrator"
    SRO = "sro", "The school resource officer"
    UNKNOWN = "unknown", "Not sure (not answered)"
