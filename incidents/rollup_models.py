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

    Keyed by the student, not by their groups: the groups (disability, race/ethnicity, sex,
    English learner) are read from the current roster when the report runs, as the direct
    computation does, and a student referred on several days of a period must count once.
    Only referrals have rows: far fewer than incidents.
    """

    school = models.ForeignKey("schools.School", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    student = models.ForeignKey("schools.Student", on_delete=models.CASCADE, related_name="+")
    instances = models.IntegerField(default=0)
    arrest_instances = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "day", "student"], name="student_referral_rollup_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.school_id} {self.day} student {self.student_id}: {self.instances}"
