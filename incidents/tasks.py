"""Celery tasks: take ids, load the row, call one service, return. No business rules here."""

import logging

from celery import shared_task
from django.db import DatabaseError

from . import services

logger = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 20,
}


@shared_task(name="incidents.tasks.incident_route_task", time_limit=30, soft_time_limit=20, **RETRY)
def incident_route_task(incident_id: int, coalesce: bool = False) -> None:
    # Routes this incident, then every incident waiting (see services.routing_wakeup_key);
    # ``coalesce``: a filing's message, which may wait a moment under load.
    services.incidents_route_waiting(incident_id=incident_id, coalesce=coalesce)


@shared_task(name="incidents.tasks.deliver_task", time_limit=30, soft_time_limit=20, **RETRY)
def deliver_task(item_ids: list[int]) -> None:
    # The queue item ids of one route (services.queue_items_deliver_later).
    services.queue_items_deliver(item_ids=item_ids)


@shared_task(name="incidents.tasks.sweep_unrouted", time_limit=60, soft_time_limit=50)
def sweep_unrouted() -> int:
    services.live_events_prune()
    return services.incidents_resend_unrouted() + services.queue_items_resend_undelivered()


@shared_task(name="incidents.tasks.escalate_overdue", time_limit=60, soft_time_limit=50)
def escalate_overdue() -> int:
    return services.queue_items_escalate_overdue()


# A retry waits in its worker, unacknowledged, until its countdown ends and it has run: the
# longest countdown plus the time limit stays below Redis's visibility timeout (300 s), or Redis
# would hand the waiting retry to a second worker too (tests/test_celery.py checks). Ten tries
# waiting up to 5 s, 10 s, ... 240 s span about the 20 minutes the eight longer ones did.
@shared_task(
    name="incidents.tasks.webhook_task",
    time_limit=30,
    soft_time_limit=20,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=240,
    max_retries=10,
)
def webhook_task(item_id: int, event: str) -> None:
    services.queue_item_webhook(item_id=item_id, event=event)
