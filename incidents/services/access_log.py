"""The access log: every read of a student's record by someone other than its reporter."""

import logging

from schools.models import User

from ..models import (
    AccessLogEntry,
    Incident,
    QueueItem,
)

logger = logging.getLogger(__name__)


def access_record(
    *, user: User, incident: Incident, action: str, queue_item: QueueItem | None = None
) -> AccessLogEntry | None:
    """Log that someone other than the reporter opened this incident (or one of its items)."""
    if incident.filed_by_id == user.pk:
        return None
    return AccessLogEntry.objects.create(
        user=user,
        username=user.get_username(),
        incident=incident,
        queue_item=queue_item,
        action=action,
    )


def access_record_many(*, user: User, incidents, action: str) -> int:
    """Log a list read: one entry per incident of the page that the user did not file."""
    entries = AccessLogEntry.objects.bulk_create(
        AccessLogEntry(user=user, username=user.get_username(), incident=incident, action=action)
        for incident in incidents
        if incident.filed_by_id != user.pk
    )
    return len(entries)
