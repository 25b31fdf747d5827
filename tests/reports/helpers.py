"""Routed incidents written straight to the tables, for the reports' hand-computed examples."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from incidents.models import (
    Incident,
    IncidentStudent,
    QueueItem,
    ResponderQueue,
    TimelineEvent,
)
from incidents.services.rollups import (
    rollups_handed_off,
    rollups_incidents_routed,
    rollups_item_acknowledged,
)
from tests.factories import UserFactory

DEFAULT_WHEN = datetime(2025, 10, 15, 10, 0, tzinfo=timezone.get_fixed_timezone(-360))


def routed_incident(
    school,
    route: str,
    *,
    subjects=(),
    targets=(),
    witnesses=(),
    when: datetime = DEFAULT_WHEN,
    notify=(),
    outcome: str = "",
    ack_after: timedelta | None = None,
    handoff_to: str | None = None,
) -> Incident:
    reporter = UserFactory()
    incident = Incident.objects.create(
        school=school,
        filed_by=reporter,
        occurred_at=when,
        category="disruption",
        narrative="test",
        route=route,
        routed_at=when,
        status="routed",
        facts={"category": "disruption"},
        decision={"route": route, "also_notify": list(notify)},
    )
    for role, students in (("subject", subjects), ("target", targets), ("witness", witnesses)):
        for student in students:
            IncidentStudent.objects.create(incident=incident, student=student, role=role)
    queue, _ = ResponderQueue.objects.get_or_create(school=school, route=route)
    item = QueueItem.objects.create(
        incident=incident,
        queue=queue,
        route=route,
        origin="routing",
        state="resolved" if outcome else ("acknowledged" if ack_after else "queued"),
        queued_at=when,
        acknowledged_at=when + ack_after if ack_after else None,
        outcome=outcome,
    )
    if handoff_to:
        # As the hand-off service does: the item closes, one opens in the target queue (and
        # the outcome, if any, is the target's).
        target_queue, _ = ResponderQueue.objects.get_or_create(school=school, route=handoff_to)
        target = QueueItem.objects.create(
            incident=incident,
            queue=target_queue,
            route=handoff_to,
            origin="handoff",
            state="resolved" if outcome else "queued",
            queued_at=when,
            outcome=outcome,
        )
        item.state, item.outcome, item.handed_off_to = "handed_off", "", target
        item.save(update_fields=["state", "outcome", "handed_off_to"])
    for also in notify:
        notify_queue, _ = ResponderQueue.objects.get_or_create(school=school, route=also)
        QueueItem.objects.create(
            incident=incident, queue=notify_queue, route=also, origin="notify", queued_at=when
        )
    event = None
    if handoff_to:
        event = TimelineEvent.objects.create(
            incident=incident,
            kind="handed_off",
            data={"from": route, "to": handoff_to, "reason": "test"},
        )
        TimelineEvent.objects.filter(pk=event.pk).update(at=when)
        event.at = when
    with transaction.atomic():
        # The services keep the report rollups as they write; this helper counts the incident
        # once, as it now is (its items, hand-off and outcome included), its hand-off and its
        # routing item's wait.
        rollups_incidents_routed(incidents=[incident], items=list(incident.queue_items.all()))
        if event is not None:
            rollups_handed_off(event=event)
        if item.acknowledged_at is not None:
            rollups_item_acknowledged(item=item, previous=None)
    return incident
