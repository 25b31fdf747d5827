"""Every read of incidents and queues. Permission scoping happens here, once, for all callers.

One module per room: ``visibility`` (who may see what), ``incident``, ``queue``, ``access_log``;
the selectors are re-exported here.
"""

from .access_log import (  # noqa: F401
    access_log_for,
)
from .incident import (  # noqa: F401
    REPORTER_EVENT_KINDS,
    Answer,
    ack_deadline_minutes,
    current_route_annotation,
    incident_answers,
    incident_current_route,
    incident_next_step,
    incident_outcomes,
    incident_timeline_for,
    incident_timeline_for_responder,
    resolved_items_prefetch,
    routing_decision_for,
)
from .queue import (  # noqa: F401
    COUNTDOWN_AMBER,
    COUNTDOWN_RED,
    LIFE_SAFETY_FACTS,
    ROSTER_FIELDS_BY_ROUTE,
    CoResponse,
    QueueItemDetail,
    StudentView,
    co_response,
    countdown_state,
    escalated_to_filter,
    incident_students_for_item,
    item_incident_lock,
    outcomes_for_user,
    queue_item_detail,
    queue_item_for,
    queue_items_for,
    queue_items_listed,
    queue_state_counts,
)
from .visibility import (  # noqa: F401
    ROUTE_ROLES,
    incidents_filed_by,
    incidents_visible_to,
    last_school_used,
    queue_filter_for,
    queue_members,
    queues_for,
)
