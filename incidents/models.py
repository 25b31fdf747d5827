"""Incidents as filed, the students involved, and the append-only timeline."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from policies import registry
from schools.models import School, Student

from .choices import (  # noqa: F401  (the answers' choices, read as models.X too)
    NARRATIVE_MAX_LENGTH,
    Category,
    DangerNow,
    Injury,
    Location,
    StudentState,
    Threat,
    Weapon,
    WithNow,
)

# Declared in their own module (this one is long); imported here so Django registers them.
from .rollup_models import (  # noqa: F401
    ACK_WAIT_BOUNDS,
    ACK_WAIT_LIMITS,
    AckWaitDistrictRollup,
    AckWaitRollup,
    HandoffRollup,
    IncidentRollup,
    StudentReferralRollup,
)


class Route(models.TextChoices):
    """The routes of policies.registry, with their labels (a test pins the two together)."""

    COUNSELOR = registry.COUNSELOR, registry.ROUTE_INFO[registry.COUNSELOR].label
    ADMINISTRATOR = registry.ADMINISTRATOR, registry.ROUTE_INFO[registry.ADMINISTRATOR].label
    CO_RESPONDER = registry.CO_RESPONDER, registry.ROUTE_INFO[registry.CO_RESPONDER].label
    SRO = registry.SRO, registry.ROUTE_INFO[registry.SRO].label


class Status(models.TextChoices):
    RECEIVED = "received", "Received"
    ROUTED = "routed", "Routed to a responder"
    ACKNOWLEDGED = "acknowledged", "A responder is on it"
    RESOLVED = "resolved", "Resolved"


class Incident(models.Model):
    # No index of their own: the (school, -filed_at) and (filed_by, -filed_at) indexes below
    # lead with them, and every filing would write the extra two.
    school = models.ForeignKey(
        School, on_delete=models.PROTECT, related_name="incidents", db_index=False
    )
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="incidents_filed",
        db_index=False,
    )
    filed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    occurred_at = models.DateTimeField()
    location = models.CharField(max_length=20, choices=Location.choices, default=Location.OTHER)
    category = models.CharField(max_length=24, choices=Category.choices)
    narrative = models.TextField(max_length=NARRATIVE_MAX_LENGTH)
    # Safety answers: an unanswered question is `unknown`, never "no" (issue 12). Rows filed
    # before `unknown` existed keep the answers they were stored with.
    weapon = models.CharField(max_length=24, choices=Weapon.choices, default=Weapon.UNKNOWN)
    injury = models.CharField(max_length=20, choices=Injury.choices, default=Injury.UNKNOWN)
    threat = models.CharField(max_length=30, choices=Threat.choices, default=Threat.UNKNOWN)
    threat_words = models.TextField(max_length=2_000, blank=True)
    danger_now = models.CharField(
        max_length=12, choices=DangerNow.choices, default=DangerNow.UNKNOWN
    )
    student_state = models.CharField(
        max_length=16, choices=StudentState.choices, default=StudentState.UNKNOWN
    )
    with_now = models.CharField(max_length=24, choices=WithNow.choices, default=WithNow.UNKNOWN)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    # A client-chosen key so a resent or double-clicked filing creates one incident.
    idempotency_key = models.CharField(max_length=64, blank=True, default="")
    # What was filed under that key (a hash): the same key with a different body is refused,
    # so a second, different report is never taken for a resend of the first.
    idempotency_fingerprint = models.CharField(max_length=64, blank=True, default="")

    # The routing decision, written once by the routing service (the row is its own outbox:
    # route IS NULL means "not yet routed", which the sweep re-sends).
    route = models.CharField(  # noqa: DJ001 - NULL is "not routed yet", indexed for the sweep
        max_length=16, choices=Route.choices, null=True, blank=True
    )
    routed_at = models.DateTimeField(null=True, blank=True)
    ruleset = models.ForeignKey(
        "policies.RuleSet", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ruleset_version = models.PositiveIntegerField(null=True, blank=True)
    rule_id = models.CharField(max_length=80, blank=True, default="")
    rule_name = models.CharField(max_length=200, blank=True, default="")
    decision = models.JSONField(null=True, blank=True)
    facts = models.JSONField(null=True, blank=True, help_text="The facts it was routed on.")
    dispatch_attempts = models.PositiveSmallIntegerField(default=0)
    last_dispatch_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-filed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["filed_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="incident_idempotency_key_once_per_reporter",
            ),
            models.CheckConstraint(
                condition=Q(route__isnull=True) | Q(routed_at__isnull=False),
                name="incident_routed_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["filed_by", "-filed_at"]),
            models.Index(fields=["school", "-filed_at"]),
            models.Index(
                fields=["filed_at"], condition=Q(route__isnull=True), name="incident_unrouted"
            ),
            # The equity report's passes over a period's routed incidents read this index
            # alone (an index-only scan) instead of the wide rows with their facts snapshots.
            models.Index(
                fields=["occurred_at", "school", "route", "id"],
                condition=Q(route__isnull=False),
                name="incident_routed_by_occurrence",
            ),
        ]

    def __str__(self) -> str:
        return f"Incident #{self.pk}"


class InvolvementRole(models.TextChoices):
    SUBJECT = "subject", "Involved in the behaviour"
    TARGET = "target", "Harmed or targeted"
    WITNESS = "witness", "Witness"


class IncidentStudent(models.Model):
    """A student involved: from the roster, or named by the reporter when not on it."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="students")
    student = models.ForeignKey(
        Student, on_delete=models.PROTECT, null=True, blank=True, related_name="involvements"
    )
    name = models.CharField(max_length=200, blank=True)
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    role = models.CharField(max_length=10, choices=InvolvementRole.choices)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(student__isnull=False) | ~Q(name=""),
                name="incident_student_roster_or_named",
            ),
            models.UniqueConstraint(
                fields=["incident", "student"],
                condition=Q(student__isnull=False),
                name="incident_student_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} in {self.incident}"


class EventKind(models.TextChoices):
    FILED = "filed", "Filed"
    ROUTED = "routed", "Routed"
    QUEUED = "queued", "Queued"
    NOTIFIED = "notified", "Notified"
    DELIVERED = "delivered", "Delivered"
    CLAIMED = "claimed", "Claimed"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    NOTE = "note", "Note added"
    HANDED_OFF = "handed_off", "Handed off"
    RESOLVED = "resolved", "Resolved"
    ESCALATED = "escalated", "Escalated"
    LEAD = "lead", "Took the lead"


class TimelineEvent(models.Model):
    """Append-only: the product only ever inserts these rows."""

    # Indexed by (incident, at) below, which leads with it.
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="timeline", db_index=False
    )
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    data = models.JSONField(default=dict, blank=True)
    private = models.BooleanField(default=False, help_text="Responders only (notes).")

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["incident", "at"]),
            # Overrides by direction (equity report): the few hand-offs among many events.
            models.Index(
                fields=["at"], condition=Q(kind=EventKind.HANDED_OFF), name="timeline_handoff_at"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.incident_id}"


class ResponderQueue(models.Model):
    """One queue per (school, route). Members are the people holding the matching role there."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="queues")
    route = models.CharField(max_length=16, choices=Route.choices)
    webhook_url = models.URLField(blank=True, help_text="Optional: POSTed a signed JSON event.")
    webhook_secret = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["school__name", "route"]
        constraints = [
            models.UniqueConstraint(fields=["school", "route"], name="queue_one_per_school_route")
        ]

    def __str__(self) -> str:
        return f"{self.school.code} {self.get_route_display()}"


class CoResponderTeamMember(models.Model):
    """A district-wide co-responder team member: belongs to every school's co-responder queue."""

    district = models.ForeignKey(
        "schools.District", on_delete=models.CASCADE, related_name="co_responder_team"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["district", "user"], name="co_responder_team_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} on the {self.district} co-responder team"


class ItemState(models.TextChoices):
    QUEUED = "queued", "Queued"
    CLAIMED = "claimed", "Claimed"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    HANDED_OFF = "handed_off", "Handed off"


# An item is worked until it is resolved or handed off; those two are final.
OPEN_ITEM_STATES = (ItemState.QUEUED, ItemState.CLAIMED, ItemState.ACKNOWLEDGED)
FINAL_ITEM_STATES = (ItemState.RESOLVED, ItemState.HANDED_OFF)


class ItemOrigin(models.TextChoices):
    ROUTING = "routing", "Routed here"
    NOTIFY = "notify", "Notified"
    HANDOFF = "handoff", "Handed off here"


class Outcome(models.TextChoices):
    COUNSELING_PROVIDED = "counseling_provided", "Counseling provided"
    PARENT_CONTACTED = "parent_contacted", "Parent contacted"
    RESTORATIVE_CONFERENCE = "restorative_conference", "Restorative conference"
    DISCIPLINE_ASSIGNED = "discipline_assigned", "Discipline assigned"
    SAFETY_PLAN = "safety_plan", "Safety plan"
    REFERRED_TO_COMMUNITY_SERVICES = (
        "referred_to_community_services",
        "Referred to community services",
    )
    REFERRED_TO_LAW_ENFORCEMENT = "referred_to_law_enforcement", "Referred to law enforcement"
    CITATION = "citation", "Citation"
    ARREST = "arrest", "Arrest"
    NO_ACTION_NEEDED = "no_action_needed", "No action needed"


URGENCY = {route: info.urgency for route, info in registry.ROUTE_INFO.items()}
# How an item's urgency reads where a person scans a list: mail subjects, badges.
URGENCY_WORDS = {0: "URGENT", 1: "URGENT", 2: "Prompt", 3: "Routine"}

# The outcomes each route's responders may record, in the order the form offers them, as the
# registry declares them (the form, the API and the service read this). A citation or an
# arrest is a sworn officer's act: offered on the SRO's items, and on co-responder items to
# the SRO member.
POLICE_ONLY_OUTCOMES = tuple(Outcome(o) for o in registry.POLICE_ONLY_OUTCOMES)
OUTCOMES_BY_ROUTE = {
    Route(route): tuple(Outcome(o) for o in info.outcomes)
    for route, info in registry.ROUTE_INFO.items()
}


def outcomes_for(route: str, *, officer: bool) -> list[str]:
    """The outcomes a responder may record on an item of ``route``; ``officer``: they are an
    SRO at the item's school."""
    return [
        outcome
        for outcome in OUTCOMES_BY_ROUTE[route]
        if officer or outcome not in POLICE_ONLY_OUTCOMES
    ]


# Outcomes that refer the student to law enforcement (CRDC; the equity report counts them).
LAW_ENFORCEMENT_OUTCOMES = (Outcome.REFERRED_TO_LAW_ENFORCEMENT, Outcome.CITATION, Outcome.ARREST)
# The routes whose queues include police (the SRO alone, or with a clinician).
LAW_ENFORCEMENT_ROUTES = tuple(
    Route(route) for route in sorted(registry.LAW_ENFORCEMENT_ROUTES, key=lambda r: URGENCY[r])
)
# The items that make an incident a referral to law enforcement whatever its route: the SRO
# notified, a hand-off to the SRO or the co-responders, or an outcome above. The definition of
# a referral lives in reports/definitions.py; it is declared here because the reports filter
# with exactly this condition so that PostgreSQL can answer from the small partial index of
# these items.
LAW_ENFORCEMENT_ITEM = (
    Q(origin=ItemOrigin.NOTIFY, route=Route.SRO)
    | Q(origin=ItemOrigin.HANDOFF, route__in=LAW_ENFORCEMENT_ROUTES)
    | Q(outcome__in=LAW_ENFORCEMENT_OUTCOMES)
)


class QueueItem(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="queue_items")
    # Indexed by (queue, state, urgency, queued_at) below, which leads with it.
    queue = models.ForeignKey(
        ResponderQueue, on_delete=models.PROTECT, related_name="items", db_index=False
    )
    route = models.CharField(max_length=16, choices=Route.choices)
    origin = models.CharField(max_length=8, choices=ItemOrigin.choices, default=ItemOrigin.ROUTING)
    urgency = models.PositiveSmallIntegerField(default=3, help_text="0 is most urgent.")
    state = models.CharField(max_length=14, choices=ItemState.choices, default=ItemState.QUEUED)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    queued_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    ack_deadline = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Sends of the delivery that failed or were repeated by the sweep (for its back-off).
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True)
    summary = models.TextField(max_length=2_000, blank=True)
    handed_off_to = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["urgency", "queued_at", "id"]
        constraints = [
            # Routing creates at most one item per (incident, route): a repeated routing
            # message can never add one.
            models.UniqueConstraint(
                fields=["incident", "route"],
                condition=Q(origin__in=["routing", "notify"]),
                name="queue_item_once_per_incident_route",
            ),
        ]
        indexes = [
            models.Index(fields=["queue", "state", "urgency", "queued_at"]),
            models.Index(
                fields=["ack_deadline"],
                condition=Q(state__in=["queued", "claimed"]),
                name="queue_item_awaiting_ack",
            ),
            # Equity report: the incidents that these items make referrals (and arrests).
            models.Index(
                fields=["outcome", "incident"],
                condition=LAW_ENFORCEMENT_ITEM,
                name="queue_item_law_enforcement",
            ),
            # Equity report: acknowledged routing items in the order of their wait, per route,
            # so the exact median is read at its rank instead of sorting every wait.
            models.Index(
                F("route"),
                F("acknowledged_at") - F("queued_at"),
                F("queued_at"),
                F("queue"),
                F("acknowledged_at"),
                condition=Q(origin=ItemOrigin.ROUTING, acknowledged_at__isnull=False),
                name="queue_item_ack_wait",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.queue} item for incident {self.incident_id}"


class CoResponderRole(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    SRO = "sro", "School resource officer"


class CoResponseMember(models.Model):
    """One member of the team on a co-responder item who said "On my way". Each member
    acknowledges for themselves; the clinician leads unless the team chose another lead."""

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="co_responders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=10, choices=CoResponderRole.choices)
    acknowledged_at = models.DateTimeField(default=timezone.now)
    leads = models.BooleanField(default=False, help_text="Chosen by the team to lead.")

    class Meta:
        ordering = ["acknowledged_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "user"], name="co_response_member_once"),
            models.UniqueConstraint(
                fields=["item"], condition=Q(leads=True), name="co_response_one_chosen_lead"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.item}"


class LiveEvent(models.Model):
    """Live updates when there is no Redis (the embedded default): the row id is the event id
    that a reconnecting page sends back. Pruned by age."""

    channel = models.CharField(max_length=64, default="", help_text="queue:<id> or incident:<id>")
    queue_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    payload = models.JSONField()
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"live event on {self.channel}"


# --- Access log ---------------------------------------------------------------------------


class AccessAction(models.TextChoices):
    VIEW_ITEM = "view_item", "Viewed a queue item"
    VIEW_INCIDENT = "view_incident", "Viewed an incident"
    EXPORT_CRDC_EXACT = "export_crdc_exact", "Downloaded the exact CRDC submission file"
    DEACTIVATE_PERSON = "deactivate", "Deactivated a person"


class AccessLogEntry(models.Model):
    """Who opened which incident record, and when. Append-only: the product only inserts, what
    an entry points at cannot be deleted, and on PostgreSQL a trigger refuses any UPDATE,
    DELETE or TRUNCATE (migrations 0005 and 0012), whatever client tries it, and the runtime
    database role of the README cannot disable it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    username = models.CharField(
        max_length=150,
        blank=True,
        help_text="The username when the entry was written: renaming the user later does not "
        "change what the log says.",
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, null=True, blank=True, related_name="access_log"
    )
    queue_item = models.ForeignKey(
        QueueItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # An entry about a person (a deactivation) names them and their district; a read of many
    # records at once (an export of exact counts) names its district and what was read.
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    district = models.ForeignKey(
        "schools.District", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A database default too: the triggers and raw INSERTs of the tests never leave it NULL.
    detail = models.CharField(max_length=200, blank=True, default="", db_default="")
    action = models.CharField(max_length=20, choices=AccessAction.choices)
    # Set by the database, never by the client: on PostgreSQL a trigger overwrites any value
    # an INSERT brings (migration 0012), so an entry cannot be back-dated.
    at = models.DateTimeField(db_default=Now(), db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "access log entry"
        verbose_name_plural = "access log"
        indexes = [
            models.Index(fields=["user", "-at"]),
            models.Index(fields=["incident", "-at"]),
        ]
        constraints = [
            # Every entry says what was read: an incident, a person, or a district's export.
            models.CheckConstraint(
                condition=Q(incident__isnull=False)
                | Q(person__isnull=False)
                | Q(district__isnull=False),
                name="access_log_entry_names_what_was_read",
            )
        ]

    def __str__(self) -> str:
        what = self.incident or self.person or self.detail
        return f"{self.user} {self.get_action_display().lower()} {what}"
