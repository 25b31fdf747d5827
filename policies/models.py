"""Rule-set versions per district: drafts, the one published version, and archived ones."""

import hashlib
import json

from django.conf import settings
from django.db import models
from django.db.models import Q

from schools.models import District

from .registry import DEFAULT_ROUTE


class RuleSetStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class RuleSet(models.Model):
    """One version of a district's routing policy. Immutable once published.

    ``rules``, ``default_route`` and ``guardrails`` hold the spec that ``policies.engine``
    validates and compiles; a version that has been published is never edited again, so an
    incident's ``ruleset`` tells exactly which rules routed it.
    """

    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="rulesets")
    version = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=RuleSetStatus.choices, default=RuleSetStatus.DRAFT
    )
    rules = models.JSONField(default=list)
    default_route = models.CharField(max_length=16, default=DEFAULT_ROUTE)
    guardrails = models.JSONField(default=dict)
    based_on = models.PositiveIntegerField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    # Replay results etc. kept with a draft.
    analysis = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["district", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["district", "version"], name="ruleset_version_unique"),
            models.UniqueConstraint(
                fields=["district"],
                condition=Q(status="published"),
                name="ruleset_one_published_per_district",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.district} rules v{self.version} ({self.status})"

    def spec(self) -> dict:
        return {
            "rules": self.rules,
            "default_route": self.default_route,
            "guardrails": self.guardrails,
        }

    def spec_digest(self) -> str:
        """A fingerprint of the spec: equal digests route every incident the same way.

        What a replay records to say which state of a draft it replayed. Unlike ``updated_at``
        it ignores saves that change nothing and status changes (publishing), and it comes
        from the very spec the replay compiled.
        """
        canonical = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class PublishEvent(models.Model):
    """Who published (or rolled back to) which version, and when."""

    ruleset = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="publications")
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(auto_now_add=True)
    replaced_version = models.PositiveIntegerField(null=True, blank=True)
    rollback = models.BooleanField(default=False)

    class Meta:
        ordering = ["-published_at", "-id"]

    def __str__(self) -> str:
        return f"v{self.ruleset.version} published by {self.published_by}"
