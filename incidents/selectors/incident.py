"""Reads of one incident: its route, outcomes, timeline, answers, routing explanation, next step."""

from dataclasses import dataclass

from django.db.models import F, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from policies.engine import Decision
from policies.registry import ROUTE_INFO
from schools.models import User

from ..facts import INTAKE_FACTS
from ..models import (
    EventKind,
    Incident,
    ItemOrigin,
    ItemState,
    QueueItem,
    Route,
    Status,
    TimelineEvent,
)


def current_route_annotation():
    """``current_route`` for a queryset of incidents (see incident_current_route)."""
    return Coalesce(Subquery(_latest_item_route(OuterRef("pk"))), F("route"))


def resolved_items_prefetch() -> Prefetch:
    """Each incident's ``resolved_items``: what incident_outcomes returns, for a whole page."""
    return Prefetch("queue_items", queryset=_resolved_items(), to_attr="resolved_items")


def _resolved_items() -> QuerySet[QueueItem]:
    return (
        QueueItem.objects.filter(
            origin__in=[ItemOrigin.ROUTING, ItemOrigin.HANDOFF], state=ItemState.RESOLVED
        )
        .exclude(outcome="")
        .order_by("closed_at", "pk")
    )


def incident_outcomes(incident: Incident) -> list[QueueItem]:
    """How its responders closed the incident: outcome and the summary the reporter reads."""
    return list(_resolved_items().filter(incident=incident))


def _latest_item_route(incident):
    return (
        QueueItem.objects.filter(
            incident=incident, origin__in=[ItemOrigin.ROUTING, ItemOrigin.HANDOFF]
        )
        .order_by("-queued_at", "-pk")
        .values("route")[:1]
    )


def incident_timeline_for_responder(
    incident_id: int, item: QueueItem | None = None
) -> QuerySet[TimelineEvent]:
    """Every event, private notes included: only for people who passed queue_item_for.

    Read through an item its queue handed off, the private notes written after the hand-off
    are left out: the team that passed the incident on does not read what the next one
    writes about the student."""
    events = TimelineEvent.objects.filter(incident_id=incident_id).select_related("actor")
    if item is not None and item.state == ItemState.HANDED_OFF and item.closed_at is not None:
        events = events.exclude(private=True, at__gt=item.closed_at)
    return events


# What the person who filed an incident follows on it: what happened, not who in the
# responders' teams did it, and never their private notes.
REPORTER_EVENT_KINDS = (
    EventKind.FILED,
    EventKind.ROUTED,
    EventKind.ACKNOWLEDGED,
    EventKind.HANDED_OFF,
    EventKind.RESOLVED,
)


def incident_timeline_for(user: User, incident: Incident) -> list[dict]:
    """The incident page's timeline: never a private note, and for its reporter only the kinds
    above, by "you" or "a responder"; others see who did what."""
    if incident.filed_by_id != user.pk:
        return [
            {"kind": event.get_kind_display(), "at": event.at, "by": event.actor or "the system"}
            for event in incident.timeline.filter(private=False).select_related("actor")
        ]
    return [
        {
            "kind": event.get_kind_display(),
            "at": event.at,
            "by": "you"
            if event.actor_id == incident.filed_by_id
            else ("a responder" if event.actor_id else "the system"),
        }
        for event in incident.timeline.filter(kind__in=REPORTER_EVENT_KINDS, private=False)
    ]


def incident_current_route(incident: Incident) -> str | None:
    """Where the incident is now: the route of its latest routing or hand-off item (a hand-off
    moves it), or the routing decision while no item exists yet."""
    latest = _latest_item_route(incident).first()
    return latest["route"] if latest else incident.route


@dataclass(frozen=True)
class Answer:
    name: str
    label: str
    value: str
    value_label: str


def incident_answers(incident: Incident) -> list[Answer]:
    """The reporter's answers (the facts as filed), labelled for people."""
    answers = []
    for name in INTAKE_FACTS:
        field = Incident._meta.get_field(name)
        answers.append(
            Answer(
                name=name,
                label=str(field.verbose_name).replace("_", " ").capitalize(),
                value=getattr(incident, name),
                value_label=getattr(incident, f"get_{name}_display")(),
            )
        )
    return answers


# What a reporter is not told of a decision: the roster facts (IEP, 504, BIP, age, earlier
# incidents) and the rules tried stay with the responders. A rule that tested roster facts
# would name them: it is not named either.
REPORTER_WITHHELD_GUARDRAILS = {"disability_safeguard"}
REPORTER_ROSTER_RULE = "A rule that also reads the students' school records"
DEFAULT_RULE_NAME = "Default route (no rule matched)"


def routing_decision_for(user: User, incident: Incident) -> dict | None:
    """Why the incident went where it did, as this person may read it: the one shape the API,
    the pages and the notifications use.

    Its reporter sees why in terms of what they reported (see REPORTER_WITHHELD_GUARDRAILS);
    responders and district admins, who reach the incident through a queue or the district,
    see the whole explanation: rule, reasons, guardrails, the rules tried, the version.
    """
    if incident.route is None:
        return None
    decision = Decision.from_dict({"route": incident.route, **(incident.decision or {})})
    rule = {"id": incident.rule_id or None, "name": incident.rule_name or DEFAULT_RULE_NAME}
    rationale = decision.rationale
    reasons = [dict(r) for r in decision.reasons]
    guardrails = [dict(g) for g in decision.guardrails]
    tried = [dict(t) for t in decision.tried]
    if user.pk == incident.filed_by_id:
        if any(r.get("fact") not in INTAKE_FACTS for r in reasons):
            rule, rationale = {"id": None, "name": REPORTER_ROSTER_RULE}, ""
        reasons = [r for r in reasons if r.get("fact") in INTAKE_FACTS]
        guardrails = [
            g for g in guardrails if g.get("guardrail") not in REPORTER_WITHHELD_GUARDRAILS
        ]
        tried = []
    return {
        "route": incident.route,
        "route_label": incident.get_route_display(),
        "rule": rule,
        "ruleset_version": incident.ruleset_version,
        "rationale": rationale,
        "reasons": reasons,
        "guardrails": guardrails,
        "also_notify": list(decision.also_notify),
        "tried": tried,
        "routed_at": incident.routed_at,
    }


def ack_deadline_minutes(district, route: str) -> float:
    """Minutes to acknowledge an item of this route: the district's setting or the default."""
    overrides = getattr(district, "ack_deadlines", None) or {}
    return float(overrides.get(route, ROUTE_INFO[route].ack_minutes))


def incident_next_step(incident: Incident, route: str | None) -> str:
    """What happens next, in plain words: who has been told, and how soon they must respond
    ("A counselor at Washington Middle has been told and must respond within 15 minutes")."""
    school = incident.school.name
    if incident.status == Status.RESOLVED:
        return "The responders have closed this report. What they did is below."
    if route is None:
        return (
            "The right responder is being chosen now. This page shows who it is as soon as it "
            "is decided."
        )
    who = ROUTE_INFO[route].who  # who responds, as the reporter reads it
    if incident.status == Status.ACKNOWLEDGED:
        they = "are" if route == Route.CO_RESPONDER else "is"
        return (
            f"{who} at {school} {they} on it. You will be told here and by email when it is "
            "resolved."
        )
    minutes = ack_deadline_minutes(incident.school.district, route)
    have = "have" if route == Route.CO_RESPONDER else "has"
    text = (
        f"{who} at {school} {have} been told and must respond within "
        f"{minutes:g} minute{'' if minutes == 1 else 's'}."
    )
    also = [r for r in (incident.decision or {}).get("also_notify", []) if r in ROUTE_INFO]
    if also and route == incident.route:
        names = " and ".join(ROUTE_INFO[r].who_also for r in also)
        text += f" {names[:1].upper()}{names[1:]} {'are' if len(also) > 1 else 'is'} also told."
    return text + " You will be told here and by email when a responder is on it."
