"""Every read of incidents and queues. Permission scoping happens here, once, for all callers."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce
from django.http import Http404

from schools.models import Membership, Role, User
from schools.selectors import districts_administered, memberships_of

from .facts import INTAKE_FACTS
from .models import (
    AccessLogEntry,
    CoResponderTeamMember,
    EventKind,
    Incident,
    IncidentStudent,
    ItemOrigin,
    ItemState,
    QueueItem,
    ResponderQueue,
    Status,
    TimelineEvent,
    outcomes_for,
)

ROUTE_ROLES = {
    "counselor": {Role.COUNSELOR},
    "administrator": {Role.ADMINISTRATOR},
    "sro": {Role.SRO},
    "co_responder": {Role.CLINICIAN, Role.SRO},
}


def queue_member_ids(queue: ResponderQueue) -> set[int]:
    roles = ROUTE_ROLES[queue.route]
    ids = set(
        Membership.objects.filter(school_id=queue.school_id, role__in=roles).values_list(
            "user_id", flat=True
        )
    )
    if queue.route == "co_responder":
        ids |= set(
            CoResponderTeamMember.objects.filter(district_id=queue.school.district_id).values_list(
                "user_id", flat=True
            )
        )
    return ids


def queue_filter_for(user: User) -> Q:
    """A Q over ResponderQueue: the queues this user works (all of them for a district admin)."""
    condition = Q(pk__in=[])
    by_route: dict[str, set[int]] = {}
    for membership in memberships_of(user):
        for route, roles in ROUTE_ROLES.items():
            if membership.role in roles:
                by_route.setdefault(route, set()).add(membership.school_id)
    for route, school_ids in by_route.items():
        condition |= Q(route=route, school_id__in=school_ids)
    team_districts = list(
        CoResponderTeamMember.objects.filter(user=user).values_list("district_id", flat=True)
    )
    if team_districts:
        condition |= Q(route="co_responder", school__district_id__in=team_districts)
    admin_districts = [d.pk for d in districts_administered(user)]
    if admin_districts:
        condition |= Q(school__district_id__in=admin_districts)
    return condition


def queues_for(user: User) -> QuerySet[ResponderQueue]:
    return ResponderQueue.objects.filter(queue_filter_for(user)).select_related("school")


def incidents_visible_to(user: User) -> QuerySet[Incident]:
    """What they filed, what reached a queue they work, and, for a district admin, the district."""
    if not user.is_authenticated:
        return Incident.objects.none()
    in_my_queues = QueueItem.objects.filter(
        incident=OuterRef("pk"), queue__in=ResponderQueue.objects.filter(queue_filter_for(user))
    )
    condition = Q(filed_by=user) | Exists(in_my_queues)
    admin_districts = [d.pk for d in districts_administered(user)]
    if admin_districts:
        condition |= Q(school__district_id__in=admin_districts)
    return Incident.objects.filter(condition).select_related("school", "filed_by")


def incidents_filed_by(user: User) -> QuerySet[Incident]:
    """What the user filed, each with ``current_route`` (see incident_current_route)."""
    return (
        Incident.objects.filter(filed_by=user)
        .select_related("school")
        .annotate(current_route=current_route_annotation())
    )


def last_school_used(user: User) -> int | None:
    """The school of the last incident this person filed (the report form lists it first)."""
    if not user.is_authenticated:
        return None
    return (
        Incident.objects.filter(filed_by=user)
        .order_by("-filed_at", "-id")
        .values_list("school_id", flat=True)
        .first()
    )


def current_route_annotation():
    """``current_route`` for a queryset of incidents (see incident_current_route)."""
    return Coalesce(Subquery(_latest_item_route(OuterRef("pk"))), F("route"))


def resolved_items_prefetch() -> Prefetch:
    """Each incident's ``resolved_items``: what incident_outcomes returns, for a whole page."""
    return Prefetch("queue_items", queryset=_resolved_items(), to_attr="resolved_items")


def _resolved_items() -> QuerySet[QueueItem]:
    return (
        QueueItem.objects.filter(
            origin__in=[ItemOrigin.ROUTING, ItemOrigin.HANDOFF], state=ItemState.RESOLVED
        )
        .exclude(outcome="")
        .order_by("closed_at", "pk")
    )


def incident_outcomes(incident: Incident) -> list[QueueItem]:
    """How its responders closed the incident: outcome and the summary the reporter reads."""
    return list(_resolved_items().filter(incident=incident))


def _latest_item_route(incident):
    return (
        QueueItem.objects.filter(
            incident=incident, origin__in=[ItemOrigin.ROUTING, ItemOrigin.HANDOFF]
        )
        .order_by("-queued_at", "-pk")
        .values("route")[:1]
    )


def queue_items_for(user: User) -> QuerySet[QueueItem]:
    return QueueItem.objects.filter(
        queue__in=ResponderQueue.objects.filter(queue_filter_for(user))
    ).select_related("queue__school", "incident", "owner")


# --- Responder queues: who may act on an item, and what they see ---------------------------

OPEN_STATES = ("queued", "claimed", "acknowledged")
FINAL_STATES = ("resolved", "handed_off")

# What a responder sees of a rostered student in the incident, by the item's route: the SRO
# and the co-responder team get the behaviour plan and whom to call about it, nothing more;
# counselors and administrators get the plan flags.
ROSTER_FIELDS_BY_ROUTE = {
    "sro": ("bip", "plan_contact"),
    "co_responder": ("bip", "plan_contact"),
    "counselor": ("iep", "section_504", "bip"),
    "administrator": ("iep", "section_504", "bip"),
}


def outcomes_for_user(user: User, item: QueueItem) -> list[str]:
    """The outcomes this person may record on this item (models.OUTCOMES_BY_ROUTE): a citation
    or an arrest only by an SRO of the item's district (its school's, or the co-responder
    team's)."""
    officer = Membership.objects.filter(
        user=user, role=Role.SRO, school__district_id=item.queue.school.district_id
    ).exists()
    return outcomes_for(item.route, officer=officer)


def escalated_to_filter(user: User) -> Q:
    """A Q over QueueItem: the items escalated to this person who do not work their queue.

    The first escalation goes to the school's administrators (services.ESCALATION_LEVELS):
    they may then open the item they were sent to, read-only (each opening is logged)."""
    schools = [m.school_id for m in memberships_of(user) if m.role == Role.ADMINISTRATOR]
    return Q(escalation_level__gte=1, queue__school_id__in=schools)


def queue_item_for(
    user: User, item_id: int, *, for_update: bool = False, reading: bool = False
) -> QueueItem:
    """The item, if the user works its queue or administers its district; with ``reading``,
    also an item escalated to them (marked ``read_only``).

    Raises Http404 for anyone else (nothing confirms that the item exists), except the person
    who filed the incident, who knows it exists: PermissionDenied (403).
    With ``for_update`` the item row is locked (call inside a transaction).
    """
    if not getattr(user, "is_authenticated", False):
        raise Http404("No such queue item.")
    items = queue_items_for(user).select_related(
        "queue__school__district", "incident__school__district", "incident__filed_by"
    )
    if for_update:
        # Lock the bare row first, then read it: PostgreSQL re-checks a joined, LIMITed
        # SELECT ... FOR UPDATE after a lock wait and can return no row at all.
        list(QueueItem.objects.select_for_update().filter(pk=item_id).values_list("pk"))
    item = items.filter(pk=item_id).first()
    if item is not None:
        return item
    if reading:
        item = (
            QueueItem.objects.filter(pk=item_id)
            .filter(escalated_to_filter(user))
            .select_related(
                "queue__school__district",
                "incident__school__district",
                "incident__filed_by",
                "owner",
            )
            .first()
        )
        if item is not None:
            item.read_only = True
            return item
    if QueueItem.objects.filter(pk=item_id, incident__filed_by=user).exists():
        raise PermissionDenied(
            "Only the responders of this item's queue can open it; you can follow your "
            "incident on its own page."
        )
    raise Http404("No such queue item.")


@dataclass(frozen=True)
class StudentView:
    name: str
    role: str
    role_label: str
    on_roster: bool
    iep: bool | None = None
    section_504: bool | None = None
    bip: bool | None = None
    plan_contact: str | None = None


def incident_students_for_item(item: QueueItem) -> list[StudentView]:
    """The students involved in the item's incident, with only what the item's route needs."""
    visible = ROSTER_FIELDS_BY_ROUTE[item.route]
    views = []
    for involvement in IncidentStudent.objects.filter(incident_id=item.incident_id).select_related(
        "student"
    ):
        student = involvement.student
        extra = {name: getattr(student, name) for name in visible} if student else {}
        views.append(
            StudentView(
                name=student.full_name if student else involvement.name,
                role=involvement.role,
                role_label=involvement.get_role_display(),
                on_roster=student is not None,
                **extra,
            )
        )
    return views


def incident_timeline_for_responder(
    incident_id: int, item: QueueItem | None = None
) -> QuerySet[TimelineEvent]:
    """Every event, private notes included: only for people who passed queue_item_for.

    Read through an item its queue handed off, the private notes written after the hand-off
    are left out: the team that passed the incident on does not read what the next one
    writes about the student."""
    events = TimelineEvent.objects.filter(incident_id=incident_id).select_related("actor")
    if item is not None and item.state == ItemState.HANDED_OFF and item.closed_at is not None:
        events = events.exclude(private=True, at__gt=item.closed_at)
    return events


# What the person who filed an incident follows on it: what happened, not who in the
# responders' teams did it, and never their private notes.
REPORTER_EVENT_KINDS = (
    EventKind.FILED,
    EventKind.ROUTED,
    EventKind.ACKNOWLEDGED,
    EventKind.HANDED_OFF,
    EventKind.RESOLVED,
)


def incident_timeline_for(user: User, incident: Incident) -> list[dict]:
    """The incident page's timeline: never a private note, and for its reporter only the kinds
    above, by "you" or "a responder"; others see who did what."""
    if incident.filed_by_id != user.pk:
        return [
            {"kind": event.get_kind_display(), "at": event.at, "by": event.actor or "the system"}
            for event in incident.timeline.filter(private=False).select_related("actor")
        ]
    return [
        {
            "kind": event.get_kind_display(),
            "at": event.at,
            "by": "you"
            if event.actor_id == incident.filed_by_id
            else ("a responder" if event.actor_id else "the system"),
        }
        for event in incident.timeline.filter(kind__in=REPORTER_EVENT_KINDS, private=False)
    ]


def incident_current_route(incident: Incident) -> str | None:
    """Where the incident is now: the route of its latest routing or hand-off item (a hand-off
    moves it), or the routing decision while no item exists yet."""
    latest = _latest_item_route(incident).first()
    return latest["route"] if latest else incident.route


# Life safety by the incident's facts (DOMAIN: the life-safety floor), whatever the route: a
# firearm notification to a principal sorts above the morning's vaping referrals.
LIFE_SAFETY_FACTS = (
    Q(incident__weapon__in=["firearm", "weapon_possessed"])
    | Q(incident__danger_now="to_others")
    | Q(incident__threat="to_kill_or_seriously_injure")
)


def queue_items_listed(
    user: User,
    *,
    school_id: int | None = None,
    route: str | None = None,
    states: Iterable[str] = OPEN_STATES,
    notifications: bool | None = False,
) -> QuerySet[QueueItem]:
    """The items of the user's queues, most urgent first: life safety (by route and by the
    incident's facts), then the route's urgency, then the nearest acknowledge deadline.

    ``notifications``: False, the items to act on; True, the "for your information" ones;
    None, both."""
    items = queue_items_for(user).filter(state__in=list(states))
    if notifications is not None:
        condition = Q(origin=ItemOrigin.NOTIFY)
        items = items.filter(condition) if notifications else items.exclude(condition)
    if school_id is not None:
        items = items.filter(queue__school_id=school_id)
    if route:
        items = items.filter(route=route)
    return items.annotate(
        life_safety=Case(When(LIFE_SAFETY_FACTS | Q(urgency=0), then=0), default=1)
    ).order_by("life_safety", "urgency", F("ack_deadline").asc(nulls_last=True), "queued_at", "id")


COUNTDOWN_AMBER = 0.5  # at most this share of the time to acknowledge left: amber
COUNTDOWN_RED = 0.2  # at most this share left: red; past the deadline: overdue


def countdown_state(item: QueueItem, now) -> str:
    """How the acknowledge countdown looks: "" (nothing to count: acknowledged, closed, or a
    notification), "ok", "amber", "red", "overdue" or "escalated"."""
    if item.state not in ("queued", "claimed") or item.ack_deadline is None:
        return ""
    if item.origin == ItemOrigin.NOTIFY:
        return ""
    if item.escalation_level:
        return "escalated"
    left = (item.ack_deadline - now).total_seconds()
    if left <= 0:
        return "overdue"
    window = max((item.ack_deadline - item.queued_at).total_seconds(), 1.0)
    if left / window <= COUNTDOWN_RED:
        return "red"
    if left / window <= COUNTDOWN_AMBER:
        return "amber"
    return "ok"


def queue_state_counts(queue_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{queue id: {state: number of items}} with every state present, in one query."""
    counts = {queue_id: dict.fromkeys(ItemState.values, 0) for queue_id in queue_ids}
    rows = (
        QueueItem.objects.filter(queue_id__in=list(counts))
        .values("queue_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts[row["queue_id"]][row["state"]] = row["n"]
    return counts


def access_log_for(
    user: User,
    *,
    username: str = "",
    incident_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AccessLogEntry]:
    """The access log of the districts the user administers; PermissionDenied for others."""
    districts = [d.pk for d in districts_administered(user)]
    if not districts:
        raise PermissionDenied("Only district admins can read the access log.")
    entries = AccessLogEntry.objects.filter(
        Q(incident__school__district_id__in=districts) | Q(district_id__in=districts)
    )
    if username:
        entries = entries.filter(user__username__iexact=username)
    if incident_id is not None:
        entries = entries.filter(incident_id=incident_id)
    if since is not None:
        entries = entries.filter(at__date__gte=since)
    if until is not None:
        entries = entries.filter(at__date__lte=until)
    return entries.select_related(
        "user", "incident__school", "queue_item", "district", "person"
    ).order_by("-at", "-id")


@dataclass(frozen=True)
class Answer:
    name: str
    label: str
    value: str
    value_label: str


@dataclass(frozen=True)
class QueueItemDetail:
    item: QueueItem
    answers: list[Answer]
    routing: dict | None
    students: list[StudentView]
    timeline: list[TimelineEvent]
    co_response: "CoResponse | None" = None


def incident_answers(incident: Incident) -> list[Answer]:
    """The reporter's answers (the facts as filed), labelled for people."""
    answers = []
    for name in INTAKE_FACTS:
        field = Incident._meta.get_field(name)
        answers.append(
            Answer(
                name=name,
                label=str(field.verbose_name).replace("_", " ").capitalize(),
                value=getattr(incident, name),
                value_label=getattr(incident, f"get_{name}_display")(),
            )
        )
    return answers


def routing_explanation(incident: Incident) -> dict | None:
    """Why the incident went where it did: the rule, its reasons, the guardrails, the version."""
    if incident.route is None:
        return None
    decision = incident.decision or {}
    return {
        "route": incident.route,
        "route_label": incident.get_route_display(),
        "rule_id": incident.rule_id or None,
        "rule_name": incident.rule_name or "Default route (no rule matched)",
        "ruleset_version": incident.ruleset_version,
        "rationale": decision.get("rationale", ""),
        "reasons": decision.get("reasons", []),
        "guardrails": decision.get("guardrails", []),
        "also_notify": decision.get("also_notify", []),
        "routed_at": incident.routed_at,
    }


@dataclass(frozen=True)
class CoResponse:
    lead: object | None  # the CoResponseMember who leads, or None while nobody is on the way
    on_the_way: list  # every CoResponseMember, in the order they acknowledged
    me: object | None  # the viewer's own CoResponseMember, if they are on the way


def co_response(item: QueueItem, user: User) -> CoResponse | None:
    """Who is on the way to a co-responder item and who leads: the member the team chose, or
    else the first clinician on the way, or else the first member on the way."""
    if item.route != "co_responder":
        return None
    members = list(item.co_responders.select_related("user"))
    lead = next((m for m in members if m.leads), None)
    lead = lead or next((m for m in members if m.role == "clinician"), None)
    lead = lead or (members[0] if members else None)
    me = next((m for m in members if m.user_id == user.pk), None)
    return CoResponse(lead=lead, on_the_way=members, me=me)


def queue_item_detail(user: User, item_id: int) -> QueueItemDetail:
    """Everything a responder reads about an item; 404/403 as queue_item_for."""
    item = queue_item_for(user, item_id, reading=True)
    return QueueItemDetail(
        item=item,
        answers=incident_answers(item.incident),
        routing=routing_explanation(item.incident),
        students=incident_students_for_item(item),
        timeline=list(incident_timeline_for_responder(item.incident_id, item)),
        co_response=co_response(item, user),
    )


# Who responds on each route, as the reporter reads it on the incident page.
ROUTE_WHO = {
    "counselor": "A counselor",
    "administrator": "An administrator",
    "co_responder": "A clinician and the school resource officer",
    "sro": "The school resource officer",
}
ROUTE_WHO_ALSO = {
    "counselor": "a counselor",
    "administrator": "an administrator",
    "co_responder": "the co-responder team",
    "sro": "the school resource officer",
}


def incident_next_step(incident: Incident, route: str | None) -> str:
    """What happens next, in plain words: who has been told, and how soon they must respond
    ("A counselor at Washington Middle has been told and must respond within 15 minutes")."""
    from .services import ack_deadline_minutes

    school = incident.school.name
    if incident.status == Status.RESOLVED:
        return "The responders have closed this report. What they did is below."
    if route is None:
        return (
            "The right responder is being chosen now. This page shows who it is as soon as it "
            "is decided."
        )
    who = ROUTE_WHO[route]
    if incident.status == Status.ACKNOWLEDGED:
        they = "are" if route == "co_responder" else "is"
        return (
            f"{who} at {school} {they} on it. You will be told here and by email when it is "
            "resolved."
        )
    minutes = ack_deadline_minutes(incident.school.district, route)
    have = "have" if route == "co_responder" else "has"
    text = (
        f"{who} at {school} {have} been told and must respond within "
        f"{minutes:g} minute{'' if minutes == 1 else 's'}."
    )
    also = [r for r in (incident.decision or {}).get("also_notify", []) if r in ROUTE_WHO_ALSO]
    if also and route == incident.route:
        names = " and ".join(ROUTE_WHO_ALSO[r] for r in also)
        text += f" {names[:1].upper()}{names[1:]} {'are' if len(also) > 1 else 'is'} also told."
    return text + " You will be told here and by email when a responder is on it."
