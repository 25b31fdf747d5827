"""Every write to incidents: filing, routing and the responder queues' actions.

Each service is one transaction, records its timeline event, and schedules follow-up tasks
only after commit.
"""

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from policies import selectors as policy_selectors
from policies.models import RuleSetStatus
from policies.registry import LIFE_SAFETY_DANGER, weapon_reported
from schools.models import Role, School, Student, User
from schools.selectors import has_role_at

from .facts import incidents_facts
from .models import (
    URGENCY,
    URGENCY_WORDS,
    AccessLogEntry,
    CoResponderRole,
    EventKind,
    Incident,
    IncidentStudent,
    ItemOrigin,
    ItemState,
    Outcome,
    QueueItem,
    ResponderQueue,
    Route,
    Status,
    TimelineEvent,
)

logger = logging.getLogger(__name__)

ACK_DEADLINES = {"sro": 2, "co_responder": 5, "counselor": 15, "administrator": 30}  # minutes


@dataclass(frozen=True)
class InvolvedStudent:
    role: str
    student: Student | None = None
    name: str = ""
    age: int | None = None


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


class IdempotencyKeyReused(Exception):
    """The key was used before for a different report (like payment APIs: 422)."""

    def __init__(self, incident: Incident):
        self.incident = incident
        super().__init__(
            f"This Idempotency-Key already filed incident {incident.pk} with a different "
            "report; this one was not filed. Send it again with a new key to file it."
        )


def _filing_fingerprint(**filed) -> str:
    students = filed.pop("students")
    filed["students"] = [
        [s.role, s.student.pk if s.student else None, s.name, s.age] for s in students
    ]
    filed["school"] = filed["school"].pk
    filed["occurred_at"] = filed["occurred_at"].isoformat() if filed["occurred_at"] else None
    canonical = json.dumps(filed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def incident_file(
    *,
    reporter: User,
    school: School,
    category: str,
    narrative: str,
    occurred_at: datetime | None = None,
    location: str = "other",
    weapon: str = "unknown",
    injury: str = "unknown",
    threat: str = "unknown",
    threat_words: str = "",
    danger_now: str = "unknown",
    student_state: str = "unknown",
    with_now: str = "unknown",
    students: list[InvolvedStudent] = (),
    idempotency_key: str = "",
) -> tuple[Incident, bool]:
    """Save a filed incident and send it for routing after commit.

    Returns (incident, created). A repeated idempotency key from the same reporter with the
    same report returns the incident it first created, so a double click or a resend files
    one incident; with a different report it raises IdempotencyKeyReused.
    """
    if not has_role_at(reporter, school):
        raise PermissionDenied(f"You have no role at {school.code}.")
    filed = {
        "school": school,
        "category": category,
        "narrative": narrative,
        "location": location,
        "weapon": weapon,
        "injury": injury,
        "threat": threat,
        "threat_words": threat_words,
        "danger_now": danger_now,
        "student_state": student_state,
        "with_now": with_now,
    }
    fingerprint = _filing_fingerprint(**filed, occurred_at=occurred_at, students=list(students))
    if idempotency_key:
        existing = Incident.objects.filter(
            filed_by=reporter, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return _same_filing(existing, fingerprint), False
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                **filed,
                filed_by=reporter,
                occurred_at=occurred_at or timezone.now(),
                idempotency_key=idempotency_key,
                idempotency_fingerprint=fingerprint if idempotency_key else "",
            )
            involved = IncidentStudent.objects.bulk_create(
                IncidentStudent(
                    incident=incident, student=s.student, name=s.name, age=s.age, role=s.role
                )
                for s in students
            )
            # What was just written, so the answer needs no second read of it.
            incident._prefetched_objects_cache = {"students": involved}
            timeline_record(incident=incident, kind=EventKind.FILED, actor=reporter)
            # Life safety first: an incident the life-safety floor covers always sends its own
            # routing message, which routes it before anything else waiting.
            life_safety = weapon_reported(category, weapon) or danger_now == LIFE_SAFETY_DANGER
            transaction.on_commit(
                lambda: incident_dispatch(incident_id=incident.pk, force=life_safety)
            )
    except IntegrityError:
        if not idempotency_key:
            raise
        # The same key raced in from a second request: that one won.
        existing = Incident.objects.get(filed_by=reporter, idempotency_key=idempotency_key)
        return _same_filing(existing, fingerprint), False
    return incident, True


def _same_filing(existing: Incident, fingerprint: str) -> Incident:
    # Incidents filed before fingerprints were kept have none: taken as the same, as before.
    if existing.idempotency_fingerprint and existing.idempotency_fingerprint != fingerprint:
        raise IdempotencyKeyReused(existing)
    return existing


# Routing messages are wake-ups. Each routing task routes its own incident and then every
# incident waiting, batch by batch (group commit), so under load one message does the work of
# many. Filing therefore sends a message only when none is pending: a Redis key, set when a
# message is sent and cleared by the task before it looks for waiting incidents, says one is.
# An incident that finds the key set was committed before the pending task clears it, so that
# task's search finds it. The key expires, so a lost message costs at most a second of
# coalescing; the sweep re-sends whatever is still unrouted. With nothing waiting, every
# filing sends its own message: latency is not traded for throughput.
ROUTING_WAKEUP_TTL_MS = 1000
ROUTING_BATCH = 50  # incidents per transaction
ROUTING_ROUNDS = 20  # batches per task; more waiting continues in a new message
DELIVERY_BATCH = 100  # items per delivery message


def routing_wakeup_key() -> str:
    """The wake-up key, one per database: deployments that share a Redis do not share it."""
    from django.db import connection

    return f"triage:routing:wakeup:{connection.settings_dict['NAME']}"


def _routing_wakeup_claim() -> bool:
    """True when the caller should send a routing message: none is pending (or no Redis)."""
    wakeup = _wakeup_redis(timeout=0.25)  # on the filing request: never wait long on Redis
    if wakeup is None:
        return True
    try:
        return bool(wakeup.set(routing_wakeup_key(), "1", nx=True, px=ROUTING_WAKEUP_TTL_MS))
    except Exception:  # Redis down: send, and let the broker's own failure path decide
        return True


def routing_wakeup_clear() -> None:
    """Called by the routing task before it searches: filings from now on send again."""
    wakeup = _wakeup_redis()
    if wakeup is None:
        return
    try:
        wakeup.delete(routing_wakeup_key())
    except Exception:  # the key expires by itself
        logger.warning("routing wake-up key not cleared; it expires in a second")


def _wakeup_redis(timeout: float = 5.0):
    """The Redis client for the wake-up key, or None with the embedded default (no Redis)."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return None
    from triage.redis import client

    return client(timeout=timeout)


def incident_dispatch(*, incident_id: int, force: bool = False) -> bool:
    """Send the routing task, unless one pending will route this incident (``force``: always).

    Never raises: the row is the outbox, and the sweep re-sends.
    """
    from .tasks import incident_route_task

    if not force and not _routing_wakeup_claim():
        return True
    try:
        incident_route_task.apply_async(args=[incident_id], retry=False)
    except Exception as exc:  # the broker is down: the beat sweep will send it later
        logger.warning(
            "routing of incident %s not sent yet (%s); the sweep will retry",
            incident_id,
            type(exc).__name__,
        )
        if not force:
            routing_wakeup_clear()  # no message is pending after all
        # Only on failure, so the happy path writes nothing: the sweep sends these first.
        Incident.objects.filter(pk=incident_id, route__isnull=True).update(
            dispatch_attempts=F("dispatch_attempts") + 1
        )
        return False
    return True


_ROUTED_FIELDS = (
    "route",
    "routed_at",
    "ruleset",
    "ruleset_version",
    "rule_id",
    "rule_name",
    "decision",
    "facts",
    "status",
)


def incident_route(*, incident_id: int, batch: int = 1) -> Incident | None:
    """Route an incident with its district's published policy. Idempotent.

    Locks the row; an incident that already has a route is left as it is, so a repeated
    message makes no second decision and no second queue item. With ``batch`` > 1 up to
    batch - 1 other waiting incidents are routed in the same transaction. Returns the
    incident, or None when it does not exist or waits for a published rule set.
    """
    own, _ = _route_round(incident_id, batch)
    return own


def incidents_route_waiting(
    *, incident_id: int, batch: int = ROUTING_BATCH, rounds: int = ROUTING_ROUNDS
) -> Incident | None:
    """The routing task: this incident, then every incident waiting, a batch per transaction.

    Stops at the first batch that is not full; after ``rounds`` full ones it sends a new
    message to go on, so one task never runs past its time limit.
    """
    routing_wakeup_clear()
    own, full = _route_round(incident_id, batch)
    for _ in range(rounds - 1):
        if not full:
            return own
        _, full = _route_round(None, batch)
    if full:
        incident_dispatch(incident_id=incident_id, force=True)
    return own


def _route_round(own_id: int | None, batch: int) -> tuple[Incident | None, bool]:
    """One transaction: the own incident (waiting for its lock) and up to ``batch`` in all
    of the others waiting, locked with SKIP LOCKED so that two workers never wait on (or
    route) each other's. Only districts with a published rule set are searched, so incidents
    that wait for one do not fill every batch. Returns (own incident if routed, batch full)."""
    with transaction.atomic():
        todo = []
        own = None
        if own_id is not None:
            own = (
                Incident.objects.select_for_update(of=("self",))
                .select_related("school__district")
                .filter(pk=own_id)
                .first()
            )
            if own is None:
                logger.warning("routing: incident %s does not exist", own_id)
            elif own.route is None:
                todo.append(own)
        room = batch - len(todo) if batch > 1 else 0
        if room > 0:
            todo += (
                Incident.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("school__district")
                .filter(
                    route__isnull=True,
                    school__district__rulesets__status=RuleSetStatus.PUBLISHED,
                )
                .exclude(pk=own_id or 0)
                .order_by("filed_at")[:room]
            )
        if todo:
            _incidents_route_locked(todo)
    return (own if own is not None and own.route is not None else None), len(todo) >= batch


def _incidents_route_locked(incidents: list[Incident]) -> None:
    """Decide, store, queue and record: a few statements for the whole batch."""
    rulesets = {
        district_id: policy_selectors.ruleset_published(district_id)
        for district_id in {incident.school.district_id for incident in incidents}
    }
    ready = []
    for incident in incidents:
        if rulesets[incident.school.district_id] is None:
            logger.error(
                "routing: district %s has no published rule set; incident %s waits",
                incident.school.district_id,
                incident.pk,
            )
        else:
            ready.append(incident)
    if not ready:
        return
    now = timezone.now()
    facts_by_id = incidents_facts(ready)
    plans = []
    for incident in ready:
        ruleset = rulesets[incident.school.district_id]
        facts = facts_by_id[incident.pk]
        decision = policy_selectors.compiled_policy(ruleset).decide(facts)
        incident.route = decision.route
        incident.routed_at = now
        incident.ruleset = ruleset
        incident.ruleset_version = ruleset.version
        incident.rule_id = decision.rule_id or ""
        incident.rule_name = decision.rule_name or ""
        incident.decision = decision.as_dict()
        incident.facts = facts
        incident.status = Status.ROUTED
        routed = TimelineEvent(
            incident=incident,
            kind=EventKind.ROUTED,
            data={
                "route": decision.route,
                "rule": decision.rule_name or "default route",
                "ruleset_version": ruleset.version,
                "guardrails": [g["guardrail"] for g in decision.guardrails],
            },
        )
        targets = [(decision.route, ItemOrigin.ROUTING)]
        targets += [(route, ItemOrigin.NOTIFY) for route in decision.also_notify]
        plans.append((incident, targets, [routed]))
    Incident.objects.bulk_update(ready, _ROUTED_FIELDS)
    items = _queue_items_create_many(plans, now)
    due = [(item.pk, item.route) for item in items]
    transaction.on_commit(lambda: _deliveries_send(due))
    routed = [(incident.pk, incident.route) for incident in ready]
    transaction.on_commit(lambda: _publish_routed(routed))


def _publish_routed(routed: list[tuple[int, str]]) -> None:
    """The reporters' incident pages show the route as soon as it is decided."""
    from . import live

    live.publish(
        [
            (
                live.incident_channel(incident_id),
                {"event": "routed", "incident": incident_id, "route": route},
            )
            for incident_id, route in routed
        ]
    )


def _deliveries_send(due: list[tuple[int, str]]) -> None:
    """One delivery message per route (of at most DELIVERY_BATCH items) for these
    (item id, route) pairs."""
    by_route: dict[str, list[int]] = {}
    for item_id, route in due:
        by_route.setdefault(route, []).append(item_id)
    for route, item_ids in by_route.items():
        for start in range(0, len(item_ids), DELIVERY_BATCH):
            chunk = item_ids[start : start + DELIVERY_BATCH]
            queue_items_deliver_later(item_ids=chunk, route=route)


def ack_deadline_minutes(district, route: str) -> float:
    """Minutes to acknowledge an item of this route: the district's setting or the default."""
    overrides = getattr(district, "ack_deadlines", None) or {}
    return float(overrides.get(route, ACK_DEADLINES[route]))


def _queues_for(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], ResponderQueue]:
    """The queues for these (school id, route) pairs, opening any that routing has not used."""
    queues = {
        (q.school_id, q.route): q
        for q in ResponderQueue.objects.filter(
            school_id__in={school_id for school_id, _ in pairs},
            route__in={route for _, route in pairs},
        )
    }
    for school_id, route in pairs - queues.keys():
        queues[school_id, route], _ = ResponderQueue.objects.get_or_create(
            school_id=school_id, route=route
        )
    return queues


def _item_urgency(incident: Incident, route: str, origin: str) -> int:
    """Urgency of an item: its route's, but a notification is as urgent as the incident's own
    route, so a principal told of a firearm sees it above the morning's vaping referrals."""
    if origin == ItemOrigin.NOTIFY and incident.route:
        return min(URGENCY[route], URGENCY[incident.route])
    return URGENCY[route]


def _queue_items_create_many(
    plans: list[tuple[Incident, list[tuple[str, str]], list[TimelineEvent]]], now: datetime
) -> list[QueueItem]:
    """For each (incident, [(route, origin)], first events): one item per route with its
    timeline event, the events first. Three statements for any number of incidents."""
    queues = _queues_for(
        {(incident.school_id, route) for incident, targets, _ in plans for route, _ in targets}
    )
    items = QueueItem.objects.bulk_create(
        QueueItem(
            incident=incident,
            queue=queues[incident.school_id, route],
            route=route,
            origin=origin,
            urgency=_item_urgency(incident, route, origin),
            state=ItemState.QUEUED,
            queued_at=now,
            ack_deadline=None
            if origin == ItemOrigin.NOTIFY
            else now + timedelta(minutes=ack_deadline_minutes(incident.school.district, route)),
        )
        for incident, targets, _ in plans
        for route, origin in targets
    )
    by_incident: dict[int, list[QueueItem]] = {}
    for item in items:
        by_incident.setdefault(item.incident_id, []).append(item)
    TimelineEvent.objects.bulk_create(
        [
            event
            for incident, _, first_events in plans
            for event in (
                *first_events,
                *(
                    TimelineEvent(
                        incident=incident,
                        kind=EventKind.NOTIFIED
                        if item.origin == ItemOrigin.NOTIFY
                        else EventKind.QUEUED,
                        data={"route": item.route, "item": item.pk},
                    )
                    for item in by_incident.get(incident.pk, [])
                ),
            )
        ]
    )
    return items


def _queue_item_create(incident: Incident, route: str, origin: str, now) -> QueueItem:
    (item,) = _queue_items_create_many([(incident, [(route, origin)], [])], now)
    return item


def queue_items_deliver_later(*, item_ids: list[int], route: str) -> None:
    """Send one delivery message for these items of one route, on that route's own queue."""
    from .tasks import deliver_task

    try:
        deliver_task.apply_async(
            args=[item_ids],
            queue=f"responder.{route}",
            routing_key=f"responder.{route}",
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


def queue_members(queue: ResponderQueue) -> list[User]:
    from .selectors import queue_member_ids

    return list(User.objects.filter(pk__in=queue_member_ids(queue), is_active=True))


def queue_item_deliver(*, item_id: int) -> None:
    queue_items_deliver(item_ids=[item_id])


def queue_items_deliver(*, item_ids: list[int]) -> int:
    """Tell each item's queue members: a live update, an email naming no student, the webhook.

    Exactly once per item: the items are locked (in id order, so overlapping deliveries
    cannot deadlock) and only those not yet delivered go on, whatever number of copies of a
    message arrive. Returns how many items this call delivered.
    """
    from . import live

    with transaction.atomic():
        items = list(
            QueueItem.objects.select_for_update(of=("self",))
            .select_related("queue__school", "incident")
            .filter(pk__in=item_ids, delivered_at__isnull=True)
            .order_by("pk")
        )
        if not items:
            return 0
        now = timezone.now()
        QueueItem.objects.filter(pk__in=[item.pk for item in items]).update(delivered_at=now)
        members_of: dict[int, list[User]] = {}
        for item in items:
            item.delivered_at = now
            if item.queue_id not in members_of:
                members_of[item.queue_id] = queue_members(item.queue)
        TimelineEvent.objects.bulk_create(
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
            lambda: _email_many([_member_email(item, members_of[item.queue_id]) for item in items])
        )
        for item in items:
            if item.queue.webhook_url:
                transaction.on_commit(lambda item_id=item.pk: _webhook_later(item_id, "queued"))
    return len(items)


def _email_message(item: QueueItem, people: list[User], subject: str, lead: str):
    """Mail that names no student and carries no narrative: it only links to the item."""
    from django.conf import settings
    from django.core.mail import EmailMessage

    recipients = [person.email for person in people if person.email]
    if not recipients:
        return None
    # "URGENT: Weapon at Washington Middle": what and where, most urgent first in an inbox.
    headline = (
        f"{URGENCY_WORDS[item.urgency]}: {item.incident.get_category_display()} at "
        f"{item.queue.school.name}"
    )
    return EmailMessage(
        subject=f"{headline} ({subject})",
        body=f"{lead}\n{settings.SITE_URL}/queues/items/{item.pk}/\n",
        to=recipients,
    )


def _email_many(messages: list) -> None:
    """Send these mails over one connection; a failed mail is logged, never raised."""
    from django.core.mail import mailers

    messages = [message for message in messages if message is not None]
    if not messages:
        return
    try:
        mailers.default.send_messages(messages)
    except Exception:
        logger.exception("email to queue members failed (%s message(s))", len(messages))


def _email_about_item(item: QueueItem, people: list[User], subject: str, lead: str) -> None:
    _email_many([_email_message(item, people, subject, lead)])


def _member_email(item: QueueItem, members: list[User]):
    kind = "Notification" if item.origin == ItemOrigin.NOTIFY else "New incident"
    return _email_message(
        item,
        members,
        subject=(
            "for your information"
            if item.origin == ItemOrigin.NOTIFY
            else f"new, {item.get_route_display()} queue"
        ),
        lead=f"{kind} for the {item.get_route_display()} queue at {item.queue.school.name}. "
        "Open it to read what happened and respond:",
    )


def _webhook_later(item_id: int, event: str) -> None:
    from .tasks import webhook_task

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
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def queue_item_webhook(*, item_id: int, event: str) -> None:
    """POST the signed event; raises on failure so the task retries with backoff."""
    import json
    import urllib.request

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
    sent = sum(1 for incident_id in ids if incident_dispatch(incident_id=incident_id, force=True))
    if sent:
        logger.info("re-sent %s unrouted incident(s) for routing", sent)
    return sent


LIVE_EVENTS_KEPT = timedelta(hours=1)


def live_events_prune() -> int:
    """Live events only matter to pages open right now; keep an hour of them."""
    from .models import LiveEvent

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
    _deliveries_send(due)
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
    from . import live

    with transaction.atomic():
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
    from schools.models import Membership

    if audience == "school_administrators":
        members = Membership.objects.filter(school=item.queue.school, role=Role.ADMINISTRATOR)
    else:
        members = Membership.objects.filter(
            school__district=item.queue.school.district, role=Role.DISTRICT_ADMIN
        )
    return list(User.objects.filter(pk__in=members.values("user_id"), is_active=True))


def _email_escalation(item: QueueItem, recipients: list[User]) -> None:
    _email_about_item(
        item,
        recipients,
        subject=f"not acknowledged in time, {item.get_route_display()} queue",
        lead=f"An incident in the {item.get_route_display()} queue at "
        f"{item.queue.school.name} has not been acknowledged in time.",
    )


# --- Responder queues: claim, acknowledge, note, hand off, resolve ---------------------------
#
# Each action locks the item, checks who may act (selectors.queue_item_for: 404 for people who
# cannot see it, 403 for its reporter), checks the state machine (queued -> claimed ->
# acknowledged -> resolved, or handed_off; the last two are final), records a timeline event
# with its actor and publishes a live update after commit.

NOTE_MAX_LENGTH = 5_000
SUMMARY_MAX_LENGTH = 2_000
HANDOFF_REASON_MAX_LENGTH = 2_000
_OPEN_STATES = (ItemState.QUEUED, ItemState.CLAIMED, ItemState.ACKNOWLEDGED)
_FINAL_STATES = (ItemState.RESOLVED, ItemState.HANDED_OFF)


class QueueItemConflict(Exception):
    """The item's state or owner does not allow the action (HTTP 409); says which state."""

    def __init__(self, message: str, *, state: str, owner: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.state = state
        self.owner = owner


def _person(user: User) -> str:
    full = user.get_full_name()
    return f"{full} ({user.username})" if full else user.username


def _queue_item_locked(user: User, item_id: int) -> QueueItem:
    from .selectors import queue_item_for

    return queue_item_for(user, item_id, for_update=True)


def _ensure_open(item: QueueItem) -> None:
    if item.state in _FINAL_STATES:
        raise QueueItemConflict(
            f"This item is already {item.get_state_display().lower()}: nothing more can be "
            "done to it.",
            state=item.state,
        )


def _ensure_mine_or_unowned(item: QueueItem, user: User, verb: str) -> None:
    if item.route == Route.CO_RESPONDER:
        return  # a co-response is two people's: either member acts on it
    if item.owner_id is not None and item.owner_id != user.pk:
        raise QueueItemConflict(
            f"{_person(item.owner)} has claimed this item: only they can {verb} it.",
            state=item.state,
            owner=item.owner.username,
        )


def _publish_after_commit(item: QueueItem, event: str) -> None:
    from . import live

    transaction.on_commit(lambda: live.publish_item(item, event))


def _incident_status_refresh(incident_id: int) -> None:
    """The incident's status follows its open (non-notification) items."""
    incident = Incident.objects.select_for_update().only("pk", "status").get(pk=incident_id)
    states = set(
        QueueItem.objects.filter(incident_id=incident_id, state__in=_OPEN_STATES)
        .exclude(origin=ItemOrigin.NOTIFY)
        .values_list("state", flat=True)
    )
    if not states:
        status = Status.RESOLVED
        _notifications_close(incident_id)
    elif ItemState.ACKNOWLEDGED in states:
        status = Status.ACKNOWLEDGED
    else:
        status = Status.ROUTED
    if incident.status != status:
        Incident.objects.filter(pk=incident_id).update(status=status)
        from . import live

        transaction.on_commit(
            lambda: live.publish_incident(incident_id=incident_id, event="status", status=status)
        )


def _notifications_close(incident_id: int) -> None:
    """The "for your information" items close themselves when the incident is resolved."""
    from . import live

    items = list(
        QueueItem.objects.select_for_update(of=("self",)).filter(
            incident_id=incident_id, origin=ItemOrigin.NOTIFY, state__in=_OPEN_STATES
        )
    )
    if not items:
        return
    now = timezone.now()
    QueueItem.objects.filter(pk__in=[item.pk for item in items]).update(
        state=ItemState.RESOLVED, closed_at=now
    )
    for item in items:
        item.state, item.closed_at = ItemState.RESOLVED, now
    transaction.on_commit(lambda: live.publish_items(items, "resolved"))


def queue_item_claim(*, user: User, item_id: int) -> QueueItem:
    """Take an item: one owner at a time. Claiming your own item again changes nothing."""
    with transaction.atomic():
        item = _queue_item_locked(user, item_id)
        _ensure_open(item)
        if item.owner_id == user.pk:
            return item
        if item.owner_id is not None and item.route == Route.CO_RESPONDER:
            return item  # nobody locks the other member out of a co-response
        if item.owner_id is not None:
            raise QueueItemConflict(
                f"{_person(item.owner)} has already claimed this item.",
                state=item.state,
                owner=item.owner.username,
            )
        item.owner = user
        item.claimed_at = timezone.now()
        item.state = ItemState.CLAIMED
        item.save(update_fields=["owner", "claimed_at", "state"])
        timeline_record(
            incident=item.incident,
            kind=EventKind.CLAIMED,
            actor=user,
            item=item.pk,
            route=item.route,
        )
        _publish_after_commit(item, "claimed")
    return item


def _co_responder_role(user: User, item: QueueItem) -> str:
    from schools.models import Membership

    roles = set(
        Membership.objects.filter(
            user=user, school__district_id=item.queue.school.district_id
        ).values_list("role", flat=True)
    )
    if Role.SRO in roles and Role.CLINICIAN not in roles:
        return CoResponderRole.SRO
    return CoResponderRole.CLINICIAN


def _item_acknowledged_mark(item: QueueItem, user: User, now) -> bool:
    """The item is acknowledged (the escalation clock stops); an unowned one is claimed by
    ``user``. True when it was claimed now."""
    claimed_now = item.owner_id is None
    if claimed_now:
        item.owner = user
        item.claimed_at = now
    item.state = ItemState.ACKNOWLEDGED
    item.acknowledged_at = now
    item.save(update_fields=["owner", "claimed_at", "state", "acknowledged_at"])
    return claimed_now


def _co_response_on_my_way(item: QueueItem, user: User) -> QueueItem:
    """A co-response member acknowledges for themselves. The first one stops the escalation
    clock (the item is acknowledged); each later one is added to who is on the way."""
    from .models import CoResponseMember

    if item.co_responders.filter(user=user).exists():
        return item
    now = timezone.now()
    member = CoResponseMember.objects.create(
        item=item, user=user, role=_co_responder_role(user, item), acknowledged_at=now
    )
    first = item.state != ItemState.ACKNOWLEDGED
    if first:
        _item_acknowledged_mark(item, user, now)
    timeline_record(
        incident=item.incident,
        kind=EventKind.ACKNOWLEDGED,
        actor=user,
        item=item.pk,
        route=item.route,
        on_my_way=member.role,
    )
    _incident_status_refresh(item.incident_id)
    _publish_after_commit(item, "acknowledged")
    if first:  # the reporter hears once that the team is on its way
        reporter_notify(item=item, event="acknowledged", actor=user)
    return item


def queue_item_lead_take(*, user: User, item_id: int) -> QueueItem:
    """The team says otherwise: a member who is on the way leads instead of the clinician."""
    with transaction.atomic():
        item = _queue_item_locked(user, item_id)
        _ensure_open(item)
        members = list(item.co_responders.select_for_update())
        mine = next((m for m in members if m.user_id == user.pk), None)
        if item.route != Route.CO_RESPONDER or mine is None:
            raise QueueItemConflict(
                'Only a co-responder who said "On my way" can take the lead.', state=item.state
            )
        if mine.leads:
            return item
        item.co_responders.filter(leads=True).update(leads=False)
        mine.leads = True
        mine.save(update_fields=["leads"])
        timeline_record(
            incident=item.incident, kind=EventKind.LEAD, actor=user, item=item.pk, route=item.route
        )
        _publish_after_commit(item, "lead")
    return item


def queue_item_acknowledge(*, user: User, item_id: int) -> QueueItem:
    """Say you are on it (stops the escalation clock). Acknowledging an unowned item claims it.
    On a co-responder item each member acknowledges for themselves ("On my way")."""
    with transaction.atomic():
        item = _queue_item_locked(user, item_id)
        _ensure_open(item)
        if item.route == Route.CO_RESPONDER:
            return _co_response_on_my_way(item, user)
        _ensure_mine_or_unowned(item, user, "acknowledge")
        if item.state == ItemState.ACKNOWLEDGED:
            return item
        claimed_now = _item_acknowledged_mark(item, user, timezone.now())
        timeline_record(
            incident=item.incident,
            kind=EventKind.ACKNOWLEDGED,
            actor=user,
            item=item.pk,
            route=item.route,
            claimed=claimed_now,
        )
        _incident_status_refresh(item.incident_id)
        _publish_after_commit(item, "acknowledged")
        reporter_notify(item=item, event="acknowledged", actor=user)
    return item


def queue_item_note(*, user: User, item_id: int, text: str) -> TimelineEvent:
    """A private note on the incident's timeline: responders see it, the reporter does not."""
    if not text or not text.strip():
        raise ValidationError({"text": ["Write the note before saving it."]})
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"text": [f"Keep a note under {NOTE_MAX_LENGTH:,} characters ({len(text):,} now)."]}
        )
    with transaction.atomic():
        item = _queue_item_locked(user, item_id)
        _ensure_open(item)
        event = timeline_record(
            incident=item.incident,
            kind=EventKind.NOTE,
            actor=user,
            private=True,
            item=item.pk,
            route=item.route,
            text=text,
        )
        _publish_after_commit(item, "note")
    return event


def queue_item_handoff(
    *, user: User, item_id: int, route: str, reason: str
) -> tuple[QueueItem, QueueItem]:
    """Close the item as handed off and open one in another route's queue of the same school.

    Returns (the closed item, the new item). The timeline records the override and its
    direction, e.g. "sro -> counselor", with the reason.
    """
    errors: dict[str, list[str]] = {}
    if route not in Route.values:
        errors["route"] = [f'"{route}" is not a route; choose one of: {", ".join(Route.values)}.']
    if not reason or not reason.strip():
        errors["reason"] = ["Say why you are handing this off."]
    elif len(reason) > HANDOFF_REASON_MAX_LENGTH:
        errors["reason"] = [f"Keep the reason under {HANDOFF_REASON_MAX_LENGTH:,} characters."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        item = _queue_item_locked(user, item_id)
        _ensure_open(item)
        _ensure_mine_or_unowned(item, user, "hand off")
        if route == item.route:
            raise ValidationError(
                {
                    "route": [
                        f"This item is already in the {item.get_route_display()} queue; "
                        "choose another route."
                    ]
                }
            )
        now = timezone.now()
        new_item = _queue_item_create(item.incident, route, ItemOrigin.HANDOFF, now)
        item.state = ItemState.HANDED_OFF
        item.closed_at = now
        item.handed_off_to = new_item
        item.save(update_fields=["state", "closed_at", "handed_off_to"])
        timeline_record(
            incident=item.incident,
            kind=EventKind.HANDED_OFF,
            actor=user,
            item=item.pk,
            new_item=new_item.pk,
            override=True,
            direction=f"{item.route} -> {route}",
            **{"from": item.route, "to": route, "reason": reason},
        )
        _incident_status_refresh(item.incident_id)
        _publish_after_commit(item, "handed_off")
        _publish_after_commit(new_item, "arrived")
        transaction.on_commit(
            lambda: queue_items_deliver_later(item_ids=[new_item.pk], route=new_item.route)
        )
    return item, new_item


def queue_item_resolve(*, user: User, item_id: int, outcome: str, summary: str = "") -> QueueItem:
    """Close the item with an outcome; the summary is shown to the reporter.

    When the incident has no open (non-notification) item left, it is resolved.
    """
    from .selectors import outcomes_for_user

    errors: dict[str, list[str]] = {}
    if outcome not in Outcome.values:
        errors["outcome"] = [
            f'"{outcome}" is not an outcome; choose one of: {", ".join(Outcome.values)}.'
        ]
    summary = (summary or "").strip()
    if len(summary) > SUMMARY_MAX_LENGTH:
        errors["summary"] = [
            f"Keep the summary under {SUMMARY_MAX_LENGTH:,} characters ({len(summary):,} now)."
        ]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        item = _queue_item_locked(user, item_id)
        _ensure_open(item)
        _ensure_mine_or_unowned(item, user, "resolve")
        allowed = outcomes_for_user(user, item)
        if outcome not in allowed:
            raise ValidationError(
                {
                    "outcome": [
                        f'"{Outcome(outcome).label}" is not an outcome you can record here '
                        f"({item.get_route_display()} queue); choose one of: "
                        f"{', '.join(Outcome(o).label for o in allowed)}."
                    ]
                }
            )
        now = timezone.now()
        if item.owner_id is None:
            item.owner = user
            item.claimed_at = now
        item.state = ItemState.RESOLVED
        item.outcome = outcome
        item.summary = summary
        item.closed_at = now
        item.save(update_fields=["owner", "claimed_at", "state", "outcome", "summary", "closed_at"])
        timeline_record(
            incident=item.incident,
            kind=EventKind.RESOLVED,
            actor=user,
            item=item.pk,
            route=item.route,
            outcome=outcome,
            summary=summary,
        )
        _incident_status_refresh(item.incident_id)
        _publish_after_commit(item, "resolved")
        reporter_notify(item=item, event="resolved", actor=user)
    return item


REPORTER_NEWS = {
    "acknowledged": ("a responder is on it", "{who} is on the incident you reported."),
    "resolved": ("resolved", "{who} has resolved the incident you reported. Outcome: {outcome}."),
}


def reporter_notify(*, item: QueueItem, event: str, actor: User) -> None:
    """Tell the reporter, by email after commit, that their incident's item was acknowledged
    or resolved, with the outcome they may read. "My incidents" shows the same from the item's
    state. The mail names no student and carries no narrative or summary: it links to the page.
    Notifications to other queues (also_notify) are not news for the reporter."""
    from django.conf import settings
    from django.core.mail import EmailMessage

    incident = item.incident
    reporter = incident.filed_by
    if item.origin == ItemOrigin.NOTIFY or reporter.pk == actor.pk or not reporter.email:
        return
    subject, lead = REPORTER_NEWS[event]
    who = f"The {item.get_route_display().lower()} team"
    outcome = Outcome(item.outcome).label if item.outcome else ""
    message = EmailMessage(
        subject=f"[{incident.school.code}] Your report #{incident.pk}: {subject}",
        body=f"{lead.format(who=who, outcome=outcome)}\n"
        f"{settings.SITE_URL}/incidents/{incident.pk}/\n",
        to=[reporter.email],
    )
    transaction.on_commit(lambda: _email_many([message]))


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
