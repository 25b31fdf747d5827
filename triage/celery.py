"""The Celery app: its queues, how tasks map to them, and the beat schedule.

Every task the product sends is mapped to a named queue (a test checks this), so a district
can run dedicated workers per queue, e.g. one that only consumes ``responder.sro``.
A worker started without ``-Q`` consumes every queue declared here.
"""

import os

from celery import Celery, signals
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")

from django.conf import settings  # noqa: E402

ROUTES = ("counselor", "administrator", "co_responder", "sro")
QUEUE_NAMES = ("routing", *(f"responder.{route}" for route in ROUTES), "maintenance", "analysis")

app = Celery("triage")
app.conf.update(
    broker_url=settings.CELERY_BROKER_URL,
    # Each queue has its own routing key: one declared without it is bound to the default key
    # and would receive copies of default-queue tasks.
    task_queues=[Queue(name, routing_key=name) for name in QUEUE_NAMES],
    task_default_queue="maintenance",
    task_default_routing_key="maintenance",
    task_routes={
        "incidents.tasks.incident_route_task": {"queue": "routing", "routing_key": "routing"},
        "incidents.tasks.sweep_unrouted": {"queue": "maintenance", "routing_key": "maintenance"},
        "incidents.tasks.escalate_overdue": {"queue": "maintenance", "routing_key": "maintenance"},
        "incidents.tasks.webhook_task": {"queue": "maintenance", "routing_key": "maintenance"},
        "reports.tasks.replay_end_stalled": {"queue": "maintenance", "routing_key": "maintenance"},
        "schools.tasks.oneroster_sync": {"queue": "maintenance", "routing_key": "maintenance"},
        # Long, CPU-bound what-if replays never hold up routing or deliveries.
        "reports.tasks.replay_run_task": {"queue": "analysis", "routing_key": "analysis"},
        "reports.tasks.replay_chunk_task": {"queue": "analysis", "routing_key": "analysis"},
        # Deliveries go to responder.<route>, chosen when sent: life-safety deliveries never
        # wait behind a backlog of others. This default only catches a send without a route.
        "incidents.tasks.deliver_task": {
            "queue": "responder.administrator",
            "routing_key": "responder.administrator",
        },
    },
    # Nothing accepted is lost: a task is acknowledged only after it ran, is handed back when
    # its worker dies, and a worker holds one message at a time.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=60,
    task_soft_time_limit=45,
    task_ignore_result=True,
    result_backend=None,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    broker_transport_options=(
        {
            # Redis hands a message whose worker died to another worker after this long.
            "visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT,
            # Sending gives up quickly when Redis is down: the request that filed the
            # incident must not wait, and the beat sweep re-sends from the database.
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        }
        if settings.BROKER_IS_REDIS
        else {}
    ),
    worker_send_task_events=False,
    timezone=settings.TIME_ZONE,
    enable_utc=True,
    beat_schedule={
        # The incident row is its own outbox: anything still unrouted is sent again.
        "resend-unrouted": {
            "task": "incidents.tasks.sweep_unrouted",
            "schedule": settings.SWEEP_SECONDS,
        },
        "escalate-overdue": {
            "task": "incidents.tasks.escalate_overdue",
            "schedule": settings.SWEEP_SECONDS,
        },
        # A replay whose worker died or whose message was lost is ended, so a new one can start.
        "end-stalled-replays": {"task": "reports.tasks.replay_end_stalled", "schedule": 60.0},
        # A new OneRoster set in ONEROSTER_DROP_DIR is imported (a no-op when unset).
        "oneroster-sync": {
            "task": "schools.tasks.oneroster_sync",
            "schedule": settings.ONEROSTER_SYNC_SECONDS,
        },
    },
)
app.autodiscover_tasks()


@signals.worker_process_init.connect
def _plain_connections_in_prefork_children(**kwargs) -> None:
    """A prefork child uses one plain database connection per task, not the pool.

    Celery's Django fixup closes the connection before and after every task, and in a prefork
    child it closes the whole pool too: a pool would be built again, threads and all, for
    every task. (Threads in one process, e.g. gunicorn's or a threads pool's, share the pool.)
    """
    from django.db import connections

    for connection in connections.all(initialized_only=False):
        connection.settings_dict.get("OPTIONS", {}).pop("pool", None)
