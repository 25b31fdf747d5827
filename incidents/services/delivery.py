"""Delivery of queue items to their responders: live update, email naming no student, webhook."""

import hashlib
import hmac
import json
import logging
import urllib.request

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from policies.registry import ROUTE_INFO
from schools.models import User
from triage.bulk import insert_many

from .. import live
from ..models import (
    URGENCY_WORDS,
    Category,
    EventKind,
    ItemOrigin,
    QueueItem,
    TimelineEvent,
)
from ..selectors import queue_members

logger = logging.getLogger(__name__)


def queue_items_deliver_later(*, item_ids: list[int], route: str) -> None:
    """Send one delivery message for these items of one route, on that route's own queue."""
    from ..tasks import deliver_task  # tasks import services: a cycle

    try:
        deliver_task.apply_async(
            args=[item_ids],
            queue=ROUTE_INFO[route].queue,
            routing_key=ROUTE_INFO[route].queue,
            retry=False,
        )
    except Exception as exc:
        logger.warning(
            "delivery of queue item(s) %s not sent (%s)",
            ", ".join(map(str, item_ids)),
            type(exc).__name__,
        )
        QueueItem.objects.filter(pk__in=item_ids, delivered_at__isnull=True).update(
            delivery_attempts=F("delivery_attempts") + 1
        )


_ITEM_FIELDS = tuple(field.name for field in QueueItem._meta.concrete_fields)
_RELATED_READ = (
    "queue__school_id",
    "queue__route",
    "queue__webhook_url",
    "queue__school__name",
    "queue__school__district_id",
    "incident__category",
)


def queue_items_deliver(*, item_ids: list[int]) -> int:
    """Tell each item's queue members: a live update, an email naming no student, the webhook.

    Exactly once per item: the items are locked (in id order, so overlapping deliveries
    cannot deadlock) and only those not yet delivered go on, whatever number of copies of a
    message arrive. Returns how many items this call delivered.
    """

    with transaction.atomic():
        items = list(
            QueueItem.objects.select_for_update(of=("self",))
            .select_related("queue__school", "incident")
            # The mail names the incident's category only: not its narrative or decision.
            .only(*_ITEM_FIELDS, *_RELATED_READ)
            .filter(pk__in=item_ids, delivered_at__isnull=True)
            .order_by("pk")
        )
        if not items:
            return 0
        now = timezone.now()
        QueueItem.objects.filter(pk__in=[item.pk for item in items]).update(delivered_at=now)
        members_of: dict[int, list[User]] = {}
        by_queue: dict[int, list[QueueItem]] = {}
        for item in items:
            item.delivered_at = now
            if item.queue_id not in members_of:
                members_of[item.queue_id] = list(queue_members(item.queue))
            by_queue.setdefault(item.queue_id, []).append(item)
        insert_many(
            TimelineEvent(
                incident_id=item.incident_id,
                kind=EventKind.DELIVERED,
                data={
                    "route": item.route,
                    "item": item.pk,
                    "recipients": len(members_of[item.queue_id]),
                },
            )
            for item in items
        )
        transaction.on_commit(lambda: live.publish_items(items, "arrived"))
        transaction.on_commit(
            lambda: emails_send(
                [
                    _members_email(queued, members_of[queue_id])
                    for queue_id, queued in by_queue.items()
                ]
            )
        )
        for item in items:
            if item.queue.webhook_url:
                transaction.on_commit(lambda item_id=item.pk: _webhook_later(item_id, "queued"))
    return len(items)


# Django's get_FOO_display() builds a dict of the field's choices on every call: once per
# listed item of a delivery's mail, a tenth of a delivery's CPU.
_CATEGORY_LABELS = dict(Category.choices)


def _category(item: QueueItem) -> str:
    """What ``item.incident.get_category_display()`` says."""
    return str(_CATEGORY_LABELS.get(item.incident.category, item.incident.category))


def _item_link(item: QueueItem) -> str:
    return f"{settings.SITE_URL}/queues/items/{item.pk}/"


def _email_message(
    item: QueueItem, people: list[User], subject: str, lead: str, lines: list[str] | None = None
):
    """Mail that names no student and carries no narrative: it only links to the item (or
    gives ``lines`` that do, one per item)."""

    recipients = [person.email for person in people if person.email]
    if not recipients:
        return None
    # "URGENT: Weapon at Washington Middle": what and where, most urgent first in an inbox.
    headline = f"{URGENCY_WORDS[item.urgency]}: {_category(item)} at {item.queue.school.name}"
    return EmailMessage(
        subject=f"{headline} ({subject})",
        body=f"{lead}\n" + "".join(f"{line}\n" for line in lines or [_item_link(item)]),
        to=recipients,
    )


def emails_send(messages: list) -> None:
    """Send these mails over one connection; a failed mail is logged, never raised."""

    messages = [message for message in messages if message is not None]
    if not messages:
        return
    try:
        mailers.default.send_messages(messages)
    except Exception:
        logger.exception("email to queue members failed (%s message(s))", len(messages))


def email_about_item(item: QueueItem, people: list[User], subject: str, lead: str) -> None:
    emails_send([_email_message(item, people, subject, lead)])


def _item_kind(item: QueueItem) -> str:
    return "Notification" if item.origin == ItemOrigin.NOTIFY else "New incident"


def _members_email(items: list[QueueItem], members: list[User]):
    """The mail to a queue's members about the items one delivery brought it.

    One item: its own mail. Several (a burst of reports, e.g. many staff reporting the same
    event): one mail listing them, the most urgent first and named in the subject, so a
    responder's inbox and phone get one message per delivery, not one per report, and
    nothing waits for it (a delivery sends what it delivered, at once).
    """
    items = sorted(items, key=lambda item: (item.urgency, item.pk))
    first = items[0]
    school, route = first.queue.school.name, first.get_route_display()
    if len(items) == 1:
        return _email_message(
            first,
            members,
            subject=(
                "for your information"
                if first.origin == ItemOrigin.NOTIFY
                else f"new, {route} queue"
            ),
            lead=f"{_item_kind(first)} for the {route} queue at {school}. "
            "Open it to read what happened and respond:",
        )
    return _email_message(
        first,
        members,
        subject=f"and {len(items) - 1} more, {route} queue",
        lead=f"{len(items)} new items for the {route} queue at {school}, the most urgent "
        "first. Open each to read what happened and respond:",
        lines=[
            f"- {URGENCY_WORDS[item.urgency]}: {_category(item)} "
            f"({_item_kind(item).lower()}) {_item_link(item)}"
            for item in items
        ],
    )


def _webhook_later(item_id: int, event: str) -> None:
    from ..tasks import webhook_task  # tasks import services: a cycle

    try:
        webhook_task.delay(item_id, event)
    except Exception as exc:
        logger.warning("webhook for queue item %s not sent (%s)", item_id, type(exc).__name__)


def webhook_payload(item: QueueItem, event: str) -> dict:
    """What a webhook receives: ids, route, state and times; never a student's name."""
    return {
        "event": event,
        "item": item.pk,
        "incident": item.incident_id,
        "school": item.queue.school.code,
        "route": item.route,
        "state": item.state,
        "notification": item.origin == ItemOrigin.NOTIFY,
        "queued_at": item.queued_at.isoformat(),
    }


def webhook_signature(secret: str, body: bytes) -> str:

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def queue_item_webhook(*, item_id: int, event: str) -> None:
    """POST the signed event; raises on failure so the task retries with backoff."""

    item = QueueItem.objects.select_related("queue__school").get(pk=item_id)
    if not item.queue.webhook_url:
        return
    body = json.dumps(webhook_payload(item, event), sort_keys=True).encode()
    request = urllib.request.Request(  # noqa: S310 - an admin-configured http(s) URL
        item.queue.webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Triage-Signature": webhook_signature(item.queue.webhook_secret, body),
            "X-Triage-Event": event,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if response.status >= 300:
            raise RuntimeError(f"webhook answered {response.status}")


# A first send that went through is not recorded (the hot path writes nothing for it): an
# incident still unrouted this long after filing is sent again, in case its message was lost
# (e.g. a Redis restart). Later re-sends back off, so a backlog is not flooded with copies.
