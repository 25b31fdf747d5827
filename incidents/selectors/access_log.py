"""Reads of the access log: who opened which student's record, scoped to the reader."""

from datetime import date

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from schools.models import User
from schools.selectors import districts_administered

from ..models import (
    AccessLogEntry,
)


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
