"""Rollups: the report counts kept per school and day, so that the equity dashboard reads
thousands of rows instead of a million incidents.

Kept current in the same transaction as the writes that change them (routing, hand-off,
resolve: ``incidents/services/rollups.py``) and rebuilt from the source rows by
``manage.py rollups_rebuild``. The day is the incident's day of occurrence in its district's
time zone: a report period is whole local days, so these rows add up exactly to any period.

Imported by ``incidents.models`` (Django finds models there); this module imports no other
incidents module, so the two cannot import each other in a cycle.
"""

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
