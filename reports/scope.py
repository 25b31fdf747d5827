"""Who sees which equity figures, over which period: the scope every report reads in.

A district admin sees their district's schools; a school administrator, their own schools.
A period is whole days [start, end] in the district's time zone.
"""

from __future__ import annotations

import zoneinfo
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import QuerySet

from incidents.facts import school_year_start
from incidents.models import Incident
from schools.models import District, Role, School, User
from schools.selectors import school_ids_for

# --- periods --------------------------------------------------------------------------------


def district_today(district: District) -> date:
    return datetime.now(zoneinfo.ZoneInfo(district.timezone)).date()


def school_year_of(day: date) -> tuple[date, date]:
    """The school year (Aug 1 - Jul 31) that ``day`` falls in."""
    start = school_year_start(day)
    return start, date(start.year + 1, 7, 31)


def school_year_label(start_year: int) -> str:
    return f"{start_year}-{str(start_year + 1)[-2:]}"


def period_bounds(district: District, start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, day after end 00:00) in the district's time zone."""
    zone = zoneinfo.ZoneInfo(district.timezone)
    return (
        datetime.combine(start, time.min, tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone),
    )


# --- equity: scope and filter ----------------------------------------------------------------


def equity_schools_for(user: User) -> QuerySet[School]:
    """A district admin's schools, or the schools where the user is an administrator."""
    ids = school_ids_for(user, {Role.ADMINISTRATOR})
    if not ids:
        raise PermissionDenied(
            "The equity dashboard is for district admins and school administrators."
        )
    return School.objects.filter(pk__in=ids).select_related("district").order_by("name")


@dataclass(frozen=True)
class EquityFilter:
    district: District
    schools: tuple[School, ...]
    start: date
    end: date

    @property
    def school_ids(self) -> list[int]:
        return [s.pk for s in self.schools]


def incidents_in(flt: EquityFilter) -> QuerySet[Incident]:
    since, until = period_bounds(flt.district, flt.start, flt.end)
    return Incident.objects.filter(
        school_id__in=flt.school_ids,
        occurred_at__gte=since,
        occurred_at__lt=until,
        route__isnull=False,
    ).order_by()


@contextmanager
def report_snapshot():
    """A read-only transaction for a report's queries (PostgreSQL: one snapshot, so the
    figures agree with one another; memory to sort and hash in; no JIT)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if outermost:
                    # One snapshot for every query: the figures agree with one another, and
                    # each median is read at its rank among the very items that were counted.
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # Big aggregates over a million rows: sort and hash in memory, and skip the
                # JIT compilation that costs more than it saves at this size.
                cursor.execute("SET LOCAL work_mem = '64MB'")
                cursor.execute("SET LOCAL jit = off")
        yield
