from rest_framework import serializers

from .models import RuleSet


class RuleSetSerializer(serializers.ModelSerializer):
    """A rule set reads back in the shape PUT accepts, plus its metadata."""

    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    published_by = serializers.CharField(
        source="published_by.username", default=None, allow_null=True
    )
    rules = serializers.JSONField(
        help_text="Ordered rules: {id, name, route, also_notify, enabled, rationale, source, "
        "when}; `when` is {all:[...]} | {any:[...]} | {not:{...}} | {fact, op, value}."
    )
    guardrails = serializers.JSONField(
        help_text=(
            "{life_safety_floor: {enabled: true}, disability_safeguard: {enabled, reason}, "
            "clinician_safeguard: {enabled, reason}, minimum_age: {enabled, age, reason}}. "
            "The life-safety floor cannot be turned off; turning another off needs a reason."
        )
    )

    class Meta:
        model = RuleSet
        fields = [
            "version",
            "status",
            "rules",
            "default_route",
            "guardrails",
            "based_on",
            "created_by",
            "created_at",
            "published_by",
            "published_at",
        ]


class RuleSetCreateSerializer(serializers.Serializer):
    based_on = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="The version to copy; defaults to the published one.",
    )


class RuleSetWriteSerializer(serializers.Serializer):
    """PUT body; validated in full by the rule engine (errors carry their paths)."""

    rules = serializers.JSONField()
    default_route = serializers.JSONField(required=False)
    guardrails = serializers.JSONField(required=False)
