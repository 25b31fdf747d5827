"""Filing an incident: the intake rules, then one transaction, idempotent per reporter key,
routing sent after commit.

The rules a filing must meet beyond its shape (a real school, a narrative that says something,
a plausible time, a role at the school, students who are on its roster) and their messages live
here, once: the API's serializer and the report page's form check only the shape of what was
sent, then call these, and put the messages next to the fields they name.
"""

import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone

from schools.models import School, Student, User
from schools.selectors import has_role_at, memberships_of
from triage.bulk import db_value

from ..models import (
    NARRATIVE_MAX_LENGTH,
    EventKind,
    Incident,
    IncidentStudent,
    TimelineEvent,
)
from . import routing
from .timeline import timeline_record

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InvolvedStudent:
    role: str
    student: Student | None = None
    name: str = ""
    age: int | None = None


CLOCK_SKEW = timedelta(minutes=5)
# How far back a report may be dated: the last two years (older dates are typing mistakes,
# and years before 1900 do not even print as RFC 3339 in every zone).
OCCURRED_AT_MAX_AGE = timedelta(days=2 * 366)
MAX_STUDENTS = 50
NARRATIVE_MISSING = "Describe what happened in your own words."
NARRATIVE_TOO_LONG = f"Keep the narrative under {NARRATIVE_MAX_LENGTH:,} characters."
NAME_MISSING = "Give the person's name."
STUDENT_ID_OR_NAME = "Give either a roster student_id or a name and age, not both."


class IntakeInvalid(Exception):
    """What a filing got wrong: ``messages`` about one field, or ``errors`` keyed by field
    (for the students, one dict per student in the order sent, ``{}`` for the good ones)."""

    def __init__(self, messages: list[str] | None = None, *, errors: dict | None = None):
        super().__init__("; ".join(messages or []) or str(errors))
        self.messages = messages or []
        self.errors = errors or {}


def intake_narrative_check(narrative: str) -> str:
    if not narrative.strip():
        raise IntakeInvalid([NARRATIVE_MISSING])
    return narrative


def intake_occurred_at_check(occurred_at: datetime) -> datetime:
    now = timezone.now()
    if occurred_at > now + CLOCK_SKEW:
        raise IntakeInvalid(["This time is in the future; give when it happened."])
    if occurred_at < now - OCCURRED_AT_MAX_AGE:
        raise IntakeInvalid(
            ["This time is more than two years ago; check the year and give when it happened."]
        )
    return occurred_at


def intake_school_find(*, reporter: User, code: str) -> School:
    """The school a code names (any case); the reporter's own schools need no query."""
    wanted = code.strip().lower()
    for membership in memberships_of(reporter):
        if membership.school.code.lower() == wanted:
            return membership.school
    school = School.objects.select_related("district").filter(code__iexact=wanted).first()
    if school is None:
        raise IntakeInvalid([f'Unknown school code "{code}".'])
    return school


def intake_students_count_check(entries: list) -> list:
    if len(entries) > MAX_STUDENTS:
        raise IntakeInvalid([f"At most {MAX_STUDENTS} students per incident."])
    return entries


def intake_students_resolve(
    *, reporter: User, school: School, entries: list[dict]
) -> list[InvolvedStudent]:
    """The students involved, from entries of ``role`` and either ``student_id`` or ``name``
    (and ``age``). Permission first, and only then the roster: nobody learns who is on the
    roster of a school where they have no role (PermissionDenied). Roster errors raise
    IntakeInvalid keyed ``students``, one dict per entry."""
    if not has_role_at(reporter, school):
        raise PermissionDenied(f"You have no role at {school.code}.")
    ids = [e["student_id"] for e in entries if e.get("student_id")]
    found = (
        {
            s.student_id: s
            for s in Student.objects.filter(
                district_id=school.district_id, student_id__in=ids, on_roster=True
            )
        }
        if ids
        else {}
    )
    resolved: list[InvolvedStudent] = []
    errors: list[dict] = []
    seen: set[str] = set()
    for entry in entries:
        error: dict = {}
        if entry.get("student_id"):
            student = found.get(entry["student_id"])
            if student is None or student.school_id != school.pk:
                # One message for both: a reporter does not learn that an id exists at
                # another school of the district.
                error["student_id"] = [
                    f'No student "{entry["student_id"]}" on the roster of {school.code}.'
                ]
            elif student.student_id in seen:
                error["student_id"] = [f'Student "{entry["student_id"]}" is listed twice.']
            else:
                seen.add(student.student_id)
                resolved.append(InvolvedStudent(role=entry["role"], student=student))
        else:
            name = entry.get("name", "").strip()
            if not name:
                error["name"] = [NAME_MISSING]
            resolved.append(InvolvedStudent(role=entry["role"], name=name, age=entry.get("age")))
        errors.append(error)
    if any(errors):
        raise IntakeInvalid(errors={"students": errors})
    return resolved


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
    # Only a filing with a key is compared with another: without one, no hash to make.
    fingerprint = (
        _filing_fingerprint(**filed, occurred_at=occurred_at, students=list(students))
        if idempotency_key
        else ""
    )
    if idempotency_key:
        existing = Incident.objects.filter(
            filed_by=reporter, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return _same_filing(existing, fingerprint), False
    incident = Incident(
        **filed,
        filed_by=reporter,
        occurred_at=occurred_at or timezone.now(),
        idempotency_key=idempotency_key,
        idempotency_fingerprint=fingerprint,
    )
    # Life safety first: an incident the life-safety floor covers always sends its own
    # routing message, which routes it before anything else waiting.
    life_safety = routing.incident_is_life_safety(
        category=category, weapon=weapon, danger_now=danger_now
    )
    try:
        if _one_statement_possible(students, idempotency_key):
            _insert_with_filed_event(incident, actor=reporter)
            incident._prefetched_objects_cache = {"students": []}
        else:
            with transaction.atomic():
                incident.save(force_insert=True)
                involved = IncidentStudent.objects.bulk_create(
                    IncidentStudent(
                        incident=incident, student=s.student, name=s.name, age=s.age, role=s.role
                    )
                    for s in students
                )
                # What was just written, so the answer needs no second read of it.
                incident._prefetched_objects_cache = {"students": involved}
                timeline_record(incident=incident, kind=EventKind.FILED, actor=reporter)
        # After commit (at once when the one statement was its own transaction).
        transaction.on_commit(
            lambda: routing.incident_dispatch(incident_id=incident.pk, force=life_safety)
        )
    except IntegrityError:
        if not idempotency_key:
            raise
        # The same key raced in from a second request: that one won.
        existing = Incident.objects.get(filed_by=reporter, idempotency_key=idempotency_key)
        return _same_filing(existing, fingerprint), False
    return incident, True


def _one_statement_possible(students, idempotency_key: str) -> bool:
    """The common filing (no students) is one statement on PostgreSQL; with students, another
    database, or a key that may collide inside an outer transaction (which a failed statement
    would abort), a transaction with a savepoint as before."""
    if students or connection.vendor != "postgresql":
        return False
    return not (idempotency_key and connection.in_atomic_block)


def _insert_with_filed_event(incident: Incident, *, actor: User) -> None:
    """The incident and its "filed" timeline event in one statement (a data-modifying CTE):
    outside a transaction it is its own, so one round trip instead of BEGIN, two INSERTs and
    COMMIT. Columns and values come from the models' fields, as ``save()`` would write them."""
    now = timezone.now()
    incident.filed_at = now  # auto_now_add
    event = TimelineEvent(kind=EventKind.FILED, actor=actor, at=now, data={}, private=False)
    sql, fields, event_fields = _filing_statement()
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: each value's preparation reads it
    params = [db_value(f, getattr(incident, f.attname), db) for f in fields]
    params += [db_value(f, getattr(event, f.attname), db) for f in event_fields]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        incident.pk = cursor.fetchone()[0]
    incident._state.adding = False
    incident._state.db = db.alias


@functools.cache
def _filing_statement() -> tuple[str, list, list]:
    fields = [f for f in Incident._meta.concrete_fields if not f.primary_key]
    event_fields = [
        f for f in TimelineEvent._meta.concrete_fields if f.name not in {"id", "incident"}
    ]
    quote = connection.ops.quote_name
    # Identifiers from the models' metadata, quoted; every value is a parameter.
    sql = (
        f"WITH new_incident AS (INSERT INTO {quote(Incident._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id), "
        f"filed AS (INSERT INTO {quote(TimelineEvent._meta.db_table)} "
        f"({quote('incident_id')}, {', '.join(quote(f.column) for f in event_fields)}) "
        f"SELECT id, {', '.join(['%s'] * len(event_fields))} FROM new_incident) "
        "SELECT id FROM new_incident"
    )
    return sql, fields, event_fields


def _same_filing(existing: Incident, fingerprint: str) -> Incident:
    # Incidents filed before fingerprints were kept have none: taken as the same, as before.
    if existing.idempotency_fingerprint and existing.idempotency_fingerprint != fingerprint:
        raise IdempotencyKeyReused(existing)
    return existing
