"""Rollups: the report counts kept per school and day, so that the equity dashboard reads
thousands of rows instead of a million incidents.

Kept current in the same transaction as the writes that change them (routing, hand-off,
resolve, acknowledge: ``incidents/services/rollups.py``) and rebuilt from the source rows by
``manage.py rollups_rebuild``. The day is a local day in the district's time zone (of the
incident's occurrence; of a hand-off; of an item's queueing): a report period is whole local
days, so these rows add up exactly to any period.

Imported by ``incidents.models`` (Django finds models there); this module imports no other
incidents module, so the two cannot import each other in a cycle.
"""

from datetime import timedelta

from django.db import models


class IncidentRollup(models.Model):
    """Routed incidents per school x day x route x (referral to law enforcement, arrest).

    ``referred`` and ``arrested`` follow the definitions in ``reports/definitions.py``; an
    incident moves to another row when a hand-off or an outcome makes it a referral or an
    arrest. Each incident is counted twice: in its day's row and in its month's row
    (``month``; ``day`` is then the first of the month), so a period reads the month rows of
    the months it covers whole and the day rows only at its ends: about 50 rows per school and
    year instead of 1,000.
    """

    school = models.ForeignKey("schools.School", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    month = models.BooleanField(default=False, help_text="A whole month, from ``day`` (the 1st).")
    route = models.CharField(max_length=16)
    referred = models.BooleanField()
    arrested = models.BooleanField()
    incidents = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                # Month and day first: a period's rows are a few index ranges.
                fields=["month", "day", "school", "route", "referred", "arrested"],
                name="incident_rollup_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.school_id} {self.day} {self.route}: {self.incidents}"


class StudentReferralRollup(models.Model):
    """Referrals of one rostered subject student per school x day: ``instances`` referred
    incidents, ``arrest_instances`` of them arrests.

    Keyed by the student, so that a student referred on several days of a period counts once
    (COUNT DISTINCT). Each referral is counted twice, as the incident rollup's month rows do:
    in its day's row and in its school year's row (``year``; ``day`` is then August 1st), so a
    report over a school year reads one row per referred student and school, with no
    COUNT DISTINCT.

    The student's groups (disability, race/ethnicity, sex, English learner, grade) are copies
    of the roster as it is now, as the direct computation reads them: a trigger on the roster
    table (migration 0015) rewrites them whenever a student's groups change, whatever wrote
    the change (the OneRoster import, the back office, a bulk update), so a report groups the
    rows without joining the roster. Only referrals have rows: far fewer than incidents.
    """

    school = models.ForeignKey("schools.School", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    year = models.BooleanField(
        default=False, help_text="A whole school year, from ``day`` (August 1st)."
    )
    student = models.ForeignKey("schools.Student", on_delete=models.CASCADE, related_name="+")
    instances = models.IntegerField(default=0)
    arrest_instances = models.IntegerField(default=0)
    # The student's groups on the roster now (kept by the trigger): "none", "idea" or "504".
    disability = models.CharField(max_length=4)
    race_ethnicity = models.CharField(max_length=2)
    sex = models.CharField(max_length=1)
    english_learner = models.BooleanField()
    grade = models.SmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                # Year and day first: a school year's rows are one index range.
                fields=["year", "day", "school", "student"],
                name="student_referral_rollup_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.school_id} {self.day} student {self.student_id}: {self.instances}"


class HandoffRollup(models.Model):
    """Hand-offs per school (the incident's) x day of the hand-off x (from route, to route).

    Dated by the hand-off, not by the incident, as the override figures are; day and month
    rows as in ``IncidentRollup``.
    """

    school = models.ForeignKey("schools.School", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    month = models.BooleanField(default=False, help_text="A whole month, from ``day`` (the 1st).")
    from_route = models.CharField(max_length=16)
    to_route = models.CharField(max_length=16)
    handoffs = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "day", "school", "from_route", "to_route"],
                name="handoff_rollup_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.school_id} {self.day} {self.from_route} -> {self.to_route}: {self.handoffs}"


# The upper ends (seconds, exclusive) of the wait buckets of the acknowledgement rollups: bucket
# ``i`` holds the waits in [ACK_WAIT_BOUNDS[i - 1], ACK_WAIT_BOUNDS[i]) (the first has no lower
# end, the last no upper end). Narrow where most waits fall: the exact median is read from the
# items of its bucket, so a bucket's items are what that read costs.
ACK_WAIT_BOUNDS = (
    *(15, 30, 45, 60, 90, 120, 150, 180, 240, 300, 360, 420, 480, 540, 600),
    *(720, 840, 960, 1080, 1200, 1500, 1800, 2400, 3000, 3600, 5400, 7200),
    *(10800, 14400, 21600, 43200, 86400, 172800, 604800),
)
# The same bounds as durations; a wait is compared with them exactly (to the microsecond).
ACK_WAIT_LIMITS = tuple(timedelta(seconds=s) for s in ACK_WAIT_BOUNDS)


class AckWaitCounts(models.Model):
    """A count of acknowledged routing items per day (or month) queued x route x wait bucket."""

    day = models.DateField()
    month = models.BooleanField(default=False, help_text="A whole month, from ``day`` (the 1st).")
    route = models.CharField(max_length=16)
    bucket = models.SmallIntegerField()
    items = models.IntegerField(default=0)

    class Meta:
        abstract = True


class AckWaitRollup(AckWaitCounts):
    """Acknowledged routing items per school (the item's queue's) x day it was queued x route x
    wait bucket (``ACK_WAIT_BOUNDS``): how many of a period's waits fall below a bucket, so
    that the median is read from one bucket's items. Day and month rows as in
    ``IncidentRollup``."""

    # Indexed by the constraint below, which starts with the school.
    school = models.ForeignKey(
        "schools.School", on_delete=models.CASCADE, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                # School first: this table is read for a few schools at a time (most of a
                # district reads the district's rows less the others').
                fields=["school", "month", "day", "route", "bucket"],
                name="ack_wait_rollup_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.school_id} {self.day} {self.route} bucket {self.bucket}: {self.items}"


class AckWaitDistrictRollup(AckWaitCounts):
    """``AckWaitRollup`` summed over the district's schools: a district-wide period reads a
    few thousand rows instead of a row per school, and most of the schools read the district
    less the others."""

    district = models.ForeignKey(
        "schools.District", on_delete=models.CASCADE, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["district", "month", "day", "route", "bucket"],
                name="ack_wait_district_rollup_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.district_id} {self.day} {self.route} bucket {self.bucket}: {self.items}"
