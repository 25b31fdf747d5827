"""What the reports count: one definition of each, for the dashboard, the CRDC file, the
deflection view and the benchmark (DOMAIN.md "What districts must report").

- A **referral to law enforcement** is an incident routed to ``sro`` or ``co_responder``,
  notified to ``sro``, handed off to ``sro`` or ``co_responder``, or resolved (by any of its
  queue items) as ``referred_to_law_enforcement``, ``citation`` or ``arrest``: any report of a
  student to police, school police included, whether or not action follows.
- A **school-related arrest** is an incident resolved as ``arrest``.
- A **police contact** (deflection view) is the SRO's own involvement: routed to ``sro``, handed
  off to ``sro`` or notified to ``sro``.
- An incident **reached the SRO side** when it was routed, handed off or notified to ``sro`` or
  ``co_responder``: the referrals that did not come from an outcome alone.

The item conditions are ``incidents.models.LAW_ENFORCEMENT_ITEM`` (declared with the queue item
model because a partial index has exactly that condition); every query here keeps that
condition literally in its WHERE clause so that PostgreSQL answers from the small index.
"""

from __future__ import annotations

from django.db.models import Q

from incidents.models import (
    LAW_ENFORCEMENT_ITEM,
    LAW_ENFORCEMENT_ROUTES,
    ItemOrigin,
    Outcome,
    QueueItem,
    Route,
)

REFERRAL_ROUTES = LAW_ENFORCEMENT_ROUTES
ARREST_OUTCOME = Outcome.ARREST


def _items(*conditions: Q):
    return QueueItem.objects.filter(LAW_ENFORCEMENT_ITEM, *conditions).values("incident_id")


def referral_q() -> Q:
    """Referral to law enforcement, over Incident rows."""
    # A non-correlated IN subquery: PostgreSQL hashes the small set of flagged ids once, read
    # from the partial index whose condition is LAW_ENFORCEMENT_ITEM.
    return Q(route__in=REFERRAL_ROUTES) | Q(pk__in=_items())


def arrest_q(*, via_incident: bool = False) -> Q:
    """A school-related arrest, over Incident rows (or rows with an ``incident`` FK)."""
    arrested = _items(Q(outcome=ARREST_OUTCOME))
    return Q(incident_id__in=arrested) if via_incident else Q(pk__in=arrested)


def police_contact_q() -> Q:
    """The SRO involved: routed, handed off or notified to ``sro`` (over Incident rows)."""
    items = _items(Q(route=Route.SRO, origin__in=(ItemOrigin.NOTIFY, ItemOrigin.HANDOFF)))
    return Q(route=Route.SRO) | Q(pk__in=items)


def sro_side_q() -> Q:
    """Routed, handed off or notified to the SRO or the co-responders (over Incident rows)."""
    items = _items(Q(route__in=REFERRAL_ROUTES, origin__in=(ItemOrigin.NOTIFY, ItemOrigin.HANDOFF)))
    return Q(route__in=REFERRAL_ROUTES) | Q(pk__in=items)


def co_responder_q() -> Q:
    """Reached the co-responder team: routed or handed off to ``co_responder``."""
    items = _items(Q(route=Route.CO_RESPONDER, origin=ItemOrigin.HANDOFF))
    return Q(route=Route.CO_RESPONDER) | Q(pk__in=items)
