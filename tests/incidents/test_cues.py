"""The narrative cue word lists (English and Spanish) and which question each asks again."""

import pytest

from incidents.cues import CUES, narrative_cues, questions_to_ask_again


def names(text):
    return [cue.name for cue, _word in narrative_cues(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A student says another student has a gun in his backpack", ["gun"]),
        ("He showed a HANDGUN at lunch", ["gun"]),
        ("There was a pistol in the locker", ["gun"]),
        ("She had a knife", ["knife"]),
        ("kids with knives and a box cutter", ["knife"]),
        ("He said there is a bomb in the gym", ["bomb"]),
        ("He said he would shoot up the school", ["shooting"]),
        ("talking about a school shooting", ["shooting"]),
        ("He said he is going to kill him", ["killing"]),
        ("she wrote that she wants to kill herself", ["killing", "suicide"]),
        ("a note about suicide", ["suicide"]),
        ("He has been cutting himself", ["self_harm"]),
        ("talked about self-harm", ["self_harm"]),
        # Spanish, with and without accents.
        ("Dice que otro estudiante tiene una pistola en la mochila", ["gun"]),
        ("Trajo un arma de fuego", ["gun"]),
        ("Tenía un cuchillo y una navaja", ["knife"]),
        ("Dijo que hay una bomba en la escuela", ["bomb"]),
        ("Amenazó con disparar a todos", ["shooting"]),
        ("Habló de un tiroteo", ["shooting"]),
        ("Dijo que lo va a matar", ["killing"]),
        ("Quiere apuñalar a su compañero", ["killing"]),
        ("Habló de suicidio", ["suicide"]),
        ("Dijo que quiere quitarse la vida", ["suicide"]),
        ("Se corta los brazos", ["self_harm"]),
        ("Habla de hacerse daño", ["self_harm"]),
        # Words that only contain a cue are not one.
        ("Gunther was skilled at the shotput and ate a pistachio", []),
        ("He pushed a chair over and left the room", []),
        ("Se cortó el pelo en clase", []),
    ],
)
def test_cue_words(text, expected):
    assert names(text) == expected


def test_every_cue_has_english_and_spanish_words_and_a_question():
    for cue in CUES:
        assert cue.english and cue.spanish and cue.questions, cue.name
        assert set(cue.questions) <= {"weapon", "threat"}


@pytest.mark.parametrize(
    ("text", "answers", "expected"),
    [
        ("he has a gun", {"weapon": "none"}, {"weapon": "gun"}),
        ("he has a gun", {"weapon": ""}, {"weapon": "gun"}),
        ("he has a gun", {}, {"weapon": "gun"}),
        # "Not sure" is an answer, and a weapon answer is not doubted.
        ("he has a gun", {"weapon": "unknown"}, {}),
        ("he has a gun", {"weapon": "firearm"}, {}),
        (
            "he will shoot them",
            {"weapon": "none", "threat": "none"},
            {"weapon": "shoot", "threat": "shoot"},
        ),
        ("he will shoot them", {"weapon": "firearm", "threat": ""}, {"threat": "shoot"}),
        ("she talked about suicide", {"threat": "to_self"}, {}),
        ("she talked about suicide", {"threat": "none"}, {"threat": "suicide"}),
        ("tiene una pistola", {"weapon": "none"}, {"weapon": "pistola"}),
        ("He tipped a chair over", {"weapon": "none", "threat": "none"}, {}),
    ],
)
def test_questions_to_ask_again(text, answers, expected):
    assert questions_to_ask_again(text, answers) == expected
