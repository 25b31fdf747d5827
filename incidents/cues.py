"""Narrative cues: words in what the reporter typed that mean a safety question needs a second
look (issue 12). The one place these word lists live, in English and Spanish.

A cue never routes anything and never blocks a report for good: when the narrative mentions a
gun and the weapon answer is "No weapon" or unanswered, the form asks that question once more
before sending; whatever the reporter answers then is what is filed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

# Answers that a cue questions: "no" and not answered. "Not sure" (unknown) is an answer.
DOUBTED_ANSWERS = frozenset({"", "none"})


@dataclass(frozen=True, slots=True)
class Cue:
    name: str
    questions: tuple[str, ...]  # the form's safety questions this cue asks again
    english: tuple[str, ...]  # regular expressions over accent-free lower-case text
    spanish: tuple[str, ...]

    @property
    def pattern(self) -> re.Pattern[str]:
        return _PATTERNS[self.name]


CUES: tuple[Cue, ...] = (
    Cue(
        "gun",
        ("weapon",),
        (
            r"guns?",
            r"hand ?guns?",
            r"pistols?",
            r"revolvers?",
            r"rifles?",
            r"shot ?guns?",
            r"firearms?",
            r"glocks?",
            r"ar-?15s?",
            r"bullets?",
            r"ammo",
        ),
        (
            r"pistolas?",
            r"armas? de fuego",
            r"revolver(?:es)?",
            r"rifles?",
            r"escopetas?",
            r"balas?",
            r"fusil(?:es)?",
        ),
    ),
    Cue(
        "knife",
        ("weapon",),
        (
            r"knife",
            r"knives",
            r"blades?",
            r"box ?cutters?",
            r"machetes?",
            r"switchblades?",
            r"daggers?",
        ),
        (r"cuchill(?:o|os|a|as)", r"navajas?", r"machetes?", r"dagas?", r"armas? blancas?"),
    ),
    Cue(
        "bomb",
        ("weapon",),
        (r"bombs?", r"explosives?", r"grenades?", r"detonat\w*"),
        (r"bombas?", r"explosiv(?:o|os|a|as)", r"granadas?"),
    ),
    Cue(
        "shooting",
        ("weapon", "threat"),
        (r"shoot\w*", r"shot", r"shooter"),
        (r"dispar\w*", r"tirote\w*", r"balacera", r"bale(?:ar|o|a|aron)\w*"),
    ),
    Cue(
        "killing",
        ("threat",),
        (r"kill\w*", r"murder\w*", r"stab\w*"),
        (r"mat(?:ar|arlo|arla|arlos|o|are|a)", r"asesin\w*", r"apunal\w*"),
    ),
    Cue(
        "suicide",
        ("threat",),
        (
            r"suicid\w*",
            r"kill (?:himself|herself|themselves|themself|myself)",
            r"end (?:his|her|their|my) life",
            r"wants? to die",
        ),
        (r"suicid\w*", r"matarse", r"quitarse la vida", r"quiere morir\w*"),
    ),
    Cue(
        "self_harm",
        ("threat",),
        (
            r"self[- ]?harm\w*",
            r"cut(?:s|ting)? (?:himself|herself|themselves|themself|myself)",
            r"hurt(?:s|ing)? (?:himself|herself|themselves|themself|myself)",
        ),
        (r"autolesi\w*", r"cortarse", r"se corta", r"hacerse dano", r"lastimarse", r"se lastima"),
    ),
)

_PATTERNS = {
    cue.name: re.compile(r"\b(?:" + "|".join((*cue.english, *cue.spanish)) + r")\b") for cue in CUES
}

# What the form says when it asks again, per question.
ASK_AGAIN = {
    "weapon": 'Was there a weapon? Choose what kind, or "Not sure". If there was none, '
    "choose it again and send.",
    "threat": 'Did anyone threaten to hurt someone, or themself? Choose an answer, or "Not '
    'sure". If there was none, choose it again and send.',
}


def fold(text: str) -> str:
    """Lower case without accents: "Cuchillo", "apuñalar" -> "cuchillo", "apunalar"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def narrative_cues(text: str) -> list[tuple[Cue, str]]:
    """The cues in a narrative, each with the words that matched it (first occurrence)."""
    folded = fold(text)
    found = []
    for cue in CUES:
        match = cue.pattern.search(folded)
        if match:
            found.append((cue, match.group(0)))
    return found


def questions_to_ask_again(narrative: str, answers: Mapping[str, str]) -> dict[str, str]:
    """{question: the word that calls for it} for each cued question answered "no" or not at
    all. The order follows CUES."""
    asks: dict[str, str] = {}
    for cue, word in narrative_cues(narrative):
        for question in cue.questions:
            if question not in asks and (answers.get(question) or "") in DOUBTED_ANSWERS:
                asks[question] = word
    return asks
