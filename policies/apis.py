"""Rule sets as code: list, read, draft, edit, publish. District admins only, their district."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from triage.api.errors import Conflict

from . import engine, selectors, services
from .models import RuleSet
from .registry import registry_as_data
from .serializers import RuleSetCreateSerializer, RuleSetSerializer, RuleSetWriteSerializer

READ_ONLY_FIELDS = frozenset(
    {
        "version",
        "status",
        "based_on",
        "created_by",
        "created_at",
        "published_by",
        "published_at",
        "warnings",
    }
)


def problems_as_data(problems: list[engine.Problem]) -> list[dict]:
    return [{"path": p.path, "code": "invalid", "message": p.message} for p in problems]


def _get(user, version: int) -> RuleSet:
    return selectors.ruleset_get(user=user, version=version)


def _conflict(exc: Exception, ruleset: RuleSet | None = None) -> Conflict:
    return Conflict(str(exc), extra={"status": ruleset.status} if ruleset is not None else {})


class RuleSetListApi(APIView):
    @extend_schema(responses=RuleSetSerializer(many=True))
    def get(self, request):
        rulesets = selectors.rulesets_for(request.user)
        return Response(RuleSetSerializer(rulesets, many=True).data)

    @extend_schema(request=RuleSetCreateSerializer, responses={201: RuleSetSerializer})
    def post(self, request):
        selectors.district_for_admin(request.user)
        payload = RuleSetCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            ruleset = services.ruleset_create_draft(
                user=request.user, based_on=payload.validated_data.get("based_on")
            )
        except RuleSet.DoesNotExist as exc:
            raise ValidationError({"based_on": [str(exc)]}) from exc
        return Response(RuleSetSerializer(ruleset).data, status=status.HTTP_201_CREATED)


class RuleSetActiveApi(APIView):
    @extend_schema(responses=RuleSetSerializer)
    def get(self, request):
        district = selectors.district_for_admin(request.user)
        ruleset = selectors.ruleset_published(district)
        if ruleset is None:
            raise Http404("No published rule set.")
        return Response(RuleSetSerializer(ruleset).data)


class RuleSetDetailApi(APIView):
    @extend_schema(responses=RuleSetSerializer)
    def get(self, request, version: int):
        return Response(RuleSetSerializer(_get(request.user, version)).data)

    @extend_schema(
        request=RuleSetWriteSerializer,
        responses={200: RuleSetSerializer},
        description="Replace a draft's rules, default route and guardrails. 400 lists each "
        "problem with its path (e.g. rules[3].when.all[1].fact); 409 for a published or "
        "archived version. The response carries lint `warnings` that do not block publishing.",
    )
    def put(self, request, version: int):
        ruleset = _get(request.user, version)
        spec = request.data
        if isinstance(spec, dict):
            # What GET returns may be sent back as it is: its read-only fields are ignored.
            spec = {k: v for k, v in spec.items() if k not in READ_ONLY_FIELDS}
        try:
            ruleset, warnings = services.ruleset_update(
                user=request.user, version=version, spec=spec
            )
        except services.RulesetInvalid as exc:
            return Response(
                {"errors": problems_as_data(exc.errors)}, status=status.HTTP_400_BAD_REQUEST
            )
        except services.RulesetConflict as exc:
            raise _conflict(exc, ruleset) from exc
        data = RuleSetSerializer(ruleset).data
        data["warnings"] = problems_as_data(warnings)
        return Response(data)


class RuleSetValidateApi(APIView):
    @extend_schema(request=RuleSetWriteSerializer, responses={200: dict})
    def post(self, request, version: int):
        """Check a spec without saving it: errors and lint warnings with their paths."""
        _get(request.user, version)
        result = engine.validate_ruleset(request.data)
        return Response(
            {
                "errors": problems_as_data(result.errors),
                "warnings": problems_as_data(result.warnings),
            }
        )


class RuleSetPublishApi(APIView):
    @extend_schema(request=None, responses={200: RuleSetSerializer})
    def post(self, request, version: int):
        ruleset = _get(request.user, version)
        try:
            ruleset = services.ruleset_publish(user=request.user, version=version)
        except services.RulesetInvalid as exc:
            return Response(
                {"errors": problems_as_data(exc.errors)}, status=status.HTTP_400_BAD_REQUEST
            )
        except services.RulesetConflict as exc:
            raise _conflict(exc, ruleset) from exc
        return Response(RuleSetSerializer(ruleset).data)


class FieldRegistryApi(APIView):
    """The facts a rule may test, with types, values and operators (for editors)."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        selectors.district_for_admin(request.user)
        return Response(registry_as_data())
