"""Celery tasks of the reports app: take ids, call one service, return."""

from celery import shared_task

from . import services


# A replay of a whole school year takes tens of seconds: it runs on its own "analysis" queue
# (triage/celery.py) with a longer time limit than the product's short tasks. The limit is
# longer than Redis's visibility timeout (CELERY_VISIBILITY_TIMEOUT), so a long replay's
# message may be delivered again while it runs: the service makes that second delivery a
# no-op (the run's heartbeat is fresh), rather than every queue waiting 30 minutes to recover
# a message whose worker died.
@shared_task(name="reports.tasks.replay_run_task", time_limit=1800, soft_time_limit=1740)
def replay_run_task(run_id: int) -> None:
    services.replay_execute(run_id=run_id)


@shared_task(name="reports.tasks.replay_end_stalled", time_limit=60, soft_time_limit=50)
def replay_end_stalled() -> int:
    return services.replay_runs_end_stalled()
