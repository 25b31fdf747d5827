"""Celery tasks of the reports app: take ids, call one service, return."""

from celery import shared_task

from . import services


# A replay of a whole school year takes tens of seconds: it runs on its own "analysis" queue
# (triage/celery.py) with a longer time limit than the product's short tasks.
@shared_task(name="reports.tasks.replay_run_task", time_limit=1800, soft_time_limit=1740)
def replay_run_task(run_id: int) -> None:
    services.replay_execute(run_id=run_id)
