"""Every write to incidents, one module per job; the public services are re-exported here.

Each service is one transaction, records its timeline event, and schedules follow-up tasks
only after commit. The rooms: ``intake`` (filing), ``routing`` (the wake-up message, routing
batches, queue items), ``delivery`` (telling responders: live, email, webhook), ``sweeps``
(re-sends, escalation), ``queue_actions`` (claim ... resolve, reporter news), ``access_log``,
``queues`` (opening responder queues) and ``timeline``.
"""

from .access_log import (  # noqa: F401
    access_record,
    access_record_many,
)
from .delivery import (  # noqa: F401
    queue_item_webhook,
    queue_items_deliver,
    queue_items_deliver_later,
    queue_members,
    webhook_payload,
    webhook_signature,
)
from .intake import (  # noqa: F401
    IdempotencyKeyReused,
    InvolvedStudent,
    incident_file,
)
from .queue_actions import (  # noqa: F401
    HANDOFF_REASON_MAX_LENGTH,
    NOTE_MAX_LENGTH,
    REPORTER_NEWS,
    SUMMARY_MAX_LENGTH,
    QueueItemConflict,
    queue_item_acknowledge,
    queue_item_claim,
    queue_item_handoff,
    queue_item_lead_take,
    queue_item_note,
    queue_item_resolve,
    reporter_notify,
)
from .queues import (  # noqa: F401
    responder_queues_open,
)
from .routing import (  # noqa: F401
    DELIVERY_BATCH,
    ROUTING_BATCH,
    ROUTING_BUSY,
    ROUTING_COALESCE_S,
    ROUTING_ROUNDS,
    ROUTING_WAKEUP_TTL_MS,
    incident_dispatch,
    incident_route,
    incidents_route_waiting,
    routing_wakeup_clear,
    routing_wakeup_key,
)
from .sweeps import (  # noqa: F401
    ESCALATION_LEVELS,
    LIVE_EVENTS_KEPT,
    RESEND_BACKOFF_MAX,
    RESEND_FIRST_AFTER,
    incidents_resend_unrouted,
    live_events_prune,
    queue_item_escalate,
    queue_items_escalate_overdue,
    queue_items_resend_undelivered,
)
from .timeline import (  # noqa: F401
    timeline_record,
)
