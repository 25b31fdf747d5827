"""Input and output shapes of the incident API. Validation first; permission after."""

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from schools.models import School, Student
from schools.selectors import has_role_at, memberships_of
from triage.api.fields import StrictCharField
from triage.api.prebuilt import PrebuiltFieldsMixin

from .facts import INTAKE_FACTS
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
from .selectors import incident_current_route, incident_outcomes
from .services import InvolvedStudent

CLOCK_SKEW = timedelta(minutes=5)
OMITTED_IS_UNKNOWN = (
    'Omitted: stored and returned as "unknown" (not answered), never as "none". In a '
    '"weapon" report an unknown weapon counts as a weapon possessed.'
)
# How far back a report may be dated: the last two years (older dates are typing mistakes,
# and years before 1900 do not even print as RFC 3339 in every zone).
OCCURRED_AT_MAX_AGE = timedelta(days=2 * 366)
MAX_STUDENTS = 50


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
            raise serializers.ValidationError(
                {"student_id": ["Give either a roster student_id or a name and age, not both."]}
            )
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
            "max_length": f"Keep the narrative under {NARRATIVE_MAX_LENGTH:,} characters.",
            "blank": "Describe what happened in your own words.",
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

    def validate_narrative(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Describe what happened in your own words.")
        return value

    def validate_occurred_at(self, value):
        now = timezone.now()
        if value > now + CLOCK_SKEW:
            raise serializers.ValidationError("This time is in the future; give when it happened.")
        if value < now - OCCURRED_AT_MAX_AGE:
            raise serializers.ValidationError(
                "This time is more than two years ago; check the year and give when it happened."
            )
        return value

    def validate_school(self, value: str) -> School:
        code = value.strip().lower()
        request = self.context.get("request")
        for membership in memberships_of(request.user) if request else ():
            if membership.school.code.lower() == code:  # the reporter's own school: no query
                return membership.school
        school = School.objects.select_related("district").filter(code__iexact=code).first()
        if school is None:
            raise serializers.ValidationError(f'Unknown school code "{value}".')
        return school

    def validate_students(self, value):
        if len(value) > MAX_STUDENTS:
            raise serializers.ValidationError(f"At most {MAX_STUDENTS} students per incident.")
        return value

    def validate(self, attrs):
        school = attrs["school"]
        user = self.context["request"].user
        # Validation first, permission next, and only then the roster: nobody learns who is
        # on the roster of a school where they have no role.
        if not has_role_at(user, school):
            raise PermissionDenied(f"You have no role at {school.code}.")
        attrs["students"] = resolve_students(school, attrs.get("students", []))
        return attrs


def resolve_students(school: School, entries: list[dict]) -> list[InvolvedStudent]:
    """Roster lookups for the students involved; errors keyed by position, like DRF's."""
    ids = [e["student_id"] for e in entries if "student_id" in e]
    found = (
        {
            s.student_id: s
            for s in Student.objects.filter(
                district_id=school.district_id, student_id__in=ids, on_roster=True
            )
        }
        if ids
        else {}
    )
    resolved: list[InvolvedStudent] = []
    errors: list[dict] = []
    seen: set[str] = set()
    for entry in entries:
        error: dict = {}
        if "student_id" in entry:
            student = found.get(entry["student_id"])
            if student is None or student.school_id != school.pk:
                # One message for both: a reporter does not learn that an id exists at
                # another school of the district.
                error["student_id"] = [
                    f'No student "{entry["student_id"]}" on the roster of {school.code}.'
                ]
            elif student.student_id in seen:
                error["student_id"] = [f'Student "{entry["student_id"]}" is listed twice.']
            else:
                seen.add(student.student_id)
                resolved.append(InvolvedStudent(role=entry["role"], student=student))
        else:
            name = entry["name"].strip()
            if not name:
                error["name"] = ["Give the person's name."]
            resolved.append(InvolvedStudent(role=entry["role"], name=name, age=entry.get("age")))
        errors.append(error)
    if any(errors):
        raise serializers.ValidationError({"students": errors})
    return resolved


class InvolvedStudentOutSerializer(PrebuiltFieldsMixin, serializers.ModelSerializer):
    student_id = serializers.CharField(source="student.student_id", default=None, allow_null=True)
    name = serializers.SerializerMethodField()

    class Meta:
        model = IncidentStudent
        fields = ["student_id", "name", "role"]

    def get_name(self, obj) -> str:
        return obj.student.full_name if obj.student else obj.name


class RoutingSerializer(serializers.Serializer):
    route = serializers.CharField()
    rule = serializers.DictField()
    ruleset_version = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.DictField())
    guardrails = serializers.ListField(child=serializers.DictField())
    also_notify = serializers.ListField(child=serializers.CharField())
    routed_at = serializers.DateTimeField()


class OutcomeSerializer(serializers.Serializer):
    route = serializers.CharField()
    outcome = serializers.CharField()
    summary = serializers.CharField()
    resolved_at = serializers.DateTimeField(source="closed_at")


# Facts the routing read from the roster or the school's records, not from the filing: the
# reporter is not told them through the explanation (e.g. that a student has an IEP).
REPORTER_WITHHELD_GUARDRAILS = {"disability_safeguard"}
REPORTER_ROSTER_RULE = "A rule that also reads the students' school records"


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
            "students",
            "routing",
            "current_route",
            "outcomes",
        ]

    def _for_reporter(self, incident: Incident) -> bool:
        request = self.context.get("request")
        return request is not None and request.user.pk == incident.filed_by_id

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
        return OutcomeSerializer(items, many=True).data

    @extend_schema_field(RoutingSerializer(allow_null=True))
    def get_routing(self, incident: Incident):
        if incident.route is None:
            return None
        decision = incident.decision or {}
        reasons = decision.get("reasons", [])
        guardrails = decision.get("guardrails", [])
        tried = decision.get("tried", [])
        rule = {"id": incident.rule_id or None, "name": incident.rule_name or "Default route"}
        rationale = decision.get("rationale", "")
        if self._for_reporter(incident):
            # The reporter sees why, in terms of what they reported; the roster facts (IEP,
            # 504, BIP, age, earlier incidents) and the rules tried stay with the responders.
            # A rule that tested roster facts would name them: it is not named either.
            if any(r.get("fact") not in INTAKE_FACTS for r in reasons):
                rule = {"id": None, "name": REPORTER_ROSTER_RULE}
                rationale = ""
            reasons = [r for r in reasons if r.get("fact") in INTAKE_FACTS]
            guardrails = [
                g for g in guardrails if g.get("guardrail") not in REPORTER_WITHHELD_GUARDRAILS
            ]
            tried = []
        return {
            "route": incident.route,
            "rule": rule,
            "ruleset_version": incident.ruleset_version,
            "reasons": reasons,
            "guardrails": guardrails,
            "also_notify": decision.get("also_notify", []),
            "rationale": rationale,
            "tried": tried,
            "routed_at": incident.routed_at,
        }
