"""The Celery app. Its configuration (queues, how tasks map to them, the beat schedule) is
the CELERY_* settings in triage/settings.py.

Every task the product sends is mapped to a named queue (a test checks this), so a district
can run dedicated workers per queue, e.g. one that only consumes ``responder.sro``.
A worker started without ``-Q`` consumes every queue declared there.
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")

from django.conf import settings  # noqa: E402

QUEUE_NAMES: tuple[str, ...] = settings.QUEUE_NAMES

app = Celery("triage")
app.config_from_object("django.conf:settings", namespace="CELERY")
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
