"""Routing: the wake-up message, routing batches under SKIP LOCKED, and queue items made."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from policies import selectors as policy_selectors
from policies.models import RuleSetStatus
from policies.registry import LIFE_SAFETY_DANGER, UNKNOWN, WEAPON_VALUES, weapon_reported
from triage.bulk import insert_many, update_many
from triage.redis import client

from .. import live
from ..facts import incidents_facts
from ..models import (
    URGENCY,
    EventKind,
    Incident,
    ItemOrigin,
    ItemState,
    QueueItem,
    ResponderQueue,
    Status,
    TimelineEvent,
)
from ..selectors import ack_deadline_minutes
from . import delivery
from .rollups import rollups_incidents_routed

logger = logging.getLogger(__name__)


# Routing messages are wake-ups. Each routing task routes its own incident and then every
# incident waiting, batch by batch (group commit), so under load one message does the work of
# many. Filing therefore sends a message only when none is pending: a Redis key, set when a
# message is sent and cleared by the task before it looks for waiting incidents, says one is.
# An incident that finds the key set was committed before the pending task clears it, so that
# task's search finds it. The key expires, so a lost message costs at most a second of
# coalescing; the sweep re-sends whatever is still unrouted. With nothing waiting, every
# filing sends its own message: latency is not traded for throughput.
#
# Under load (the last two tasks in this process routed ROUTING_BUSY or more each: filings
# come faster than rounds go), a filing's message waits ROUTING_COALESCE_S with the wake-up
# held before it routes, so each round takes more and a burst costs fewer rounds. A round has
# a fixed cost (its statements, its delivery message): at saturation (bench/pipeline.py)
# rounds of about 12 became rounds of about 34, and the workers' CPU per incident fell from
# 4.4 to 2.3 ms. Life safety never waits: its message (and the sweep's, and a continuation)
# routes at once, whatever is pending. At a steady 50/s tasks route one or two, and one big
# task after a stall is not load, so nothing waits.
ROUTING_WAKEUP_TTL_MS = 1000
ROUTING_BATCH = 50  # incidents per transaction
ROUTING_ROUNDS = 20  # batches per task; more waiting continues in a new message
ROUTING_BUSY = 10  # two tasks in a row that routed this many mean load: the next message waits
ROUTING_COALESCE_S = 0.1  # how long it waits (at most this much latency, under load only)
DELIVERY_BATCH = 100  # items per delivery message


class _Pace:
    """How many incidents this process's last two routing tasks routed: a routing process
    runs one task at a time, so they are the load its next message meets. Both must be busy:
    one big task after a stall (a backlog caught up at a steady 50/s) is not load."""

    last_tasks = (0, 0)

    def record(self, routed: int) -> None:
        self.last_tasks = (self.last_tasks[-1], routed)

    @property
    def busy(self) -> bool:
        return min(self.last_tasks) >= ROUTING_BUSY


pace = _Pace()


def routing_wakeup_key() -> str:
    """The wake-up key, one per database: deployments that share a Redis do not share it."""
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


def _routing_wakeup_hold() -> bool:
    """Set the wake-up (pending or not): filings send nothing while a message waits. False
    without Redis, or when it could not be set."""
    wakeup = _wakeup_redis()
    if wakeup is None:
        return False
    try:
        return bool(wakeup.set(routing_wakeup_key(), "1", px=ROUTING_WAKEUP_TTL_MS))
    except Exception:
        return False


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

    if not settings.REDIS_URL:
        return None

    return client(timeout=timeout)


def incident_dispatch(*, incident_id: int, force: bool = False) -> bool:
    """Send the routing task, unless one pending will route this incident (``force``: always).

    Never raises: the row is the outbox, and the sweep re-sends.
    """
    from ..tasks import incident_route_task  # tasks import services: a cycle

    if not force and not _routing_wakeup_claim():
        return True
    try:
        # A filing's message may wait under load; a forced one routes at once.
        incident_route_task.apply_async(
            args=[incident_id], kwargs={"coalesce": not force}, retry=False
        )
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
    return _route_round(incident_id, batch)[0]


def incidents_route_waiting(
    *,
    incident_id: int,
    batch: int = ROUTING_BATCH,
    rounds: int = ROUTING_ROUNDS,
    coalesce: bool = False,
) -> Incident | None:
    """The routing task: this incident, then every incident waiting, a batch per transaction.

    Stops at the first batch that is not full; after ``rounds`` full ones it sends a new
    message to go on, so one task never runs past its time limit. With ``coalesce`` (a
    filing's message, not a life-safety one) and this process's last tasks busy, it sends
    itself again ROUTING_COALESCE_S later with the wake-up held, and routes nothing now.
    """
    if coalesce and pace.busy and _route_later(incident_id):
        return None
    routing_wakeup_clear()
    own, routed = _route_round(incident_id, batch)
    total = routed
    for _ in range(rounds - 1):
        if routed < batch:
            break
        _, routed = _route_round(None, batch)
        total += routed
    pace.record(total)
    if routed >= batch:
        incident_dispatch(incident_id=incident_id, force=True)
    return own


def _route_later(incident_id: int) -> bool:
    """Hold the wake-up and send this message again in ROUTING_COALESCE_S (routed at once
    then). False when either failed: the caller routes now."""
    from ..tasks import incident_route_task  # tasks import services: a cycle

    if not _routing_wakeup_hold():
        return False
    try:
        incident_route_task.apply_async(
            args=[incident_id],
            kwargs={"coalesce": False},
            countdown=ROUTING_COALESCE_S,
            retry=False,
        )
    except Exception as exc:
        logger.warning("routing: waiting under load failed (%s); routing now", exc)
        return False
    return True


def incident_is_life_safety(*, category: str, weapon: str, danger_now: str) -> bool:
    """What the life-safety floor covers (a weapon reported, or danger to others right now):
    filing sends such an incident a routing message of its own, whatever is pending."""
    return weapon_reported(category, weapon) or danger_now == LIFE_SAFETY_DANGER


# The same as a query (keep the two together): a routing task that works through a backlog
# takes these first, so a life-safety incident never waits for the older ones ahead of it,
# whichever message finds it.
_LIFE_SAFETY_FIRST = Case(
    When(
        Q(weapon__in=WEAPON_VALUES)
        | Q(category="weapon", weapon=UNKNOWN)
        | Q(danger_now=LIFE_SAFETY_DANGER),
        then=Value(0),
    ),
    default=Value(1),
)


def _route_round(own_id: int | None, batch: int) -> tuple[Incident | None, int]:
    """One transaction: the own incident (waiting for its lock) and up to ``batch`` in all
    of the others waiting (life safety first, then oldest first), locked with SKIP LOCKED so
    that two workers never wait on (or route) each other's. Only districts with a published
    rule set are searched, so incidents that wait for one do not fill every batch. Returns
    (own incident if routed, how many it routed or found waiting for a rule set)."""
    with transaction.atomic():
        todo = []
        own = None
        if own_id is not None:
            # At most one row: no ORDER BY (the model's default ordering, or first()'s).
            own = next(
                iter(
                    Incident.objects.select_for_update(of=("self",))
                    .select_related("school__district")
                    .filter(pk=own_id)
                    .order_by()
                ),
                None,
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
                .order_by(_LIFE_SAFETY_FIRST, "filed_at")[:room]
            )
        if todo:
            _incidents_route_locked(todo)
    return (own if own is not None and own.route is not None else None), len(todo)


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
    update_many(ready, _ROUTED_FIELDS)
    items = _queue_items_create_many(plans, now)
    rollups_incidents_routed(incidents=ready, items=items)
    due = [(item.pk, item.route) for item in items]
    transaction.on_commit(lambda: deliveries_send(due))
    routed = [(incident.pk, incident.route) for incident in ready]
    transaction.on_commit(lambda: _publish_routed(routed))


def _publish_routed(routed: list[tuple[int, str]]) -> None:
    """The reporters' incident pages show the route as soon as it is decided."""

    live.publish(
        [
            (
                live.incident_channel(incident_id),
                {"event": "routed", "incident": incident_id, "route": route},
            )
            for incident_id, route in routed
        ]
    )


def deliveries_send(due: list[tuple[int, str]]) -> None:
    """One delivery message per route (of at most DELIVERY_BATCH items) for these
    (item id, route) pairs."""
    by_route: dict[str, list[int]] = {}
    for item_id, route in due:
        by_route.setdefault(route, []).append(item_id)
    for route, item_ids in by_route.items():
        for start in range(0, len(item_ids), DELIVERY_BATCH):
            chunk = item_ids[start : start + DELIVERY_BATCH]
            delivery.queue_items_deliver_later(item_ids=chunk, route=route)


def _queues_for(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], ResponderQueue]:
    """The queues for these (school id, route) pairs, opening any that routing has not used."""
    queues = {
        (q.school_id, q.route): q
        for q in ResponderQueue.objects.filter(
            school_id__in={school_id for school_id, _ in pairs},
            route__in={route for _, route in pairs},
        ).order_by()  # not the model's ordering by school name: a join for nothing
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
    items = insert_many(
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
    insert_many(
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


def queue_item_create(incident: Incident, route: str, origin: str, now) -> QueueItem:
    (item,) = _queue_items_create_many([(incident, [(route, origin)], [])], now)
    return item
