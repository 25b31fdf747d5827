"""Input and output shapes of the incident API. The input serializer checks shape (types,
choices, lengths); the intake rules, the permission check and the roster are the intake
service's. Validation first; permission after."""

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
