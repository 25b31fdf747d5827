"""Reads of the what-if replay: the runs a district admin may see, and the incidents replayed.

Permission scoping happens here: replays belong to a district admin's district.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date

from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    Func,
    Max,
    Q,
    QuerySet,
    TextField,
    Value,
    Window,
)
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast, Coalesce, RowNumber
from django.shortcuts import get_object_or_404

from incidents.models import Incident, IncidentStudent, InvolvementRole
from incidents.selectors import incidents_visible_to
from policies.models import RuleSet
from policies.registry import SRO
from policies.selectors import district_for_admin
from schools.models import District, User

from .models import ReplayRun
from .scope import period_bounds

REPLAY_COLUMNS = ("pk", "school_id", "route", "facts", "old_notify")
# Rows fetched per round trip from a chunk's server-side cursor.
STREAM_ROWS = 5_000


def replay_ruleset_for(user: User, version: int) -> RuleSet:
    """A version of the admin's district (403 for non-admins, 404 for unknown versions)."""
    district = district_for_admin(user)
    return get_object_or_404(
        RuleSet.objects.select_related("district"), district=district, version=version
    )


def replay_result_current(run: ReplayRun, ruleset: RuleSet) -> bool:
    """The run replayed the version as it is now (a draft edited since has another digest;
    a run from before digests were recorded cannot tell, so it counts as out of date)."""
    return bool(run.spec_digest) and run.spec_digest == ruleset.spec_digest()


def replay_runs_for(ruleset: RuleSet) -> QuerySet[ReplayRun]:
    return ReplayRun.objects.filter(ruleset=ruleset).select_related("requested_by")


def replay_run_for(user: User, run_id: int) -> ReplayRun:
    district = district_for_admin(user)
    return get_object_or_404(
        ReplayRun.objects.select_related("ruleset__district", "requested_by"),
        pk=run_id,
        ruleset__district=district,
    )


def _replayed(*, district: District, start: date, end: date) -> QuerySet[Incident]:
    """The district's routed incidents that occurred in the period and kept their facts."""
    since, until = period_bounds(district, start, end)
    return Incident.objects.filter(
        school__district=district,
        occurred_at__gte=since,
        occurred_at__lt=until,
        route__isnull=False,
        facts__isnull=False,
    )


def replay_source(*, district: District, start: date, end: date) -> QuerySet:
    """The replayed incidents as tuples of REPLAY_COLUMNS (only what the engine and the tally
    read), in id order."""
    return (
        _replayed(district=district, start=start, end=end)
        .annotate(old_notify=F("decision__also_notify"))
        .order_by("pk")
        .values_list(*REPLAY_COLUMNS)
    )


def replay_chunk_bounds(
    *, district: District, start: date, end: date, chunk_size: int
) -> tuple[int, list[tuple[int, int]]]:
    """(number of incidents, [(first id, last id)] of consecutive chunks of ``chunk_size``).

    One pass over the rows: the database numbers them in id order and returns every chunk's
    first id, so the planner never reads the million ids itself; then the last chunk alone
    is counted, for the number of rows and the last id.
    """
    replayed = _replayed(district=district, start=start, end=end)
    firsts = list(
        replayed.annotate(n=Window(RowNumber(), order_by=F("pk").asc()))
        .annotate(position=(F("n") - 1) % chunk_size)
        .filter(position=0)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not firsts:
        return 0, []
    tail = replayed.filter(pk__gte=firsts[-1]).aggregate(count=Count("pk"), last_pk=Max("pk"))
    count = (len(firsts) - 1) * chunk_size + tail["count"]
    lasts = [next_first - 1 for next_first in firsts[1:]] + [tail["last_pk"]]
    return count, list(zip(firsts, lasts, strict=True))


def replay_projects_facts() -> bool:
    """PostgreSQL picks the facts the engine reads out of each facts document itself; SQLite
    (the embedded default) hands over the whole document."""
    return connection.vendor == "postgresql"


def replay_chunk_rows(
    *,
    district: District,
    start: date,
    end: date,
    first_pk: int,
    last_pk: int,
    facts: Sequence[str] | None = None,
) -> Iterator[tuple]:
    """Stream one chunk's rows, (pk, school_id, route, SRO notified, facts), in id order
    through a server-side cursor (a named cursor on PostgreSQL): memory holds
    ``STREAM_ROWS`` rows, not the chunk. ``route`` and "SRO notified" are the decision kept.

    Without ``facts``, the last item is the facts document. With ``facts`` (PostgreSQL only,
    ``replay_projects_facts``), it is the JSON array text of those facts, in that order
    (null for one not answered): the database never sends nor the worker parses the rest of
    the document, and equal answers give equal text, which the decisions are memoized on.
    """
    in_chunk = Q(pk__gte=first_pk, pk__lte=last_pk)
    if facts is None:
        documents = replay_source(district=district, start=start, end=end).filter(in_chunk)
        return (
            (pk, school_id, route, bool(notify) and SRO in notify, document)
            for pk, school_id, route, document, notify in documents.iterator(chunk_size=STREAM_ROWS)
        )
    picked = Func(*(KeyTransform(name, "facts") for name in facts), function="jsonb_build_array")
    return (
        _replayed(district=district, start=start, end=end)
        .filter(in_chunk)
        .annotate(
            # "?" tests an array's elements: the kept also_notify list names the SRO.
            sro_notified=Coalesce(
                ExpressionWrapper(Q(decision__also_notify__has_key=SRO), BooleanField()),
                Value(False),
            ),
            projection=Cast(picked, TextField()),
        )
        .order_by("pk")
        .values_list("pk", "school_id", "route", "sro_notified", "projection")
        .iterator(chunk_size=STREAM_ROWS)
    )


def replay_disability_groups(first_pk: int, last_pk: int) -> dict[int, str]:
    """{incident id: "idea" or "504"} for the incidents in [first_pk, last_pk] whose subject
    students include one with an IEP (IDEA) or, failing that, a 504 plan; absent = "none".

    One query per chunk of the replay (not one per incident). An incident goes with its most
    protected subject: a student is "504 only" when they have a 504 plan and no IEP.
    """
    groups: dict[int, str] = {}
    for incident_id, iep in IncidentStudent.objects.filter(
        Q(student__iep=True) | Q(student__section_504=True),
        incident_id__gte=first_pk,
        incident_id__lte=last_pk,
        role=InvolvementRole.SUBJECT,
    ).values_list("incident_id", "student__iep"):
        if iep or incident_id not in groups:
            groups[incident_id] = "idea" if iep else "504"
    return groups


def incident_ids_visible(user: User, ids: Iterable[int]) -> set[int]:
    return set(incidents_visible_to(user).filter(pk__in=list(ids)).values_list("pk", flat=True))
