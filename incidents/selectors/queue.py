"""Reads of the responder queues: the items a person may work, detail, countdowns, counts."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, F, Q, QuerySet, When
from django.http import Http404

from schools.models import Membership, Role, User
from schools.selectors import memberships_of

from ..models import (
    OPEN_ITEM_STATES,
    Incident,
    IncidentStudent,
    ItemOrigin,
    ItemState,
    QueueItem,
    ResponderQueue,
    Route,
    TimelineEvent,
    outcomes_for,
)
from .incident import (
    Answer,
    incident_answers,
    incident_timeline_for_responder,
    routing_decision_for,
)
from .visibility import queue_filter_for


def queue_items_for(user: User) -> QuerySet[QueueItem]:
    return QueueItem.objects.filter(
        queue__in=ResponderQueue.objects.filter(queue_filter_for(user))
    ).select_related("queue__school", "incident", "owner")


# --- Responder queues: who may act on an item, and what they see ---------------------------


# What a responder sees of a rostered student in the incident, by the item's route: the SRO
# and the co-responder team get the behaviour plan and whom to call about it, nothing more;
# counselors and administrators get the plan flags.
ROSTER_FIELDS_BY_ROUTE = {
    Route.SRO: ("bip", "plan_contact"),
    Route.CO_RESPONDER: ("bip", "plan_contact"),
    Route.COUNSELOR: ("iep", "section_504", "bip"),
    Route.ADMINISTRATOR: ("iep", "section_504", "bip"),
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


def item_incident_lock(item_id: int) -> None:
    """Lock the incident of this item (inside a transaction), before the item itself.

    One lock order for every change to an incident's items: the incident, then its items.
    Each action refreshes the incident's status and rollups under the incident's lock, and a
    resolve closes the incident's open notification items; an action that took its item first
    could wait for the incident while another, holding the incident, waited for that item
    (PostgreSQL found the deadlock under concurrent hand-offs and resolves).
    """
    incident_id = QueueItem.objects.filter(pk=item_id).values_list("incident_id", flat=True)
    list(Incident.objects.select_for_update().filter(pk__in=incident_id).values_list("pk"))


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
        item_incident_lock(item_id)
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
    states: Iterable[str] = OPEN_ITEM_STATES,
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


@dataclass(frozen=True)
class QueueItemDetail:
    item: QueueItem
    answers: list[Answer]
    routing: dict | None
    students: list[StudentView]
    timeline: list[TimelineEvent]
    co_response: "CoResponse | None" = None


@dataclass(frozen=True)
class CoResponse:
    lead: object | None  # the CoResponseMember who leads, or None while nobody is on the way
    on_the_way: list  # every CoResponseMember, in the order they acknowledged
    me: object | None  # the viewer's own CoResponseMember, if they are on the way


def co_response(item: QueueItem, user: User) -> CoResponse | None:
    """Who is on the way to a co-responder item and who leads: the member the team chose, or
    else the first clinician on the way, or else the first member on the way."""
    if item.route != Route.CO_RESPONDER:
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
        routing=routing_decision_for(user, item.incident),
        students=incident_students_for_item(item),
        timeline=list(incident_timeline_for_responder(item.incident_id, item)),
        co_response=co_response(item, user),
    )
