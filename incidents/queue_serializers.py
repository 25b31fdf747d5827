"""Input and output shapes of the responder-queue API."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from triage.api.fields import StrictCharField

from .models import ItemState, Outcome, QueueItem, ResponderQueue, Route, TimelineEvent
from .routing_serializers import RoutingDecisionSerializer
from .selectors import QueueItemDetail
from .services import HANDOFF_REASON_MAX_LENGTH, NOTE_MAX_LENGTH, SUMMARY_MAX_LENGTH


def _choice(choices, **kwargs) -> serializers.ChoiceField:
    names = ", ".join(choices.values)
    return serializers.ChoiceField(
        choices=choices.choices,
        error_messages={"invalid_choice": f'"{{input}}" is not one of: {names}.'},
        **kwargs,
    )


class StateCountsSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
    claimed = serializers.IntegerField()
    acknowledged = serializers.IntegerField()
    resolved = serializers.IntegerField()
    handed_off = serializers.IntegerField()


class QueueSerializer(serializers.ModelSerializer):
    school = serializers.CharField(source="school.code")
    school_name = serializers.CharField(source="school.name")
    route_label = serializers.CharField(source="get_route_display")
    counts = serializers.SerializerMethodField()

    class Meta:
        model = ResponderQueue
        fields = ["id", "school", "school_name", "route", "route_label", "counts"]

    @extend_schema_field(StateCountsSerializer)
    def get_counts(self, queue: ResponderQueue) -> dict:
        return self.context["counts"].get(queue.pk, dict.fromkeys(ItemState.values, 0))


class QueueItemSerializer(serializers.ModelSerializer):
    incident = serializers.IntegerField(source="incident_id")
    school = serializers.CharField(source="queue.school.code")
    owner = serializers.CharField(source="owner.username", default=None, allow_null=True)
    category = serializers.CharField(source="incident.category")
    filed_at = serializers.DateTimeField(source="incident.filed_at")
    handed_off_to = serializers.IntegerField(source="handed_off_to_id", allow_null=True)

    class Meta:
        model = QueueItem
        fields = [
            "id",
            "incident",
            "school",
            "route",
            "state",
            "owner",
            "origin",
            "urgency",
            "category",
            "filed_at",
            "queued_at",
            "claimed_at",
            "acknowledged_at",
            "closed_at",
            "ack_deadline",
            "escalation_level",
            "outcome",
            "summary",
            "handed_off_to",
        ]


class TimelineEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)
    kind_label = serializers.CharField(source="get_kind_display")

    class Meta:
        model = TimelineEvent
        fields = ["id", "kind", "kind_label", "at", "actor", "private", "data"]


class StudentViewSerializer(serializers.Serializer):
    """Name and role; roster flags only where the item's route needs them (else absent)."""

    name = serializers.CharField()
    role = serializers.CharField()
    on_roster = serializers.BooleanField()
    iep = serializers.BooleanField(required=False)
    section_504 = serializers.BooleanField(required=False)
    bip = serializers.BooleanField(required=False)
    plan_contact = serializers.CharField(required=False)

    def to_representation(self, student):
        data = super().to_representation(student)
        return {key: value for key, value in data.items() if value is not None}


class AnswerSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    value = serializers.CharField()
    value_label = serializers.CharField()


class IncidentForResponderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    school = serializers.CharField(source="school.code")
    status = serializers.CharField()
    filed_by = serializers.CharField(source="filed_by.username")
    filed_at = serializers.DateTimeField()
    occurred_at = serializers.DateTimeField()
    narrative = serializers.CharField()
    threat_words = serializers.CharField()


def queue_item_detail_data(detail: QueueItemDetail) -> dict:
    incident = detail.item.incident
    return {
        **QueueItemSerializer(detail.item).data,
        "incident": {
            **IncidentForResponderSerializer(incident).data,
            "facts": {a.name: a.value for a in detail.answers},
            "facts_labelled": AnswerSerializer(detail.answers, many=True).data,
            "students": StudentViewSerializer(detail.students, many=True).data,
            "routing": RoutingDecisionSerializer(detail.routing).data if detail.routing else None,
        },
        "timeline": TimelineEventSerializer(detail.timeline, many=True).data,
    }


class NoteInSerializer(serializers.Serializer):
    text = StrictCharField(
        max_length=NOTE_MAX_LENGTH,
        trim_whitespace=False,
        error_messages={
            "blank": "Write the note before saving it.",
            "max_length": f"Keep a note under {NOTE_MAX_LENGTH:,} characters.",
        },
    )

    def validate_text(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Write the note before saving it.")
        return value


class HandoffInSerializer(serializers.Serializer):
    route = _choice(Route)
    reason = StrictCharField(
        max_length=HANDOFF_REASON_MAX_LENGTH,
        error_messages={"blank": "Say why you are handing this off."},
    )


class ResolveInSerializer(serializers.Serializer):
    outcome = _choice(Outcome)
    summary = StrictCharField(
        max_length=SUMMARY_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    state = serializers.CharField()
