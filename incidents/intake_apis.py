from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from policies import selectors as policy_selectors
from policies.preview import ruleset_preview
from triage.api.errors import Unprocessable

from . import selectors, services
from .facts import facts_from_intake
from .intake_serializers import IncidentInSerializer, IncidentOutSerializer
from .models import AccessAction, Incident, IncidentStudent

STUDENTS_WITH_ROSTER = Prefetch(
    "students", queryset=IncidentStudent.objects.select_related("student")
)


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Incidents: file one, list those you may see (newest first), read one."""

    serializer_class = IncidentOutSerializer

    def get_queryset(self):
        return (
            selectors.incidents_visible_to(self.request.user)
            .prefetch_related(STUDENTS_WITH_ROSTER, selectors.resolved_items_prefetch())
            .annotate(current_route=selectors.current_route_annotation())
            .order_by("-filed_at", "-id")
        )

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        # A list shows whole incidents (narrative, students): each one read is logged too.
        services.access_record_many(
            user=request.user, incidents=page, action=AccessAction.VIEW_INCIDENT
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        incident = self.get_object()
        services.access_record(
            user=request.user, incident=incident, action=AccessAction.VIEW_INCIDENT
        )
        return Response(self.get_serializer(incident).data)

    @extend_schema(
        request=IncidentInSerializer,
        responses={201: IncidentOutSerializer, 200: IncidentOutSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        description="File an incident. 201 with the incident; a repeated Idempotency-Key "
        "with the same body answers 200 with the incident it first created, with a different "
        "body 422 naming that incident (`incident`) and filing nothing. 400 with errors keyed "
        "by field; 403 for a school where you have no role. A safety answer (weapon, injury, "
        "threat, danger_now, student_state, with_now) that is omitted is stored and returned "
        'as "unknown", never as "none"; a "weapon" report whose weapon is unknown is routed '
        "as a weapon possessed (the SRO responds).",
    )
    def create(self, request):
        serializer = IncidentInSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        key = data.pop("idempotency_key", "") or request.headers.get("Idempotency-Key", "")[:64]
        try:
            incident, created = services.incident_file(
                reporter=request.user, idempotency_key=key, **data
            )
        except services.IdempotencyKeyReused as reused:
            raise Unprocessable(
                str(reused), code="idempotency_key_reused", extra={"incident": reused.incident.pk}
            ) from reused
        if created:
            # Just written: it has no queue item yet, so nothing to read back for these.
            incident.current_route, incident.resolved_items = incident.route, []
        else:
            # A repeated key: the incident filed before, which its reporter may always read.
            incident = (
                Incident.objects.select_related("school", "filed_by")
                .prefetch_related(STUDENTS_WITH_ROSTER)
                .get(pk=incident.pk)
            )
        return Response(
            IncidentOutSerializer(incident, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RuleSetPreviewApi(APIView):
    """What a rule-set version decides for a sample incident, and why. Nothing is saved.

    Lives here, not in policies, because it reads the roster and an incident's fields:
    policies only ever receives plain facts.
    """

    @extend_schema(
        request=IncidentInSerializer,
        responses={200: dict},
        description="The same fields as filing an incident; answers the facts the engine saw "
        "and its decision: route, also_notify, rule, reasons, rules tried, guardrails.",
    )
    def post(self, request, version: int):
        ruleset = policy_selectors.ruleset_get(user=request.user, version=version)
        serializer = IncidentInSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        facts = facts_from_intake(data)
        preview = ruleset_preview(ruleset=ruleset, facts=facts)
        if preview.decision is None:
            # A draft with errors decides nothing: say what to fix, as validating would.
            raise serializers.ValidationError(
                {
                    "ruleset": [
                        f"Version {ruleset.version} has errors: {p.path}: {p.message}"
                        for p in preview.errors
                    ]
                }
            )
        return Response(
            {
                "ruleset_version": ruleset.version,
                "status": ruleset.status,
                "facts": facts,
                "decision": preview.decision.as_dict(),
            }
        )
