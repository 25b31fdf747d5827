"""The timeline: one event per thing that happened to an incident, with its actor."""

import logging

from schools.models import User

from ..models import (
    Incident,
    TimelineEvent,
)

logger = logging.getLogger(__name__)


def timeline_record(
    *,
    kind: str,
    incident: Incident | None = None,
    incident_id: int | None = None,
    actor: User | None = None,
    private: bool = False,
    **data,
) -> TimelineEvent:
    return TimelineEvent.objects.create(
        incident_id=incident.pk if incident is not None else incident_id,
        kind=kind,
        actor=actor,
        private=private,
        data=data,
    )
