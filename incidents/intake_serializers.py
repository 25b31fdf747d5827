"""Input and output shapes of the incident API. The input serializer checks shape (types,
choices, lengths); the intake rules, the permission check and the roster are the intake
service's. Validation first; permission after."""

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from schools.models import School
from triage.api.fields import StrictCharField
from triage.api.prebuilt import PrebuiltFieldsMixin

from .models import (
    NARRATIVE_MAX_LENGTH,
    Category,
    DangerNow,
    Incident,
    IncidentStudent,
    Injury,
    InvolvementRole,
    Location,
    StudentState,
    Threat,
    Weapon,
    WithNow,
)
from .routing_serializers import RoutingDecisionSerializer
from .selectors import incident_current_route, incident_outcomes, routing_decision_for
from .services import intake

OMITTED_IS_UNKNOWN = (
    'Omitted: stored and returned as "unknown" (not answered), never as "none". In a '
    '"weapon" report an unknown weapon counts as a weapon possessed.'
)


def choice_field(choices, default=None, **kwargs):
    names = ", ".join(choices.values)
    field_kwargs = {
        "choices": choices.choices,
        "error_messages": {"invalid_choice": f'"{{input}}" is not one of: {names}.'},
        **kwargs,
    }
    if default is not None:
        field_kwargs["default"] = default
    return serializers.ChoiceField(**field_kwargs)


class InvolvedStudentInSerializer(PrebuiltFieldsMixin, serializers.Serializer):
    student_id = StrictCharField(required=False, max_length=40)
    name = StrictCharField(required=False, max_length=200)
    age = serializers.IntegerField(required=False, min_value=3, max_value=25)
    role = choice_field(InvolvementRole)

    def validate(self, attrs):
        has_id, has_name = "student_id" in attrs, "name" in attrs
        if has_id and (has_name or "age" in attrs):
            raise serializers.ValidationError({"student_id": [intake.STUDENT_ID_OR_NAME]})
        if not has_id and not has_name:
            raise serializers.ValidationError(
                {
                    "student_id": [
                        "Give a roster student_id, or a name (and age) for someone "
                        "not on the roster."
                    ]
                }
            )
        return attrs


class IncidentInSerializer(PrebuiltFieldsMixin, serializers.Serializer):
    school = StrictCharField(max_length=20, help_text="School code, e.g. WAS-MS.")
    occurred_at = serializers.DateTimeField(
        required=False,
        help_text="When it happened; defaults to now. Within the last two years and not more "
        "than 5 minutes in the future.",
    )
    location = choice_field(Location, default=Location.OTHER)
    category = choice_field(Category)
    narrative = StrictCharField(
        max_length=NARRATIVE_MAX_LENGTH,
        trim_whitespace=False,
        help_text="The reporter's own words, stored and shown verbatim.",
        error_messages={
            "max_length": intake.NARRATIVE_TOO_LONG,
            "blank": intake.NARRATIVE_MISSING,
        },
    )
    # Safety answers: omitted is `unknown` ("not sure"), never "none" (issue 12).
    weapon = choice_field(Weapon, default=Weapon.UNKNOWN, help_text=OMITTED_IS_UNKNOWN)
    injury = choice_field(Injury, default=Injury.UNKNOWN, help_text=OMITTED_IS_UNKNOWN)
    threat = choice_field(Threat, default=Threat.UNKNOWN, help_text=OMITTED_IS_UNKNOWN)
    threat_words = StrictCharField(
        required=False, allow_blank=True, max_length=2000, trim_whitespace=False, default=""
    )
    danger_now = choice_field(DangerNow, default=DangerNow.UNKNOWN, help_text=OMITTED_IS_UNKNOWN)
    student_state = choice_field(
        StudentState, default=StudentState.UNKNOWN, help_text=OMITTED_IS_UNKNOWN
    )
    with_now = choice_field(WithNow, default=WithNow.UNKNOWN, help_text=OMITTED_IS_UNKNOWN)
    students = InvolvedStudentInSerializer(many=True, required=False, default=list)
    idempotency_key = StrictCharField(
        required=False,
        max_length=64,
        allow_blank=True,
        default="",
        help_text="Optional; the same key from the same person files one incident "
        "(also accepted as the Idempotency-Key header).",
    )

    def run_validation(self, data=serializers.empty):
        """A filing whose every answer is plainly valid is read directly (``_plain_filing``);
        anything else, errors included, takes DRF's validation below, which is the
        reference: a test compares the two on generated filings."""
        if type(data) is dict:
            try:
                attrs = self._plain_filing(data)
                if attrs is not None:
                    return self.validate(attrs)
            except serializers.ValidationError:
                pass  # DRF's path says what is wrong, in its own words and shape
        return super().run_validation(data)

    def _plain_filing(self, data: dict) -> dict | None:
        """The validated answers, as DRF's fields give them, when each is of the plain kind
        a client sends (strings, a list of objects of strings and whole numbers) and passes
        its field's rules, with the ``validate_<field>`` checks; None for anything else.
        Per request DRF copies and binds a field object per field and runs each field's
        generic path: about a third of a millisecond of a filing's CPU, for the same
        answers."""
        if not data.keys() <= _PLAIN_FIELDS:
            return None
        attrs = {}
        empty = serializers.empty  # DRF's "not sent", and a required field's default
        for name, default, blank, trim, max_length in _PLAIN_TEXT:
            value = data.get(name, empty)
            if value is empty:
                if default is empty:
                    return None
                attrs[name] = default
                continue
            value = _plain_text(value, blank=blank, trim=trim, max_length=max_length)
            if value is None:
                return None
            attrs[name] = value
        for name, choices, default in _PLAIN_CHOICES:
            value = data.get(name, empty)
            if value is empty:
                if default is empty:
                    return None
                attrs[name] = default
            elif type(value) is str and value in choices:
                attrs[name] = value
            else:
                return None
        if "occurred_at" in data:
            if data["occurred_at"] is None:
                return None
            attrs["occurred_at"] = self.validate_occurred_at(
                _OCCURRED_AT.run_validation(data["occurred_at"])
            )
        students = data.get("students", empty)
        if students is empty:
            students = []
        else:
            students = _plain_students(students)
            if students is None:
                return None
        attrs["students"] = self.validate_students(students)
        attrs["narrative"] = self.validate_narrative(attrs["narrative"])
        attrs["school"] = self.validate_school(attrs["school"])
        return attrs

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Expected a JSON object with the incident's fields."]}
            )
        unknown = sorted(set(data) - set(self.fields))
        value = None
        errors = {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors = dict(exc.detail)
        students = errors.get("students")
        if isinstance(students, dict) and isinstance(data.get("students"), list):
            # One entry per student, {} for the good ones, as for roster errors.
            errors["students"] = [students.get(i, {}) for i in range(len(data["students"]))]
        for name in unknown:
            errors[name] = [f"Unknown field. Known fields: {', '.join(self.fields)}."]
        if errors:
            raise serializers.ValidationError(errors)
        return value

    # The rules beyond shape, and their messages, are the intake service's.
    def validate_narrative(self, value: str) -> str:
        return _checked(intake.intake_narrative_check, value)

    def validate_occurred_at(self, value):
        return _checked(intake.intake_occurred_at_check, value)

    def validate_school(self, value: str) -> School:
        return _checked(
            lambda code: intake.intake_school_find(
                reporter=self.context["request"].user, code=code
            ),
            value,
        )

    def validate_students(self, value):
        return _checked(intake.intake_students_count_check, value)

    def validate(self, attrs):
        # Permission (403) after the fields are valid, and only then the roster.
        try:
            attrs["students"] = intake.intake_students_resolve(
                reporter=self.context["request"].user,
                school=attrs["school"],
                entries=attrs.get("students", []),
            )
        except intake.IntakeInvalid as exc:
            raise serializers.ValidationError(exc.errors) from exc
        return attrs


# For IncidentInSerializer._plain_filing: the declared fields' rules, restated once.
_PLAIN_FIELDS = frozenset(IncidentInSerializer._declared_fields)
# (name, default or empty when required, allow_blank, trim_whitespace, max_length) of the
# text answers; every one that is not required has a default.
_PLAIN_TEXT = tuple(
    (name, field.default, field.allow_blank, field.trim_whitespace, field.max_length)
    for name, field in IncidentInSerializer._declared_fields.items()
    if isinstance(field, serializers.CharField)
)
# (name, the values allowed, default or empty when required) of the choices
_PLAIN_CHOICES = tuple(
    (name, frozenset(field.choice_strings_to_values), field.default)
    for name, field in IncidentInSerializer._declared_fields.items()
    if isinstance(field, serializers.ChoiceField)
)
# The declared field itself (never bound: instances get copies) parses the time.
_OCCURRED_AT = IncidentInSerializer._declared_fields["occurred_at"]
_STUDENT_FIELDS = frozenset(InvolvedStudentInSerializer._declared_fields)
_STUDENT_ROLES = frozenset(
    InvolvedStudentInSerializer._declared_fields["role"].choice_strings_to_values
)
_STUDENT_AGE = InvolvedStudentInSerializer._declared_fields["age"]
_STUDENT_TEXT = tuple(
    (name, field.allow_blank, field.trim_whitespace, field.max_length)
    for name, field in InvolvedStudentInSerializer._declared_fields.items()
    if isinstance(field, serializers.CharField)
)
# What DRF's CharField refuses in any text: NUL (Django's validator) and surrogates (DRF's).
_REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


def _plain_text(value, *, blank: bool, trim: bool, max_length: int | None) -> str | None:
    """A StrictCharField's value, or None where it would refuse it."""
    if type(value) is not str:
        return None
    if trim:
        value = value.strip()
    if not value:
        return "" if blank else None
    if max_length is not None and len(value) > max_length:
        return None
    if _REFUSED_CHARACTERS.search(value):
        return None
    return value


def _plain_students(entries) -> list | None:
    """InvolvedStudentInSerializer(many=True)'s value, or None where it would refuse it (or
    where its own rules decide: a student id with a name or age, neither given)."""
    if type(entries) is not list:
        return None
    students = []
    for entry in entries:
        if type(entry) is not dict or not entry.keys() <= _STUDENT_FIELDS:
            return None
        student = {}
        for name, blank, trim, max_length in _STUDENT_TEXT:
            if name in entry:
                value = _plain_text(entry[name], blank=blank, trim=trim, max_length=max_length)
                if value is None:
                    return None
                student[name] = value
        if "age" in entry:
            age = entry["age"]
            if type(age) is not int or not _STUDENT_AGE.min_value <= age <= _STUDENT_AGE.max_value:
                return None
            student["age"] = age
        role = entry.get("role")
        if type(role) is not str or role not in _STUDENT_ROLES:
            return None
        student["role"] = role
        has_id, has_name = "student_id" in student, "name" in student
        if (has_id and (has_name or "age" in student)) or not (has_id or has_name):
            return None  # InvolvedStudentInSerializer.validate's errors
        students.append(student)
    return students


def _checked(check, value):
    try:
        return check(value)
    except intake.IntakeInvalid as exc:
        raise serializers.ValidationError(exc.messages) from exc


class InvolvedStudentOutSerializer(PrebuiltFieldsMixin, serializers.ModelSerializer):
    student_id = serializers.CharField(source="student.student_id", default=None, allow_null=True)
    name = serializers.SerializerMethodField()

    class Meta:
        model = IncidentStudent
        fields = ["student_id", "name", "role"]

    def get_name(self, obj) -> str:
        return obj.student.full_name if obj.student else obj.name


class OutcomeSerializer(serializers.Serializer):
    route = serializers.CharField()
    outcome = serializers.CharField()
    summary = serializers.CharField()
    resolved_at = serializers.DateTimeField(source="closed_at")


# DRF's own representation of a date and time (format, time zone), unbound: it needs no parent.
_DATETIME = serializers.DateTimeField()
# The answers, written as they are stored (choices and text): DRF's ChoiceField and CharField
# give str().
_AS_STORED = (
    "location",
    "category",
    "narrative",
    "weapon",
    "injury",
    "threat",
    "threat_words",
    "danger_now",
    "student_state",
    "with_now",
)


class IncidentOutSerializer(PrebuiltFieldsMixin, serializers.ModelSerializer):
    school = serializers.CharField(source="school.code")
    filed_by = serializers.CharField(source="filed_by.username")
    students = InvolvedStudentOutSerializer(many=True, read_only=True)
    routing = serializers.SerializerMethodField()
    current_route = serializers.SerializerMethodField(
        help_text="Where the incident is now: a hand-off moves it from the routed route."
    )
    outcomes = serializers.SerializerMethodField(
        help_text="How responders closed it, with the summary the reporter may read."
    )

    class Meta:
        model = Incident
        fields = [
            "id",
            "status",
            "school",
            "filed_by",
            "filed_at",
            "occurred_at",
            *_AS_STORED,
            "students",
            "routing",
            "current_route",
            "outcomes",
        ]

    def to_representation(self, incident: Incident) -> dict:
        """The fields above, written directly. DRF's generic path builds and binds a field
        object per field and a nested serializer per list for every incident: about half a
        millisecond of the filing request's CPU. The declared fields stay the schema, and
        tests compare this with DRF's own ``Serializer.to_representation`` field by field."""
        optional = {None, ""}
        return {
            "id": incident.pk,
            "status": str(incident.status),
            "school": str(incident.school.code),
            "filed_by": str(incident.filed_by.username),
            "filed_at": _DATETIME.to_representation(incident.filed_at),
            "occurred_at": _DATETIME.to_representation(incident.occurred_at),
            **{
                name: value if value in optional else str(value)
                for name in _AS_STORED
                for value in (getattr(incident, name),)
            },
            "students": [
                {
                    "student_id": involved.student.student_id if involved.student else None,
                    "name": involved.student.full_name if involved.student else involved.name,
                    "role": str(involved.role),
                }
                for involved in incident.students.all()
            ],
            "routing": self.get_routing(incident),
            "current_route": self.get_current_route(incident),
            "outcomes": self.get_outcomes(incident),
        }

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_current_route(self, incident: Incident):
        if hasattr(incident, "current_route"):  # annotated, or known when just filed
            return incident.current_route
        return incident_current_route(incident)

    @extend_schema_field(OutcomeSerializer(many=True))
    def get_outcomes(self, incident: Incident):
        items = getattr(incident, "resolved_items", None)
        if items is None:
            items = incident_outcomes(incident)
        return OutcomeSerializer(items, many=True).data if items else []

    @extend_schema_field(RoutingDecisionSerializer(allow_null=True))
    def get_routing(self, incident: Incident):
        # What this reader may read of the decision: its reporter is not told roster facts.
        return routing_decision_for(self.context["request"].user, incident)
