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

    ``result`` holds the aggregate figures (see ``reports.services.ReplayTally.result``); the
    latest finished result is also copied to ``RuleSet.analysis["replay"]``, kept with the draft.
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
