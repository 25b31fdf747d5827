"""Who may see which queues and incidents: the permission scoping every read starts from."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from schools.models import Membership, Role, User
from schools.selectors import districts_administered, memberships_of

from ..models import (
    CoResponderTeamMember,
    Incident,
    QueueItem,
    ResponderQueue,
    Route,
)
from .incident import current_route_annotation

ROUTE_ROLES = {
    Route.COUNSELOR: {Role.COUNSELOR},
    Route.ADMINISTRATOR: {Role.ADMINISTRATOR},
    Route.SRO: {Role.SRO},
    Route.CO_RESPONDER: {Role.CLINICIAN, Role.SRO},
}


def queue_members(queue: ResponderQueue) -> QuerySet[User]:
    """The active people who work this queue: its route's roles at its school (and, for the
    co-responder route, the district's team), in one query."""
    roles = ROUTE_ROLES[queue.route]
    members = Q(
        pk__in=Membership.objects.filter(school_id=queue.school_id, role__in=roles).values(
            "user_id"
        )
    )
    if queue.route == Route.CO_RESPONDER:
        members |= Q(
            pk__in=CoResponderTeamMember.objects.filter(
                district_id=queue.school.district_id
            ).values("user_id")
        )
    return User.objects.filter(members, is_active=True).order_by()


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
        condition |= Q(route=Route.CO_RESPONDER, school__district_id__in=team_districts)
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
