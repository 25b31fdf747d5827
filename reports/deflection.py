"""Deflection: is police contact going down, and where did incidents go instead?

Definitions (``reports/definitions.py``): a **police contact** is an incident routed, handed off
or notified to the SRO; an incident **reached the SRO side** when it was routed, handed off or
notified to the SRO or the co-responders. Incidents are counted where and when they happened
(the school, and the month in the district's time zone).

- Police contacts per 1,000 students: contacts / students on the roster of the schools in view
  x 1,000, per month, per school and for the whole view.
- What the SRO side ended in: each incident that reached the SRO side is classed by its queue
  items' outcomes, the most restrictive first: *arrest or citation*; *other police or
  discipline outcome* (referred to law enforcement, discipline, parent contacted); *support*
  (counseling, safety plan or referral to community services (clinician follow-up),
  restorative conference, no action needed); *not resolved yet*. Split into the co-responder
  team (routed or handed off to ``co_responder``) and the SRO alone, and within each the
  incidents with a subject student under 12 on the day, and with a subject student with a
  disability (an IEP or a 504 plan).
- Overrides: responders' hand-offs toward the SRO (to a route with more police: counselor or
  administrator -> co-responder -> SRO) and away from it, by the group of the subject students
  (an incident counts once in each group one of its subject students is in).

Every count of 10 or fewer (zero included) is hidden, with what would give it away (the rows
of a table add up to its total); a rate or share is hidden when a count it comes from is.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Case, Count, Q, Value, When
from django.db.models.fields.json import KT

from incidents.models import (
    LAW_ENFORCEMENT_ROUTES,
    EventKind,
    IncidentStudent,
    InvolvementRole,
    Outcome,
    QueueItem,
    Route,
    TimelineEvent,
)
from schools.models import RaceEthnicity, Student

from .definitions import arrest_q, co_responder_q, police_contact_q, sro_side_q
from .scope import EquityFilter, incidents_in, period_bounds, report_snapshot
from .suppression import SUPPRESSED, Figure, Relation, hide_small, suppress

ARREST_OR_CITATION = (Outcome.ARREST, Outcome.CITATION)
OTHER_OUTCOMES = (
    Outcome.REFERRED_TO_LAW_ENFORCEMENT,
    Outcome.DISCIPLINE_ASSIGNED,
    Outcome.PARENT_CONTACTED,
)
SUPPORT_OUTCOMES = (
    Outcome.COUNSELING_PROVIDED,
    Outcome.SAFETY_PLAN,
    Outcome.REFERRED_TO_COMMUNITY_SERVICES,
    Outcome.RESTORATIVE_CONFERENCE,
    Outcome.NO_ACTION_NEEDED,
)
ENDINGS = (
    ("arrest_citation", "Arrest or citation"),
    ("other", "Other police or discipline outcome"),
    ("support", "Support (counseling, clinician follow-up, restorative, no action)"),
    ("open", "Not resolved yet"),
)
POLICE_LEVEL = {Route.COUNSELOR: 0, Route.ADMINISTRATOR: 0, Route.CO_RESPONDER: 1, Route.SRO: 2}
UNDER_AGE = 12
DISABILITY_ROWS = (("none", "No disability"), ("idea", "IDEA (IEP)"), ("504", "Section 504 only"))


def per_thousand(count: int, enrolled: int) -> float | None:
    return 1000 * count / enrolled if enrolled else None


@dataclass
class RateRow:
    key: str
    label: str
    enrolled: int
    contacts: int = 0
    arrests: int = 0
    hidden: set[str] = field(default_factory=set)

    @property
    def rate(self) -> float | None:
        return per_thousand(self.contacts, self.enrolled)

    @property
    def rate_hidden(self) -> bool:
        return "contacts" in self.hidden or self.rate is None

    @property
    def display(self) -> dict[str, str]:
        return {
            "enrolled": f"{self.enrolled:,}",
            "contacts": SUPPRESSED if "contacts" in self.hidden else f"{self.contacts:,}",
            "arrests": SUPPRESSED if "arrests" in self.hidden else f"{self.arrests:,}",
            "rate": SUPPRESSED
            if "contacts" in self.hidden
            else ("—" if self.rate is None else f"{self.rate:.1f}"),
        }


@dataclass
class EndingRow:
    key: str
    label: str
    incidents: int = 0
    arrest_citation: int = 0
    other: int = 0
    support: int = 0
    open: int = 0
    hidden: set[str] = field(default_factory=set)

    def share(self, name: str) -> float | None:
        if name in self.hidden or "incidents" in self.hidden or not self.incidents:
            return None
        return 100 * getattr(self, name) / self.incidents

    @property
    def display(self) -> dict[str, str]:
        out = {}
        for name in ("incidents", *(key for key, _ in ENDINGS)):
            value = getattr(self, name)
            out[name] = SUPPRESSED if name in self.hidden else f"{value:,}"
        for key, _label in ENDINGS:
            share = self.share(key)
            out[f"{key}_share"] = (
                SUPPRESSED
                if share is None and self.incidents
                else ("—" if share is None else f"{share:.0f}%")
            )
        return out


@dataclass
class OverrideRow:
    key: str
    label: str
    toward: int = 0
    away: int = 0
    hidden: set[str] = field(default_factory=set)

    @property
    def display(self) -> dict[str, str]:
        return {
            name: SUPPRESSED if name in self.hidden else f"{getattr(self, name):,}"
            for name in ("toward", "away")
        }


@dataclass
class Deflection:
    filter: EquityFilter
    total: RateRow
    by_month: list[RateRow]
    by_school: list[RateRow]
    endings: list[EndingRow]
    overrides_total: OverrideRow
    overrides: list[OverrideRow]


def deflection_figures(flt: EquityFilter) -> Deflection:
    with report_snapshot():
        return _deflection_figures(flt)


def _deflection_figures(flt: EquityFilter) -> Deflection:
    zone = zoneinfo.ZoneInfo(flt.district.timezone)
    enrolled_by_school = dict(
        Student.objects.filter(school_id__in=flt.school_ids)
        .values_list("school_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    enrolled = sum(enrolled_by_school.values())
    routed = incidents_in(flt)
    # Every incident that reached the SRO side, once (police contacts are among them).
    side = list(
        routed.filter(sro_side_q())
        .annotate(
            co=_flag(co_responder_q()),
            contact=_flag(police_contact_q()),
            arrest=_flag(arrest_q()),
        )
        .values_list("pk", "school_id", "occurred_at", "co", "contact", "arrest")
    )

    contacts: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    for _pk, school_id, occurred_at, _co, contact, arrest in side:
        if contact:
            counts = contacts[school_id, occurred_at.astimezone(zone).date().replace(day=1)]
            counts[0] += 1
            counts[1] += arrest
    total = RateRow(key="all", label="All schools in view", enrolled=enrolled)
    months = {
        m: RateRow(key=m.isoformat(), label=m.strftime("%b %Y"), enrolled=enrolled)
        for m in _months(flt)
    }
    schools = {
        s.pk: RateRow(key=s.code, label=s.name, enrolled=enrolled_by_school.get(s.pk, 0))
        for s in flt.schools
    }
    for (school_id, month), (n, arrests) in contacts.items():
        for row in (total, months[month], schools[school_id]):
            row.contacts += n
            row.arrests += arrests

    figures = Deflection(
        filter=flt,
        total=total,
        by_month=list(months.values()),
        by_school=list(schools.values()),
        endings=_endings(routed.filter(sro_side_q()), side, zone),
        overrides_total=OverrideRow(key="all", label="All hand-offs"),
        overrides=[],
    )
    figures.overrides = _overrides(flt, figures.overrides_total)
    _suppress(figures)
    return figures


def _months(flt: EquityFilter) -> list[date]:
    out, day = [], flt.start.replace(day=1)
    while day <= flt.end:
        out.append(day)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return out


def _subjects(incident_ids) -> dict[int, list[tuple]]:
    """{incident: [(birth date, iep, 504, race)]} of the rostered subject students."""
    out: dict[int, list[tuple]] = defaultdict(list)
    for row in (
        IncidentStudent.objects.filter(
            incident_id__in=incident_ids, role=InvolvementRole.SUBJECT, student__isnull=False
        )
        .values_list(
            "incident_id",
            "student__birth_date",
            "student__iep",
            "student__section_504",
            "student__race_ethnicity",
        )
        .order_by()
    ):
        out[row[0]].append(row[1:])
    return out


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _flag(condition: Q) -> Case:
    return Case(When(condition, then=Value(True)), default=Value(False))


def _endings(on_side, side: list[tuple], zone) -> list[EndingRow]:
    # Flat reads (no GROUP BY per incident), then one pass in Python.
    outcomes: dict[int, set[str]] = defaultdict(set)
    subjects: dict[int, list[tuple]] = {}
    if side:
        for incident_id, outcome in (
            QueueItem.objects.filter(incident_id__in=on_side.values("pk"))
            .exclude(outcome="")
            .order_by()
            .values_list("incident_id", "outcome")
        ):
            outcomes[incident_id].add(outcome)
        subjects = _subjects(on_side.values("pk"))
    rows = {
        (team, subset): EndingRow(key=f"{team}-{subset}", label=label)
        for team, team_label in (("co", "Co-responder team"), ("sro", "SRO alone"))
        for subset, label in (
            ("all", f"{team_label}: all incidents"),
            ("under12", f"{team_label}: a student under {UNDER_AGE}"),
            ("disability", f"{team_label}: a student with a disability"),
        )
    }
    for pk, _school_id, occurred_at, co, _contact, _arrest in side:
        found = outcomes.get(pk, set())
        if found & set(ARREST_OR_CITATION):
            ending = "arrest_citation"
        elif found & set(OTHER_OUTCOMES):
            ending = "other"
        elif found & set(SUPPORT_OUTCOMES):
            ending = "support"
        else:
            ending = "open"
        day = occurred_at.astimezone(zone).date()
        people = subjects.get(pk, [])
        subsets = ["all"]
        if any(_age_on(birth, day) < UNDER_AGE for birth, *_ in people):
            subsets.append("under12")
        if any(iep or s504 for _birth, iep, s504, _race in people):
            subsets.append("disability")
        for subset in subsets:
            row = rows["co" if co else "sro", subset]
            row.incidents += 1
            setattr(row, ending, getattr(row, ending) + 1)
    return list(rows.values())


def _direction(frm: str, to: str) -> str | None:
    if frm not in POLICE_LEVEL or to not in POLICE_LEVEL:
        return None
    if POLICE_LEVEL[to] > POLICE_LEVEL[frm]:
        return "toward"
    if POLICE_LEVEL[to] < POLICE_LEVEL[frm]:
        return "away"
    return None


def _overrides(flt: EquityFilter, total: OverrideRow) -> list[OverrideRow]:
    since, until = period_bounds(flt.district, flt.start, flt.end)
    handoffs = TimelineEvent.objects.filter(
        kind=EventKind.HANDED_OFF,
        at__gte=since,
        at__lt=until,
        incident__school_id__in=flt.school_ids,
    ).filter(Q(data__to__in=LAW_ENFORCEMENT_ROUTES) | Q(data__from__in=LAW_ENFORCEMENT_ROUTES))
    events = list(handoffs.order_by().values_list("incident_id", KT("data__from"), KT("data__to")))
    subjects = _subjects({incident_id for incident_id, _f, _t in events})
    races = dict(RaceEthnicity.choices)
    rows = {key: OverrideRow(key=key, label=label) for key, label in DISABILITY_ROWS}
    rows |= {race: OverrideRow(key=race, label=label) for race, label in races.items()}
    rows["unrostered"] = OverrideRow(key="unrostered", label="No rostered student")
    for incident_id, frm, to in events:
        direction = _direction(frm, to)
        if direction is None:
            continue
        setattr(total, direction, getattr(total, direction) + 1)
        people = subjects.get(incident_id, [])
        groups = {"idea" if iep else ("504" if s504 else "none") for _b, iep, s504, _r in people}
        groups |= {race for *_rest, race in people}
        for group in groups or {"unrostered"}:
            setattr(rows[group], direction, getattr(rows[group], direction) + 1)
    return list(rows.values())


def _suppress(figures: Deflection) -> None:
    def figs(rows, names):
        return [Figure(vars(row), row.hidden, name) for row in rows for name in names]

    rate_rows = [figures.total, *figures.by_month, *figures.by_school]
    hide_small(figs(rate_rows, ("contacts", "arrests")))
    hide_small(figs(figures.endings, ("incidents", *(key for key, _ in ENDINGS))))
    hide_small(figs([figures.overrides_total, *figures.overrides], ("toward", "away")))
    relations = []
    for rows in (figures.by_month, figures.by_school):
        for name in ("contacts", "arrests"):
            relations.append(
                Relation(
                    tuple(Figure(vars(r), r.hidden, name) for r in rows),
                    (Figure(vars(figures.total), figures.total.hidden, name),),
                )
            )
    for row in figures.endings:
        relations.append(
            Relation(
                tuple(Figure(vars(row), row.hidden, key) for key, _ in ENDINGS),
                (Figure(vars(row), row.hidden, "incidents"),),
            )
        )
    races = tuple(RaceEthnicity.values)
    for name in ("toward", "away"):
        whole = Figure(vars(figures.overrides_total), figures.overrides_total.hidden, name)
        for keys in (("none", "idea", "504", "unrostered"), (*races, "unrostered")):
            parts = tuple(
                Figure(vars(r), r.hidden, name) for r in figures.overrides if r.key in keys
            )
            relations.append(Relation(parts, (whole,)))
    suppress(relations)
