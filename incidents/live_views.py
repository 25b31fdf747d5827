"""The live streams (server-sent events): a responder's queues, and one incident for the people
who may read it. Async views: an open stream is a coroutine waiting on incidents/live.py, with
no thread and no database connection of its own (see triage/asgi.py)."""

from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import live, live_cap, selectors
from .queue_views import _ensure_responder


def _queue_labels(user) -> dict[int, str]:
    _ensure_responder(user)
    return {q.pk: str(q) for q in selectors.queues_for(user)}


def _incident_readable(user, incident_id: int) -> int:
    return get_object_or_404(selectors.incidents_visible_to(user), pk=incident_id).pk


async def _stream(request: HttpRequest, user, channels: list[str], decorate=None) -> HttpResponse:
    try:
        release = await live_cap.stream_slot_take(user.pk)
    except live_cap.TooManyStreams:
        response = HttpResponse(
            "Too many live pages are open for you: close some tabs of this product.",
            status=429,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = "30"
        return response
    stream = live.event_stream(
        channels,
        last_event_id=request.headers.get("Last-Event-ID", "").strip(),
        decorate=decorate,
        # A synchronous server (runserver, the test live server) must not be held open: the
        # stream answers what it has and the browser reconnects with Last-Event-ID.
        duration=None if isinstance(request, ASGIRequest) else 0,
        on_close=release,
    )
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # let a proxy pass each event through at once
    return response


@never_cache
@login_required
@require_GET
async def queue_events(request: HttpRequest) -> HttpResponse:
    """Events for every queue the person works."""
    user = await request.auser()
    labels = await live.db_call(_queue_labels, user)

    def with_label(event: dict) -> dict:
        return {**event, "queue_label": labels.get(event.get("queue"), "")}

    channels = [live.queue_channel(queue_id) for queue_id in labels]
    return await _stream(request, user, channels, decorate=with_label)


@never_cache
@login_required
@require_GET
async def incident_events(request: HttpRequest, pk: int) -> HttpResponse:
    """Events for one incident (routed, acknowledged, resolved): its reporter's page."""
    user = await request.auser()
    incident_id = await live.db_call(_incident_readable, user, pk)
    return await _stream(request, user, [live.incident_channel(incident_id)])
