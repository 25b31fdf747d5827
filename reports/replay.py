"""Writes of the what-if replay: start, plan, count in chunks, merge, cancel, end stalled runs.

A replay runs as a Celery group on the ``analysis`` queue: ``replay_execute`` (the run's own
task) takes the run, splits its incidents into id ranges and sends one chunk task per range;
each ``replay_chunk_execute`` streams its rows, decides them with the spec read when the run
started, and stores its partial tally; the chunk that completes the set merges them all.

Why partial tallies in the database rather than a chord: the project runs Celery without a
result backend (``task_ignore_result``), and a chord would need one, plus its own
redelivery story. A ``ReplayChunk`` row per (run, attempt, chunk) is counted once under the
run's row lock, so a chunk delivered twice (acks_late + Redis's visibility timeout) is
counted once, a stale attempt writes nothing, and the last chunk to finish (seen under the
same lock) runs the merge in the very transaction that records it: no merge message that
could be lost between the two. Without a worker (``task_always_eager``), the group runs its
chunks one after another in-process.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta

from celery import group
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from policies import engine
from policies.services import ruleset_replay_keep
from schools.models import User
from schools.selectors import school_ids_for

from . import replay_selectors as selectors
from .models import ACTIVE_STATUSES, ReplayChunk, ReplayRun, ReplayStatus
from .replay_tally import Outcome, ReplayTally, decided, decision_memo

logger = logging.getLogger(__name__)

CHUNK_SIZE = 100_000


def replay_start(*, user: User, version: int, start: date, end: date) -> ReplayRun:
    """Queue a replay of one of the admin's district's versions over a period (inclusive)."""
    ruleset = selectors.replay_ruleset_for(user, version)
    if start > end:
        raise ValidationError({"end": "The end date is before the start date: pick a later end."})
    try:
        with transaction.atomic():
            run = ReplayRun.objects.create(
                ruleset=ruleset, requested_by=user, period_start=start, period_end=end
            )
            transaction.on_commit(lambda: replay_send(run_id=run.pk))
    except IntegrityError:
        raise ValidationError(
            f"A replay of version {version} is already running: wait for it or cancel it."
        ) from None
    return run


def replay_send(*, run_id: int) -> None:
    from .tasks import replay_run_task  # tasks import this module

    try:
        replay_run_task.apply_async(args=[run_id], queue="analysis", routing_key="analysis")
    except Exception as exc:  # noqa: BLE001 - the broker is down; the run says so
        _not_sent(run_id, exc)


def _not_sent(run_id: int, exc: Exception) -> None:
    logger.warning("replay %s not sent (%s)", run_id, type(exc).__name__)
    ReplayRun.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES).update(
        status=ReplayStatus.FAILED,
        error="The replay could not be queued (the task broker is unreachable); try again.",
        finished_at=timezone.now(),
    )


def replay_cancel(*, user: User, run_id: int) -> ReplayRun:
    """Ask a running replay to stop: chunks not yet counted are skipped and the next chunk
    to start or finish ends the run. A queued one is cancelled at once, and so is a running
    one that has made no progress for ``REPLAY_STALLED_SECONDS`` (its workers are gone and
    would never see the request)."""
    run = selectors.replay_run_for(user, run_id)
    now = timezone.now()
    with transaction.atomic():
        run = ReplayRun.objects.select_for_update().get(pk=run.pk)
        if run.status in ACTIVE_STATUSES:
            run.cancel_requested = True
            if run.status == ReplayStatus.QUEUED or replay_stalled(run, now=now):
                run.status = ReplayStatus.CANCELLED
                run.finished_at = now
            run.save(update_fields=["status", "finished_at", "cancel_requested"])
    return run


def replay_stalled(run: ReplayRun, *, now: datetime) -> bool:
    """No sign of life (start, or a chunk started or done) for ``REPLAY_STALLED_SECONDS``."""
    last = run.heartbeat_at or run.created_at
    return last < now - timedelta(seconds=settings.REPLAY_STALLED_SECONDS)


def _span(seconds: int) -> str:
    if seconds % 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def replay_runs_end_stalled() -> int:
    """End, as failed, every queued or running replay silent for ``REPLAY_STALLED_SECONDS``.

    Its message was lost or its workers died: the run would otherwise stay active for ever
    and ``replay_one_active_per_ruleset`` would refuse every new replay of that version. A
    chunk that is merely slow finds the run ended when it finishes and records nothing.
    """
    now = timezone.now()
    span = _span(settings.REPLAY_STALLED_SECONDS)
    cutoff = now - timedelta(seconds=settings.REPLAY_STALLED_SECONDS)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    reasons = {
        ReplayStatus.QUEUED: f"No worker started this replay within {span}, so it was ended "
        "to let a new replay start; start it again.",
        ReplayStatus.RUNNING: f"This replay stopped making progress (nothing from its worker "
        f"for {span}), so it was ended to let a new replay start; start it again.",
    }
    ended = 0
    with transaction.atomic():
        stalled = ReplayRun.objects.select_for_update(skip_locked=True).filter(
            silent, status__in=ACTIVE_STATUSES
        )
        for run in stalled:
            logger.warning("replay %s ended: no progress for %s", run.pk, span)
            ReplayRun.objects.filter(pk=run.pk).update(
                status=ReplayStatus.FAILED, error=reasons[run.status], finished_at=now
            )
            ReplayChunk.objects.filter(run=run).delete()
            ended += 1
    return ended


# --- the run: take it, plan its chunks, send them ---------------------------------------------


def replay_execute(*, run_id: int, chunk_size: int = CHUNK_SIZE) -> ReplayRun | None:
    """Take the run, split its incidents into chunks of ``chunk_size`` by id range, and send
    one chunk task per range after commit (a Celery group). Returns the run as planned; the
    chunks finish it.

    Safe against its message delivered twice: decided under the run's row lock, a run that
    has ended is left alone and so is one whose heartbeat is fresh (its chunks are running).
    A run silent for ``REPLAY_STALLED_SECONDS`` is taken over and started again from the
    beginning; each execution owns an ``attempt``, and chunks of an earlier attempt write
    nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        run = (
            ReplayRun.objects.select_for_update(of=("self",))
            .select_related("ruleset__district", "requested_by")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status not in ACTIVE_STATUSES:
            return run
        if run.status == ReplayStatus.RUNNING and not replay_stalled(run, now=now):
            logger.info("replay %s is already running: this delivery does nothing", run.pk)
            return run
        if run.cancel_requested:
            return _finish(run, ReplayStatus.CANCELLED)
        run.status = ReplayStatus.RUNNING
        run.attempt += 1
        run.started_at = run.heartbeat_at = now
        run.processed = run.total = 0
        # The spec is read once, here: every chunk decides with this very spec.
        run.spec = run.ruleset.spec()
        run.spec_digest = run.ruleset.spec_digest()
        run.result = None
        run.save()
        ReplayChunk.objects.filter(run=run).delete()  # an earlier attempt's partials
    try:
        return _plan(run, chunk_size)
    except Exception as exc:
        logger.exception("replay %s failed", run.pk)
        run.error = f"The replay stopped on an error ({type(exc).__name__}); try again."
        return _finish(run, ReplayStatus.FAILED)


def _plan(run: ReplayRun, chunk_size: int) -> ReplayRun:
    total, bounds = selectors.replay_chunk_bounds(
        district=run.ruleset.district,
        start=run.period_start,
        end=run.period_end,
        chunk_size=chunk_size,
    )
    with transaction.atomic():
        run.total = total
        if not _beat(run, total=total):
            return _given_up(run)
        if not bounds:
            return _merge(run)
        ReplayChunk.objects.bulk_create(
            ReplayChunk(run=run, attempt=run.attempt, index=i, first_pk=first, last_pk=last)
            for i, (first, last) in enumerate(bounds)
        )
        attempt, count = run.attempt, len(bounds)
        transaction.on_commit(
            lambda: replay_chunks_send(run_id=run.pk, attempt=attempt, count=count)
        )
    return run


def replay_chunks_send(*, run_id: int, attempt: int, count: int) -> None:
    """Send the attempt's chunk tasks as one group (routed to ``analysis``, task_routes)."""
    from .tasks import replay_chunk_task  # tasks import this module

    try:
        group(replay_chunk_task.si(run_id, attempt, index) for index in range(count)).apply_async()
    except Exception as exc:  # noqa: BLE001 - the broker is down; the run says so
        _not_sent(run_id, exc)


# --- one chunk ---------------------------------------------------------------------------------


def replay_chunk_execute(*, run_id: int, attempt: int, index: int) -> None:
    """Count one chunk and record its partial tally, once; the last chunk merges them all."""
    chunk = (
        ReplayChunk.objects.select_related("run__ruleset__district", "run__requested_by")
        .filter(run_id=run_id, attempt=attempt, index=index, done_at__isnull=True)
        .first()
    )
    if chunk is None:
        return  # counted already (a second delivery), or its attempt was ended or replaced
    run = chunk.run
    if run.attempt != attempt or run.status != ReplayStatus.RUNNING:
        return
    if run.cancel_requested:
        _finish(run, ReplayStatus.CANCELLED)
        return
    if not _beat(run):
        return
    try:
        tally = _count(run, chunk)
    except Exception as exc:
        logger.exception("replay %s chunk %s failed", run.pk, index)
        run.error = f"The replay stopped on an error ({type(exc).__name__}); try again."
        _finish(run, ReplayStatus.FAILED)
        return
    _record(run, chunk, tally)


# The last version this process decided with, by its spec's text: (facts it reads, outcome).
# A worker process runs a run's chunks one after another; they share one memo, which then
# fills once per process rather than once per chunk.
_decisions_kept: dict[str, tuple[tuple[str, ...], Outcome]] = {}


def _decisions(spec: dict) -> tuple[tuple[str, ...] | None, Outcome]:
    """(facts to fetch, outcome function) for deciding with ``spec``: on PostgreSQL the
    facts the version reads, decided once per distinct answers; elsewhere the whole facts
    document (``None``), decided row by row."""
    if not selectors.replay_projects_facts():
        return None, decided(engine.compile_ruleset(spec).decide)
    key = json.dumps(spec, sort_keys=True)
    kept = _decisions_kept.get(key)
    if kept is None:
        policy = engine.compile_ruleset(spec)
        kept = (policy.facts_read, decision_memo(policy.decide, policy.facts_read))
        _decisions_kept.clear()
        _decisions_kept[key] = kept
    return kept


def _count(run: ReplayRun, chunk: ReplayChunk) -> ReplayTally:
    facts, outcome = _decisions(run.spec)
    rows = selectors.replay_chunk_rows(
        district=run.ruleset.district,
        start=run.period_start,
        end=run.period_end,
        first_pk=chunk.first_pk,
        last_pk=chunk.last_pk,
        facts=facts,
    )
    tally = ReplayTally(school_ids_for(run.requested_by))
    tally.add(rows, selectors.replay_disability_groups(chunk.first_pk, chunk.last_pk), outcome)
    return tally


def _record(run: ReplayRun, chunk: ReplayChunk, tally: ReplayTally) -> None:
    """Record the chunk's tally under the run's row lock, unless the run is no longer this
    attempt's or the chunk was counted already; end the run if it was the last chunk or a
    cancel was asked for."""
    now = timezone.now()
    with transaction.atomic():
        locked = (
            ReplayRun.objects.select_for_update()
            .filter(pk=run.pk, attempt=run.attempt, status=ReplayStatus.RUNNING)
            .first()
        )
        if locked is None:
            _given_up(run)
            return
        counted = ReplayChunk.objects.filter(pk=chunk.pk, done_at__isnull=True).update(
            tally=tally.to_json(), done_at=now
        )
        if not counted:
            return
        run.processed = locked.processed + tally.total
        run.total = locked.total
        ReplayRun.objects.filter(pk=run.pk).update(processed=run.processed, heartbeat_at=now)
        if locked.cancel_requested:
            _finish(run, ReplayStatus.CANCELLED)
        elif not ReplayChunk.objects.filter(
            run=run, attempt=run.attempt, done_at__isnull=True
        ).exists():
            _merge(run)


def _merge(run: ReplayRun) -> ReplayRun:
    """Combine every chunk's partial tally (in id order) into the run's result and end it."""
    merged = ReplayTally()
    for partial in (
        ReplayChunk.objects.filter(run=run, attempt=run.attempt)
        .order_by("index")
        .values_list("tally", flat=True)
    ):
        merged.merge(partial)
    seconds = (timezone.now() - run.started_at).total_seconds()
    visible = selectors.incident_ids_visible(run.requested_by, merged.example_ids())
    run.result = {
        **merged.result(visible),
        "version": run.ruleset.version,
        "period": {"start": run.period_start.isoformat(), "end": run.period_end.isoformat()},
        "seconds": round(seconds, 2),
        "per_second": round(merged.total / seconds) if seconds else None,
    }
    run.processed = merged.total
    return _finish(run, ReplayStatus.DONE)


# --- the run's state ---------------------------------------------------------------------------


def _beat(run: ReplayRun, **progress: int) -> bool:
    """Record a heartbeat (and progress); False when the run is no longer this execution's
    (ended by a cancel or the stalled-run sweep, or taken over by a later attempt)."""
    return bool(
        ReplayRun.objects.filter(
            pk=run.pk, attempt=run.attempt, status=ReplayStatus.RUNNING
        ).update(heartbeat_at=timezone.now(), **progress)
    )


def _given_up(run: ReplayRun) -> ReplayRun:
    logger.info("replay %s attempt %s stops: the run is no longer its own", run.pk, run.attempt)
    run.refresh_from_db()
    return run


def _finish(run: ReplayRun, status: str) -> ReplayRun:
    """End the run, unless it is no longer this execution's (then it is left as it is).

    A finished run counted all its incidents (``run.processed``); a cancelled or failed one
    keeps the progress its chunks recorded."""
    with transaction.atomic():
        locked = (
            ReplayRun.objects.select_for_update()
            .filter(pk=run.pk, attempt=run.attempt, status__in=ACTIVE_STATUSES)
            .first()
        )
        if locked is None:
            return _given_up(run)
        if status != ReplayStatus.DONE:
            run.processed = locked.processed
        run.status, run.finished_at = status, timezone.now()
        run.total = max(locked.total, run.total, run.processed)
        ReplayRun.objects.filter(pk=run.pk).update(
            status=run.status,
            finished_at=run.finished_at,
            processed=run.processed,
            total=run.total,
            result=run.result,
            error=run.error,
        )
        # The partials have done their work; a late delivery of a chunk then finds no row.
        ReplayChunk.objects.filter(run=run).delete()
        if status == ReplayStatus.DONE:
            ruleset_replay_keep(
                ruleset_id=run.ruleset_id,
                kept={
                    "run": run.pk,
                    "finished_at": run.finished_at.isoformat(),
                    "requested_by": run.requested_by.get_username(),
                    "spec_digest": run.spec_digest,
                    **run.result,
                },
            )
    return run
