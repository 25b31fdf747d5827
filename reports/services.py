"""Writes of the reports app (the what-if replay's are in ``reports.replay``)."""

from __future__ import annotations

from django.db import transaction

from incidents.models import AccessAction, AccessLogEntry
from schools.models import User

from . import scope


def crdc_exact_export_record(*, user: User, district, year: int) -> AccessLogEntry:
    """Log a download of the exact (unsuppressed) CRDC file: it holds counts as small as one
    student, so it is a read of student records like opening an incident."""
    with transaction.atomic():
        return AccessLogEntry.objects.create(
            user=user,
            username=user.get_username(),
            district=district,
            action=AccessAction.EXPORT_CRDC_EXACT,
            detail=f"CRDC referrals and arrests {scope.school_year_label(year)}, exact counts",
        )
