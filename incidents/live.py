"""Live updates for open queue pages.

With Redis (REDIS_URL, or the broker when it is Redis) events go through pub/sub; with the
embedded default they go through a small table that the event stream polls, so live updates
still work with SQLite and no server.
"""

import json
import logging
import time
from collections.abc import Iterator

from django.conf import settings

logger = logging.getLogger(__name__)
CHANNEL = "triage:queue:{}"


def _payload(item, event: str) -> dict:
    # Ids, route and state only: the page fetches what the viewer may see.
    return {
        "event": event,
        "item": item.pk,
        "queue": item.queue_id,
        "incident": item.incident_id,
        "route": item.route,
        "state": item.state,
    }


def _redis():
    from triage.redis import client

    return client()


def publish_item(item, event: str) -> None:
    publish_items([item], event)


def publish_items(items, event: str) -> None:
    """Publish for these items in one round trip (a pipeline, or one INSERT of rows)."""
    try:
        if settings.REDIS_URL:
            pipe = _redis().pipeline(transaction=False)
            for item in items:
                pipe.publish(CHANNEL.format(item.queue_id), json.dumps(_payload(item, event)))
            pipe.execute()
        else:
            from .models import LiveEvent

            LiveEvent.objects.bulk_create(
                LiveEvent(queue_id=item.queue_id, payload=_payload(item, event)) for item in items
            )
    except Exception:
        # A missed live update is not a lost incident: the page also refreshes on focus.
        logger.warning(
            "live update for queue item(s) %s not published",
            ", ".join(str(item.pk) for item in items),
            exc_info=True,
        )


def listen(queue_ids: list[int], *, duration: float = 25.0) -> Iterator[dict | None]:
    """Yield events for these queues for ``duration`` seconds; None is a keep-alive tick."""
    deadline = time.monotonic() + duration
    if settings.REDIS_URL:
        pubsub = _redis().pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(*[CHANNEL.format(q) for q in queue_ids] or ["triage:none"])
            while time.monotonic() < deadline:
                message = pubsub.get_message(timeout=1.0)
                yield json.loads(message["data"]) if message else None
        finally:
            pubsub.close()
        return
    from .models import LiveEvent

    last = LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    while time.monotonic() < deadline:
        events = list(LiveEvent.objects.filter(pk__gt=last, queue_id__in=queue_ids).order_by("pk"))
        for event in events:
            last = event.pk
            yield event.payload
        if not events:
            yield None
            time.sleep(0.5)
