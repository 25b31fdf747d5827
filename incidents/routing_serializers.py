"""The one shape of a routing decision in the API, for the incident and the queue item alike.

What a person may read of it is decided by ``selectors.routing_decision_for``; this only says
how it is written.
"""

from rest_framework import serializers


class RuleSerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True, help_text="The rule's id; null for the default.")
    name = serializers.CharField()


class RoutingDecisionSerializer(serializers.Serializer):
    route = serializers.CharField()
    route_label = serializers.CharField()
    rule = RuleSerializer()
    ruleset_version = serializers.IntegerField(allow_null=True)
    rationale = serializers.CharField(allow_blank=True)
    reasons = serializers.ListField(child=serializers.DictField())
    guardrails = serializers.ListField(child=serializers.DictField())
    also_notify = serializers.ListField(child=serializers.CharField())
    tried = serializers.ListField(
        child=serializers.DictField(), help_text="The rules tried first; empty for the reporter."
    )
    routed_at = serializers.DateTimeField()
