"""The responder-queue API: the queues you work, their items, and the actions on an item.

Illegal transitions answer 409 with {"detail", "state"}; bad input 400 keyed by field; an item
you cannot see 404; an item of an incident you filed (but do not respond to) 403.
"""

from django.http import Http404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from triage.api.errors import Conflict

from . import selectors, services
from .models import AccessAction, ItemState
from .queue_serializers import (
    ConflictSerializer,
    HandoffInSerializer,
    NoteInSerializer,
    QueueItemSerializer,
    QueueSerializer,
    ResolveInSerializer,
    TimelineEventSerializer,
    queue_item_detail_data,
)


def _run(call, render) -> Response:
    """Call a service and answer with render(result), or with its error."""
    try:
        result = call()
    except services.QueueItemConflict as conflict:
        raise Conflict(conflict.message, extra={"state": conflict.state}) from conflict
    return render(result)


class QueueListApi(APIView):
    """The queues you work (every queue of your district for a district admin), with counts."""

    @extend_schema(responses=QueueSerializer(many=True))
    def get(self, request):
        queues = list(selectors.queues_for(request.user))
        counts = selectors.queue_state_counts(q.pk for q in queues)
        return Response(QueueSerializer(queues, many=True, context={"counts": counts}).data)


class QueueItemListApi(generics.ListAPIView):
    """One queue's items, most urgent first, then oldest. ?state=queued,claimed filters."""

    serializer_class = QueueItemSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "state", str, description="Comma-separated states; default: every state."
            )
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        queue = (
            selectors.queues_for(self.request.user)
            .filter(school__code__iexact=self.kwargs["school_code"], route=self.kwargs["route"])
            .first()
        )
        if queue is None:
            raise Http404("You do not work this queue.")
        states = [s for s in self.request.query_params.get("state", "").split(",") if s]
        unknown = sorted(set(states) - set(ItemState.values))
        if unknown:
            raise serializers.ValidationError(
                {"state": [f'Unknown state "{unknown[0]}"; use: {", ".join(ItemState.values)}.']}
            )
        items = selectors.queue_items_for(self.request.user).filter(queue=queue)
        if states:
            items = items.filter(state__in=states)
        return items.order_by("urgency", "queued_at", "id")


_CONFLICT = {409: ConflictSerializer}


class QueueItemViewSet(viewsets.GenericViewSet):
    """One item: read it (logged in the access log), claim, acknowledge, note, hand off, resolve."""

    serializer_class = QueueItemSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):  # for the schema only: every read goes through the selectors
        return selectors.queue_items_for(self.request.user)

    @extend_schema(
        responses=inline_serializer(
            "QueueItemDetail",
            {
                "id": serializers.IntegerField(),
                "incident": serializers.DictField(),
                "timeline": TimelineEventSerializer(many=True),
            },
        )
    )
    def retrieve(self, request, pk: int):
        detail = selectors.queue_item_detail(request.user, int(pk))
        services.access_record(
            user=request.user,
            incident=detail.item.incident,
            action=AccessAction.VIEW_ITEM,
            queue_item=detail.item,
        )
        return Response(queue_item_detail_data(detail))

    @extend_schema(request=None, responses={200: QueueItemSerializer, **_CONFLICT})
    @action(detail=True, methods=["post"])
    def claim(self, request, pk: int):
        return _run(
            lambda: services.queue_item_claim(user=request.user, item_id=int(pk)),
            lambda item: Response(QueueItemSerializer(item).data),
        )

    @extend_schema(request=None, responses={200: QueueItemSerializer, **_CONFLICT})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk: int):
        return _run(
            lambda: services.queue_item_acknowledge(user=request.user, item_id=int(pk)),
            lambda item: Response(QueueItemSerializer(item).data),
        )

    @extend_schema(
        request=None,
        responses={200: QueueItemSerializer, **_CONFLICT},
        description="On a co-responder item, a member who is on the way takes the lead (the "
        "clinician leads unless the team says otherwise).",
    )
    @action(detail=True, methods=["post"])
    def lead(self, request, pk: int):
        return _run(
            lambda: services.queue_item_lead_take(user=request.user, item_id=int(pk)),
            lambda item: Response(QueueItemSerializer(item).data),
        )

    @extend_schema(request=NoteInSerializer, responses={201: TimelineEventSerializer, **_CONFLICT})
    @action(detail=True, methods=["post"])
    def notes(self, request, pk: int):
        data = _valid(NoteInSerializer, request)
        return _run(
            lambda: services.queue_item_note(user=request.user, item_id=int(pk), **data),
            lambda event: Response(
                TimelineEventSerializer(event).data, status=status.HTTP_201_CREATED
            ),
        )

    @extend_schema(
        request=HandoffInSerializer,
        responses={
            200: inline_serializer(
                "Handoff", {"item": QueueItemSerializer(), "new_item": QueueItemSerializer()}
            ),
            **_CONFLICT,
        },
    )
    @action(detail=True, methods=["post"])
    def handoff(self, request, pk: int):
        data = _valid(HandoffInSerializer, request)
        return _run(
            lambda: services.queue_item_handoff(user=request.user, item_id=int(pk), **data),
            lambda items: Response(
                {
                    "item": QueueItemSerializer(items[0]).data,
                    "new_item": QueueItemSerializer(items[1]).data,
                }
            ),
        )

    @extend_schema(request=ResolveInSerializer, responses={200: QueueItemSerializer, **_CONFLICT})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk: int):
        data = _valid(ResolveInSerializer, request)
        return _run(
            lambda: services.queue_item_resolve(user=request.user, item_id=int(pk), **data),
            lambda item: Response(QueueItemSerializer(item).data),
        )


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


_router = SimpleRouter()
_router.register("queue-items", QueueItemViewSet, basename="queue-item")

queue_api_urlpatterns = [
    path("queues/", QueueListApi.as_view(), name="queue-list"),
    path(
        "queues/<str:school_code>/<str:route>/items/",
        QueueItemListApi.as_view(),
        name="queue-items",
    ),
    *_router.urls,
]
