"""Filing an incident: one transaction, idempotent per reporter key, routing sent after commit."""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from policies.registry import LIFE_SAFETY_DANGER, weapon_reported
from schools.models import School, Student, User
from schools.selectors import has_role_at

from ..models import (
    EventKind,
    Incident,
    IncidentStudent,
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
                lambda: routing.incident_dispatch(incident_id=incident.pk, force=life_safety)
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
