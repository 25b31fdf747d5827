"""Writes of the reports app: start, run and cancel what-if replays of a rule-set version."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from incidents.models import AccessAction, AccessLogEntry
from policies import engine
from policies.models import RuleSet
from schools.models import User
from schools.selectors import school_ids_for

from . import selectors
from .models import ACTIVE_STATUSES, ReplayRun, ReplayStatus

logger = logging.getLogger(__name__)

CHUNK_SIZE = 20_000
EXAMPLES_PER_CHANGE = 5
ROUTES = ("counselor", "administrator", "co_responder", "sro")
LAW_ENFORCEMENT = frozenset({"sro", "co_responder"})
WITH_DISABILITY = ("idea", "504")


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
    from .tasks import replay_run_task

    try:
        replay_run_task.apply_async(args=[run_id], queue="analysis", routing_key="analysis")
    except Exception as exc:  # noqa: BLE001 - the broker is down; the run says so
        logger.warning("replay %s not sent (%s)", run_id, type(exc).__name__)
        ReplayRun.objects.filter(pk=run_id, status=ReplayStatus.QUEUED).update(
            status=ReplayStatus.FAILED,
            error="The replay could not be queued (the task broker is unreachable); try again.",
            finished_at=timezone.now(),
        )


def replay_cancel(*, user: User, run_id: int) -> ReplayRun:
    """Ask a running replay to stop at its next chunk; a queued one is cancelled at once, and
    so is a running one that has made no progress for ``REPLAY_STALLED_SECONDS`` (its worker
    is gone and would never see the request)."""
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
    """No sign of life (start, or a chunk done) for ``REPLAY_STALLED_SECONDS``."""
    last = run.heartbeat_at or run.created_at
    return last < now - timedelta(seconds=settings.REPLAY_STALLED_SECONDS)


def _span(seconds: int) -> str:
    if seconds % 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def replay_runs_end_stalled() -> int:
    """End, as failed, every queued or running replay silent for ``REPLAY_STALLED_SECONDS``.

    Its message was lost or its worker died: the run would otherwise stay active for ever and
    ``replay_one_active_per_ruleset`` would refuse every new replay of that version. A worker
    that is merely slow sees the run ended at its next chunk and stops without writing.
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
            ended += 1
    return ended


class ReplayTally:
    """What a replay accumulates: bounded in size whatever the number of incidents."""

    def __init__(self, visible_school_ids: Iterable[int]) -> None:
        self.visible = frozenset(visible_school_ids)
        self.total = 0
        self.transitions: Counter[tuple[str, str]] = Counter()
        # (disability group, "before"/"after", route or "referral")
        self.groups: Counter[tuple[str, str, str]] = Counter()
        self.examples: dict[tuple[str, str], list[int]] = {}

    def add(self, rows: list[tuple], disability: dict[int, str], decide: Callable) -> None:
        """Tally one chunk of (pk, school_id, route, facts, old also_notify) rows."""
        transitions, groups, examples, visible = (
            self.transitions,
            self.groups,
            self.examples,
            self.visible,
        )
        group_of = disability.get
        for pk, school_id, old, facts, old_notify in rows:
            group = group_of(pk, "none")
            decision = decide(facts)
            new = decision.route
            transitions[old, new] += 1
            groups[group, "before", old] += 1
            groups[group, "after", new] += 1
            if old in LAW_ENFORCEMENT or (old_notify and "sro" in old_notify):
                groups[group, "before", "referral"] += 1
            if new in LAW_ENFORCEMENT or "sro" in decision.also_notify:
                groups[group, "after", "referral"] += 1
            if old != new and school_id in visible:
                found = examples.setdefault((old, new), [])
                if len(found) < EXAMPLES_PER_CHANGE:
                    found.append(pk)
        self.total += len(rows)

    def result(self, visible_ids: set[int]) -> dict:
        changed = sum(n for (old, new), n in self.transitions.items() if old != new)
        transitions = [
            {
                "from": old,
                "to": new,
                "count": n,
                "examples": [pk for pk in self.examples.get((old, new), []) if pk in visible_ids],
            }
            for (old, new), n in sorted(self.transitions.items(), key=lambda kv: (-kv[1], kv[0]))
            if old != new
        ]
        matrix = [
            {"from": old, "to": {new: self.transitions.get((old, new), 0) for new in ROUTES}}
            for old in ROUTES
        ]

        def split(groups: tuple[str, ...]) -> dict:
            figures = {
                "incidents": sum(self.groups[g, "before", r] for g in groups for r in ROUTES)
            }
            for route in (*LAW_ENFORCEMENT, "referral"):
                before = sum(self.groups[g, "before", route] for g in groups)
                after = sum(self.groups[g, "after", route] for g in groups)
                figures[route] = {"before": before, "after": after, "change": after - before}
            return figures

        return {
            "total": self.total,
            "changed": changed,
            "transitions": transitions,
            "matrix": matrix,
            "by_disability": {
                "none": split(("none",)),
                "idea": split(("idea",)),
                "504": split(("504",)),
                "with": split(WITH_DISABILITY),
                "without": split(("none",)),
            },
        }

    def example_ids(self) -> set[int]:
        return {pk for found in self.examples.values() for pk in found}


def replay_execute(*, run_id: int, chunk_size: int = CHUNK_SIZE) -> ReplayRun | None:
    """Replay the run's version over its period, chunk by chunk, and keep the result.

    Reads the incidents in id order with keyset pages (no long transaction, no server-side
    cursor held open), so memory is bounded by one chunk, progress is committed after each
    chunk and a cancel is seen within one chunk.

    Safe against a message delivered twice (Redis hands an unacknowledged message to another
    worker after its visibility timeout, shorter than a long replay): decided under the run's
    row lock, a run that has ended is left alone and so is one whose heartbeat is fresh (another
    worker is running it). A run silent for ``REPLAY_STALLED_SECONDS`` (its worker died) is
    taken over and started again from the beginning; each execution owns an ``attempt``, and
    one that is no longer the run's current attempt stops at its next chunk, writing nothing.
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
        run.processed = 0
        # The very spec that _replay compiles (the same row, read once).
        run.spec_digest = run.ruleset.spec_digest()
        run.save(
            update_fields=[
                "status",
                "attempt",
                "started_at",
                "heartbeat_at",
                "processed",
                "spec_digest",
            ]
        )
    try:
        return _replay(run, chunk_size)
    except Exception as exc:
        logger.exception("replay %s failed", run.pk)
        run.error = f"The replay stopped on an error ({type(exc).__name__}); try again."
        return _finish(run, ReplayStatus.FAILED)


def _beat(run: ReplayRun, **progress: int) -> bool:
    """Record progress and a heartbeat; False when the run is no longer this execution's
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


def _replay(run: ReplayRun, chunk_size: int) -> ReplayRun:
    began = time.monotonic()
    ruleset = run.ruleset
    decide = engine.compile_ruleset(ruleset.spec()).decide
    source = selectors.replay_source(
        district=ruleset.district, start=run.period_start, end=run.period_end
    )
    run.total = source.count()
    if not _beat(run, total=run.total):
        return _given_up(run)
    tally = ReplayTally(school_ids_for(run.requested_by))
    last_pk = 0
    while True:
        rows = list(source.filter(pk__gt=last_pk)[:chunk_size])
        if not rows:
            break
        first_pk, last_pk = rows[0][0], rows[-1][0]
        tally.add(rows, selectors.replay_disability_groups(first_pk, last_pk), decide)
        run.processed = tally.total
        if not _beat(run, processed=run.processed):
            return _given_up(run)
        if ReplayRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
            return _finish(run, ReplayStatus.CANCELLED)
    seconds = time.monotonic() - began
    run.result = {
        **tally.result(selectors.incident_ids_visible(run.requested_by, tally.example_ids())),
        "version": ruleset.version,
        "period": {"start": run.period_start.isoformat(), "end": run.period_end.isoformat()},
        "seconds": round(seconds, 2),
        "per_second": round(tally.total / seconds) if seconds else None,
    }
    return _finish(run, ReplayStatus.DONE)


def _finish(run: ReplayRun, status: str) -> ReplayRun:
    """End the run, unless it is no longer this execution's (then it is left as it is)."""
    with transaction.atomic():
        finished_at = timezone.now()
        total = max(run.total, run.processed)
        ended = ReplayRun.objects.filter(
            pk=run.pk, attempt=run.attempt, status__in=ACTIVE_STATUSES
        ).update(
            status=status,
            finished_at=finished_at,
            processed=run.processed,
            total=total,
            result=run.result,
            error=run.error,
        )
        if not ended:
            return _given_up(run)
        run.status, run.finished_at, run.total = status, finished_at, total
        if status == ReplayStatus.DONE:
            _keep_with_ruleset(run)
    return run


def _keep_with_ruleset(run: ReplayRun) -> None:
    """The latest result is kept with the version itself (``RuleSet.analysis["replay"]``).

    ``update()`` leaves ``updated_at`` alone: a replay is not an edit of the draft.
    """
    ruleset = RuleSet.objects.select_for_update().get(pk=run.ruleset_id)
    analysis = dict(ruleset.analysis or {})
    analysis["replay"] = {
        "run": run.pk,
        "finished_at": run.finished_at.isoformat(),
        "requested_by": run.requested_by.get_username(),
        "spec_digest": run.spec_digest,
        **run.result,
    }
    RuleSet.objects.filter(pk=ruleset.pk).update(analysis=analysis)


def crdc_exact_export_record(*, user: User, district, year: int) -> AccessLogEntry:
    """Log a download of the exact (unsuppressed) CRDC file: it holds counts as small as one
    student, so it is a read of student records like opening an incident."""
    with transaction.atomic():
        return AccessLogEntry.objects.create(
            user=user,
            username=user.get_username(),
            district=district,
            action=AccessAction.EXPORT_CRDC_EXACT,
            detail=f"CRDC referrals and arrests {selectors.school_year_label(year)}, exact counts",
        )
