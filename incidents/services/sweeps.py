"""The beat's sweeps: re-send what seems lost, prune live events, escalate what is overdue."""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from schools.models import Membership, Role, User

from .. import live
from ..models import (
    EventKind,
    Incident,
    ItemState,
    LiveEvent,
    QueueItem,
)
from ..selectors import ack_deadline_minutes, item_incident_lock
from . import routing
from .delivery import email_about_item
from .routing import deliveries_send
from .timeline import timeline_record

logger = logging.getLogger(__name__)

RESEND_FIRST_AFTER = timedelta(seconds=30)
RESEND_BACKOFF_MAX = timedelta(minutes=10)


def _resend_due(*, attempts: int, last: datetime | None, since: datetime, now: datetime) -> bool:
    """Is a re-send due? ``last`` is the sweep's last send, ``since`` when the row was made."""
    if last is None:
        # Never swept: at once when the first send failed, otherwise after a grace period.
        return attempts > 0 or since <= now - RESEND_FIRST_AFTER
    wait = min(RESEND_FIRST_AFTER * 2 ** max(attempts - 1, 0), RESEND_BACKOFF_MAX)
    return last <= now - wait


def incidents_resend_unrouted(*, limit: int = 1000) -> int:
    """Send again the incidents whose routing message was never sent or seems lost."""
    now = timezone.now()
    candidates = (
        Incident.objects.filter(route__isnull=True)
        .filter(Q(dispatch_attempts__gt=0) | Q(filed_at__lte=now - RESEND_FIRST_AFTER))
        .order_by("filed_at")
        .values_list("pk", "dispatch_attempts", "last_dispatch_at", "filed_at")[:limit]
    )
    ids = [
        pk
        for pk, attempts, last, filed_at in candidates
        if _resend_due(attempts=attempts, last=last, since=filed_at, now=now)
    ]
    if not ids:
        return 0
    Incident.objects.filter(pk__in=ids).update(
        last_dispatch_at=now, dispatch_attempts=F("dispatch_attempts") + 1
    )
    sent = sum(
        1 for incident_id in ids if routing.incident_dispatch(incident_id=incident_id, force=True)
    )
    if sent:
        logger.info("re-sent %s unrouted incident(s) for routing", sent)
    return sent


LIVE_EVENTS_KEPT = timedelta(hours=1)


def live_events_prune() -> int:
    """Live events only matter to pages open right now; keep an hour of them."""

    deleted, _ = LiveEvent.objects.filter(at__lt=timezone.now() - LIVE_EVENTS_KEPT).delete()
    return deleted


def queue_items_resend_undelivered(*, limit: int = 1000) -> int:
    """Send again the deliveries that were never sent (broker down) or seem lost."""
    now = timezone.now()
    candidates = (
        QueueItem.objects.filter(delivered_at__isnull=True)
        .filter(Q(delivery_attempts__gt=0) | Q(queued_at__lte=now - RESEND_FIRST_AFTER))
        .order_by("queued_at")
        .values_list("pk", "route", "delivery_attempts", "last_delivery_at", "queued_at")[:limit]
    )
    due = [
        (pk, route)
        for pk, route, attempts, last, queued_at in candidates
        if _resend_due(attempts=attempts, last=last, since=queued_at, now=now)
    ]
    QueueItem.objects.filter(pk__in=[pk for pk, _ in due]).update(
        last_delivery_at=now, delivery_attempts=F("delivery_attempts") + 1
    )
    deliveries_send(due)
    return len(due)


ESCALATION_LEVELS = ("school_administrators", "district_admins")


def queue_items_escalate_overdue(*, now: datetime | None = None) -> int:
    """Escalate items not acknowledged in time: once per level, never twice."""
    now = now or timezone.now()
    escalated = 0
    candidates = list(
        QueueItem.objects.filter(
            state__in=[ItemState.QUEUED, ItemState.CLAIMED],
            ack_deadline__lte=now,
            escalation_level__lt=len(ESCALATION_LEVELS),
        ).values_list("pk", flat=True)[:500]
    )
    for item_id in candidates:
        if queue_item_escalate(item_id=item_id, now=now):
            escalated += 1
    return escalated


def queue_item_escalate(*, item_id: int, now: datetime) -> bool:

    with transaction.atomic():
        item_incident_lock(item_id)
        item = (
            QueueItem.objects.select_for_update(of=("self",))
            .select_related("queue__school__district", "incident")
            .get(pk=item_id)
        )
        if (
            item.state not in (ItemState.QUEUED, ItemState.CLAIMED)
            or item.ack_deadline is None
            or item.ack_deadline > now
            or item.escalation_level >= len(ESCALATION_LEVELS)
        ):
            return False
        level = item.escalation_level + 1
        audience = ESCALATION_LEVELS[level - 1]
        item.escalation_level = level
        # The next level gets the same time again to act.
        minutes = ack_deadline_minutes(item.queue.school.district, item.route)
        item.ack_deadline = now + timedelta(minutes=minutes)
        item.save(update_fields=["escalation_level", "ack_deadline"])
        recipients = _escalation_recipients(item, audience)
        timeline_record(
            incident=item.incident,
            kind=EventKind.ESCALATED,
            item=item.pk,
            route=item.route,
            level=level,
            to=audience,
            recipients=len(recipients),
        )
        transaction.on_commit(lambda: _email_escalation(item, recipients))
        transaction.on_commit(lambda: live.publish_item(item, "escalated"))
    return True


def _escalation_recipients(item: QueueItem, audience: str) -> list[User]:

    if audience == "school_administrators":
        members = Membership.objects.filter(school=item.queue.school, role=Role.ADMINISTRATOR)
    else:
        members = Membership.objects.filter(
            school__district=item.queue.school.district, role=Role.DISTRICT_ADMIN
        )
    return list(User.objects.filter(pk__in=members.values("user_id"), is_active=True))


def _email_escalation(item: QueueItem, recipients: list[User]) -> None:
    email_about_item(
        item,
        recipients,
        subject=f"not acknowledged in time, {item.get_route_display()} queue",
        lead=f"An incident in the {item.get_route_display()} queue at "
        f"{item.queue.school.name} has not been acknowledged in time.",
    )
