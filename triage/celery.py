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


# A prefork child keeps its database connection from one task to the next (see below):
# Celery's Django fixup would otherwise close it around every task, and a new PostgreSQL
# connection cost each routing task 10-40 ms of its latency. The fixup now recycles it only
# every this many tasks; between tasks Django's own rules decide (below).
app.conf["CELERY_DB_REUSE_MAX"] = 1000


@signals.worker_process_init.connect
def _persistent_connections_in_prefork_children(**kwargs) -> None:
    """A prefork child uses one plain database connection, kept between tasks, not the pool.

    The pool is for threads in one process (gunicorn's, a threads pool's); in a prefork child
    the fixup would close the whole pool now and then, to be built again, threads and all.
    The connection lives DATABASE_CONN_MAX_AGE seconds (as without a pool), is checked before
    the first query of each task (so one dropped by a database restart is replaced, not used)
    and is closed after a task that left it broken or in a transaction, as Django does for
    each web request.
    """
    from django.conf import settings
    from django.db import connections

    max_age = settings.DATABASE_CONN_MAX_AGE
    for connection in connections.all(initialized_only=False):
        options = connection.settings_dict.get("OPTIONS", {})
        if options.pop("pool", None) is not None:
            connection.settings_dict["CONN_MAX_AGE"] = max_age
            connection.settings_dict["CONN_HEALTH_CHECKS"] = True


@signals.task_prerun.connect
@signals.task_postrun.connect
def _connections_checked_around_tasks(task=None, **kwargs) -> None:
    """Before and after each task what Django does around a request: a connection that is
    broken, left in a transaction, or older than its maximum age is closed."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
