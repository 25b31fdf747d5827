"""The responder queues' actions: claim, acknowledge, note, hand off, resolve; reporter news."""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from schools.models import Membership, Role, User

from .. import live
from ..models import (
    FINAL_ITEM_STATES,
    OPEN_ITEM_STATES,
    CoResponderRole,
    CoResponseMember,
    EventKind,
    Incident,
    ItemOrigin,
    ItemState,
    Outcome,
    QueueItem,
    Route,
    Status,
    TimelineEvent,
)
from ..selectors import outcomes_for_user, queue_item_for
from . import delivery
from .delivery import emails_send
from .rollups import rollups_handed_off, rollups_item_acknowledged, rollups_item_changed
from .routing import queue_item_create
from .timeline import timeline_record

logger = logging.getLogger(__name__)

# --- Responder queues: claim, acknowledge, note, hand off, resolve ---------------------------
#
# Each action locks the item, checks who may act (selectors.queue_item_for: 404 for people who
# cannot see it, 403 for its reporter), checks the state machine (queued -> claimed ->
# acknowledged -> resolved, or handed_off; the last two are final), records a timeline event
# with its actor and publishes a live update after commit.

NOTE_MAX_LENGTH = 5_000
SUMMARY_MAX_LENGTH = 2_000
HANDOFF_REASON_MAX_LENGTH = 2_000


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

    return queue_item_for(user, item_id, for_update=True)


def _ensure_open(item: QueueItem) -> None:
    if item.state in FINAL_ITEM_STATES:
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

    transaction.on_commit(lambda: live.publish_item(item, event))


def _incident_status_refresh(incident_id: int) -> None:
    """The incident's status follows its open (non-notification) items."""
    incident = Incident.objects.select_for_update().only("pk", "status").get(pk=incident_id)
    states = set(
        QueueItem.objects.filter(incident_id=incident_id, state__in=OPEN_ITEM_STATES)
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

        transaction.on_commit(
            lambda: live.publish_incident(incident_id=incident_id, event="status", status=status)
        )


def _notifications_close(incident_id: int) -> None:
    """The "for your information" items close themselves when the incident is resolved."""

    items = list(
        QueueItem.objects.select_for_update(of=("self",)).filter(
            incident_id=incident_id, origin=ItemOrigin.NOTIFY, state__in=OPEN_ITEM_STATES
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
    previous, item.acknowledged_at = item.acknowledged_at, now
    item.state = ItemState.ACKNOWLEDGED
    item.save(update_fields=["owner", "claimed_at", "state", "acknowledged_at"])
    rollups_item_acknowledged(item=item, previous=previous)
    return claimed_now


def _co_response_on_my_way(item: QueueItem, user: User) -> QueueItem:
    """A co-response member acknowledges for themselves. The first one stops the escalation
    clock (the item is acknowledged); each later one is added to who is on the way."""

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
        new_item = queue_item_create(item.incident, route, ItemOrigin.HANDOFF, now)
        item.state = ItemState.HANDED_OFF
        item.closed_at = now
        item.handed_off_to = new_item
        item.save(update_fields=["state", "closed_at", "handed_off_to"])
        event = timeline_record(
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
        rollups_item_changed(item=new_item, added=True)
        rollups_handed_off(event=event)  # after the incident rollups: the rebuild's lock order
        _publish_after_commit(item, "handed_off")
        _publish_after_commit(new_item, "arrived")
        transaction.on_commit(
            lambda: delivery.queue_items_deliver_later(item_ids=[new_item.pk], route=new_item.route)
        )
    return item, new_item


def queue_item_resolve(*, user: User, item_id: int, outcome: str, summary: str = "") -> QueueItem:
    """Close the item with an outcome; the summary is shown to the reporter.

    When the incident has no open (non-notification) item left, it is resolved.
    """

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
        rollups_item_changed(item=item)
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
    transaction.on_commit(lambda: emails_send([message]))
