"""What-if replays of a rule-set version over routed history, and their results."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ReplayStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (ReplayStatus.QUEUED, ReplayStatus.RUNNING)


class ReplayRun(models.Model):
    """One replay of ``ruleset`` over the district's routed incidents that occurred in a period.

    ``result`` holds the aggregate figures (see ``reports.replay_tally.ReplayTally.result``); the
    latest finished result is also kept with the version
    (``policies.services.ruleset_replay_keep``).
    """

    ruleset = models.ForeignKey(
        "policies.RuleSet", on_delete=models.CASCADE, related_name="replay_runs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive.")
    status = models.CharField(
        max_length=10, choices=ReplayStatus.choices, default=ReplayStatus.QUEUED
    )
    cancel_requested = models.BooleanField(default=False)
    # Which state of the version was replayed (``RuleSet.spec_digest()``), set when it starts.
    spec_digest = models.CharField(max_length=64, blank=True)
    # The very spec replayed, read once when the run starts: every chunk decides with it, even
    # if the draft is edited while the chunks run.
    spec = models.JSONField(null=True, blank=True)
    # Written when the run starts and after each chunk: a run without one for
    # ``REPLAY_STALLED_SECONDS`` has lost its worker (or its message) and is ended.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Bumped by each execution that takes the run: only the current one may write progress
    # or the result, so a redelivered message never runs it twice at once.
    attempt = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_start__lte=models.F("period_end")),
                name="replay_period_ordered",
            ),
            # One replay at a time per version: a double-click starts one run, not two.
            models.UniqueConstraint(
                fields=["ruleset"],
                condition=Q(status__in=["queued", "running"]),
                name="replay_one_active_per_ruleset",
            ),
        ]
        indexes = [models.Index(fields=["ruleset", "-created_at"])]

    def __str__(self) -> str:
        return f"Replay #{self.pk} of {self.ruleset}"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def percent(self) -> int:
        if self.status == ReplayStatus.DONE:
            return 100
        return int(100 * self.processed / self.total) if self.total else 0


class ReplayChunk(models.Model):
    """One id range of one attempt of a replay, and its partial tally once counted.

    A chunk is counted once: its task records the tally only while ``done_at`` is empty, under
    the run's row lock, and only while ``attempt`` is the run's current one. The chunk whose
    tally completes the set merges them all into ``ReplayRun.result``.
    """

    run = models.ForeignKey(ReplayRun, on_delete=models.CASCADE, related_name="chunks")
    attempt = models.PositiveIntegerField()
    index = models.PositiveIntegerField()
    first_pk = models.BigIntegerField()
    last_pk = models.BigIntegerField(help_text="Inclusive.")
    tally = models.JSONField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "attempt", "index"], name="replay_chunk_once_per_attempt"
            )
        ]

    def __str__(self) -> str:
        return f"Chunk {self.index} of replay #{self.run_id} (attempt {self.attempt})"
