"""The intake API reads a plainly valid filing directly (IncidentInSerializer._plain_filing)
and everything else with DRF's validation: both must give the same answer, whatever is sent.
DRF's path is the reference, so a filing the direct path reads differently fails here."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from incidents.intake_serializers import IncidentInSerializer
from incidents.models import (
    Category,
    DangerNow,
    Injury,
    Location,
    StudentState,
    Threat,
    Weapon,
    WithNow,
)
from schools.models import Role
from tests.factories import SchoolFactory, StudentFactory, user_with_role


class ReferenceSerializer(IncidentInSerializer):
    """The same serializer with DRF's validation only."""

    def run_validation(self, data=serializers.empty):
        return serializers.Serializer.run_validation(self, data)


@pytest.fixture
def context(school):
    SchoolFactory(district=school.district, code="JEF-HS")  # a school where the teacher has no role
    StudentFactory(school=school, student_id="S1")
    StudentFactory(school=school, student_id="S2")
    request = Request(APIRequestFactory().post("/api/incidents/"))
    request.user = user_with_role(Role.TEACHER, school, username="t")
    return {"request": request}


def outcome(serializer_class, data, context):
    serializer = serializer_class(data=data, context=context)
    try:
        if serializer.is_valid():
            return "valid", dict(serializer.validated_data)
    except PermissionDenied as exc:
        return "denied", str(exc)
    return "invalid", serializer.errors


def same(data, context):
    ours = outcome(IncidentInSerializer, data, context)
    assert ours == outcome(ReferenceSerializer, data, context)
    return ours


def text(*examples):
    return st.one_of(
        st.sampled_from([*examples, "", " ", "  x  ", "a\x00b", "a\ud800b", "x" * 2001, "é" * 25]),
        st.text(max_size=30),
    )


def anything():
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 30),
        st.floats(),
        st.lists(st.integers(), max_size=2),
    )


def choice(values):
    return st.one_of(st.sampled_from([*values, *(v.upper() for v in values)]), text(), anything())


def when():
    now = timezone.now()
    return st.one_of(
        st.sampled_from(
            [
                (now - timedelta(hours=1)).isoformat(),
                (now - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),  # naive: the current zone
                (now + timedelta(days=1)).isoformat(),  # the future
                (now - timedelta(days=900)).isoformat(),  # too long ago
                "yesterday",
                "2026-02-30T10:00:00Z",
            ]
        ),
        anything(),
    )


def student():
    return st.dictionaries(
        st.sampled_from(["student_id", "name", "age", "role", "grade"]),
        st.one_of(
            text("S1", "S2", "S9", " S1 ", "Sam"),
            st.integers(0, 30),
            st.sampled_from(["subject", "target", "witness"]),
            anything(),
        ),
        max_size=4,
    )


FIELDS = {
    "school": text("WAS-MS", "was-ms", " WAS-MS ", "JEF-HS", "NOPE"),
    "category": choice(list(Category.values)),
    "location": choice(list(Location.values)),
    "narrative": text("He hit a classmate in the hallway.", "  ", "ok"),
    "weapon": choice(list(Weapon.values)),
    "injury": choice(list(Injury.values)),
    "threat": choice(list(Threat.values)),
    "threat_words": text("I will", ""),
    "danger_now": choice(list(DangerNow.values)),
    "student_state": choice(list(StudentState.values)),
    "with_now": choice(list(WithNow.values)),
    "occurred_at": when(),
    "students": st.one_of(st.lists(student(), max_size=3), anything()),
    "idempotency_key": text("k-1", "", " k "),
    "extra": anything(),
}
REQUIRED = {"school": "WAS-MS", "category": "disruption", "narrative": "It happened."}


@st.composite
def filings(draw):
    # Mostly complete filings (so the direct path is taken), with some answers changed.
    data = dict(REQUIRED) if draw(st.booleans()) else {}
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=6, unique=True)):
        data[name] = draw(FIELDS[name])
    for name in draw(st.lists(st.sampled_from(sorted(REQUIRED)), max_size=1)):
        data.pop(name, None)
    return data


@pytest.mark.django_db
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=filings())
def test_the_direct_path_answers_as_drf_on_generated_filings(context, data):
    same(data, context)


@pytest.mark.django_db
def test_plain_filings_take_the_direct_path_and_read_as_drf_reads_them(context):
    now = timezone.now()
    plain = [
        REQUIRED,
        {**REQUIRED, "school": " was-ms ", "idempotency_key": " k-1 ", "threat_words": " "},
        {
            **REQUIRED,
            "location": "bus",
            "weapon": "firearm",
            "injury": "first_aid",
            "threat": "to_others",
            "threat_words": "I will get you",
            "danger_now": "to_others",
            "student_state": "upset",
            "with_now": "teacher",
            "occurred_at": (now - timedelta(minutes=10)).isoformat(),
            "students": [
                {"student_id": " S1 ", "role": "subject"},
                {"name": " Alex ", "age": 12, "role": "target"},
                {"name": "Sam", "role": "witness"},
            ],
            "idempotency_key": "abc",
        },
    ]
    for data in plain:
        serializer = IncidentInSerializer(data=data, context=context)
        assert serializer._plain_filing(data) is not None, data
        kind, validated = same(data, context)
        assert kind == "valid"
    # Defaults: unanswered safety questions are unknown, never none.
    _, validated = same(REQUIRED, context)
    assert validated["weapon"] == "unknown" and validated["danger_now"] == "unknown"
    assert validated["students"] == [] and "occurred_at" not in validated


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"school": "JEF-HS"},  # no role there: 403, as DRF's path
        {"school": "NOPE"},
        {"narrative": "   "},
        {"weapon": "none "},
        {"students": [{"student_id": "S9", "role": "subject"}]},  # not on the roster
        {"students": [{"student_id": "S1", "name": "Sam", "role": "subject"}]},
        {"students": [{"student_id": "S1", "role": "subject"}] * 2},  # listed twice
        {"students": [{"name": "Sam", "age": True, "role": "subject"}]},
        {"students": [{"name": "Sam", "age": 2, "role": "subject"}]},
        {"students": [{"name": "Sam", "age": 26, "role": "subject"}]},
        {"students": [{"name": "Sam", "role": "subject"}] * 51},
        {"occurred_at": None},
        {"extra": 1},
    ],
)
def test_what_the_direct_path_refuses_is_answered_by_drf(context, change):
    kind, _ = same({**REQUIRED, **change}, context)
    assert kind in {"invalid", "denied"}
