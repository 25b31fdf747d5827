"""Responder queues exist from the moment their school does."""

import logging
from collections.abc import Iterable

from ..models import (
    ResponderQueue,
    Route,
)

logger = logging.getLogger(__name__)


def responder_queues_open(*, school_ids: Iterable[int]) -> int:
    """Open every route's queue at these schools (those not open yet); returns how many.

    Called when a school is created or someone is given a role at one, so that a queue
    exists from the moment its school does: reading an empty queue is a 200 with no items,
    and no page has to write on GET. Migration 0007 opened the queues of existing schools.
    """
    wanted = {(school_id, route) for school_id in set(school_ids) for route in Route.values}
    if not wanted:
        return 0
    existing = set(
        ResponderQueue.objects.filter(school_id__in={s for s, _ in wanted}).values_list(
            "school_id", "route"
        )
    )
    missing = wanted - existing
    if missing:
        ResponderQueue.objects.bulk_create(
            [ResponderQueue(school_id=s, route=r) for s, r in sorted(missing)],
            ignore_conflicts=True,
        )
    return len(missing)
