"""Celery tasks of the reports app: take ids, call one service, return."""

from celery import shared_task

from . import replay


# A replay runs on its own "analysis" queue (triage/celery.py): the run's task only plans and
# sends one chunk task per id range (a group), so each task is seconds long, not minutes. The
# limits stay generous for a slow machine; a message delivered again while its first delivery
# still runs (Redis's visibility timeout, CELERY_VISIBILITY_TIMEOUT) is a no-op: the run's
# heartbeat is fresh, and a chunk is counted once.
@shared_task(name="reports.tasks.replay_run_task", time_limit=1800, soft_time_limit=1740)
def replay_run_task(run_id: int) -> None:
    replay.replay_execute(run_id=run_id)


@shared_task(name="reports.tasks.replay_chunk_task", time_limit=1800, soft_time_limit=1740)
def replay_chunk_task(run_id: int, attempt: int, index: int) -> None:
    replay.replay_chunk_execute(run_id=run_id, attempt=attempt, index=index)


@shared_task(name="reports.tasks.replay_end_stalled", time_limit=60, soft_time_limit=50)
def replay_end_stalled() -> int:
    return replay.replay_runs_end_stalled()
