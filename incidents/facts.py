"""The facts the routing policy tests, built from an incident, its students and the roster.

The result is a plain dict (JSON-able): it is what the engine sees and what is kept on the
incident as the snapshot it was routed on, so any rule-set version can be replayed exactly.
"""

import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from django.utils import timezone

from schools.models import School

from .models import Incident, IncidentStudent, InvolvementRole

INTAKE_FACTS = (
    "category",
    "location",
    "weapon",
    "injury",
    "threat",
    "danger_now",
    "student_state",
    "with_now",
)


def school_year_start(day: date) -> date:
    """U.S. school years start in August."""
    return date(day.year if day.month >= 8 else day.year - 1, 8, 1)


def incident_facts(incident: Incident) -> dict:
    return incidents_facts([incident])[incident.pk]


def incidents_facts(incidents: Sequence[Incident]) -> dict[int, dict]:
    """Facts of saved incidents by id; their students are read in one query for all."""
    involvements: dict[int, list[IncidentStudent]] = {incident.pk: [] for incident in incidents}
    for involvement in IncidentStudent.objects.filter(incident__in=incidents).select_related(
        "student"
    ):
        involvements[involvement.incident_id].append(involvement)
    return {
        incident.pk: build_facts(
            school=incident.school,
            occurred_at=incident.occurred_at,
            answers={name: getattr(incident, name) for name in INTAKE_FACTS},
            involvements=involvements[incident.pk],
            incident_id=incident.pk,
        )
        for incident in incidents
    }


def facts_from_intake(data: Mapping) -> dict:
    """Facts for an incident not saved: the validated fields of a filing (a preview)."""
    return build_facts(
        school=data["school"],
        occurred_at=data.get("occurred_at") or timezone.now(),
        answers=data,
        involvements=data["students"],
    )


def build_facts(
    *,
    school: School,
    occurred_at: datetime,
    answers: Mapping[str, str],
    involvements: Sequence,
    incident_id: int | None = None,
) -> dict:
    """Facts for saved or unsaved incidents (a preview). ``involvements`` have .student,
    .age and .role (an IncidentStudent or an InvolvedStudent)."""
    district = school.district
    local = occurred_at.astimezone(zoneinfo.ZoneInfo(district.timezone))
    roster = [i.student for i in involvements if i.student is not None]
    subjects = [i for i in involvements if i.role == InvolvementRole.SUBJECT]
    ages = [i.student.age_on(local.date()) if i.student else i.age for i in subjects]
    known_ages = [a for a in ages if a is not None]

    facts: dict = {name: answers.get(name) for name in INTAKE_FACTS}
    facts.update(
        any_iep=any(s.iep for s in roster),
        any_504=any(s.section_504 for s in roster),
        any_bip=any(s.bip for s in roster),
        youngest_subject_age=min(known_ages) if known_ages else None,
        school_grade_low=school.grade_low,
        school_grade_high=school.grade_high,
        subject_prior_incidents=_prior_incidents(
            [i.student.pk for i in subjects if i.student is not None],
            occurred_at,
            local.date(),
            incident_id,
        ),
        hour_of_day=local.hour,
        within_school_hours=(
            local.weekday() < 5
            and district.school_day_start <= local.time() < district.school_day_end
        ),
        student_count=len(involvements),
    )
    facts["any_disability"] = facts["any_iep"] or facts["any_504"] or facts["any_bip"]
    return facts


def _prior_incidents(
    student_pks: list[int], occurred_at: datetime, on: date, incident_id: int | None
) -> int:
    """Incidents each subject had earlier this school year, as a subject; the most of any."""
    if not student_pks:
        return 0
    start = datetime.combine(school_year_start(on), datetime.min.time(), tzinfo=occurred_at.tzinfo)
    counts = []
    for student_pk in student_pks:
        earlier = IncidentStudent.objects.filter(
            student_id=student_pk,
            role=InvolvementRole.SUBJECT,
            incident__occurred_at__gte=start,
            incident__occurred_at__lt=occurred_at,
        )
        if incident_id is not None:
            earlier = earlier.exclude(incident_id=incident_id)
        counts.append(earlier.count())
    return max(counts)
