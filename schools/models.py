"""Districts, schools, staff with their roles per school, and the student roster."""

import zoneinfo
from datetime import date, time

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name (e.g. America/Denver).")


class District(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(
        max_length=64, default="America/Denver", validators=[validate_timezone]
    )
    school_day_start = models.TimeField(default=time(7, 30))
    school_day_end = models.TimeField(default=time(16, 0))
    ack_deadlines = models.JSONField(
        default=dict,
        blank=True,
        help_text='Minutes to acknowledge, per route, e.g. {"sro": 2}. Unset routes use defaults.',
    )
    passwords_enabled = models.BooleanField(
        default=True,
        help_text=(
            "Staff may sign in with a password. Turn off when the district signs everyone in "
            "through its identity provider (superusers keep their break-glass password)."
        ),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


GRADE_LABELS = {-1: "PK", 0: "K", **{n: str(n) for n in range(1, 13)}}
GRADE_CHOICES = list(GRADE_LABELS.items())


def grade_label(grade: int) -> str:
    return GRADE_LABELS.get(grade, str(grade))


class School(models.Model):
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="schools")
    code = models.CharField(max_length=20, unique=True, help_text="e.g. LIN-ES")
    name = models.CharField(max_length=200)
    grade_low = models.SmallIntegerField(choices=GRADE_CHOICES)
    grade_high = models.SmallIntegerField(choices=GRADE_CHOICES)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(grade_low__lte=models.F("grade_high")),
                name="school_grade_span_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def grade_span(self) -> str:
        return f"{grade_label(self.grade_low)}-{grade_label(self.grade_high)}"


class User(AbstractUser):
    """A staff member. What they may do comes from their roles, one per school."""

    roster_source_id = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text="The person's sourcedId in the district's OneRoster export.",
    )

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Role(models.TextChoices):
    TEACHER = "teacher", "Teacher"
    COUNSELOR = "counselor", "Counselor"
    ADMINISTRATOR = "administrator", "Administrator"
    CLINICIAN = "clinician", "Clinician"
    SRO = "sro", "School resource officer"
    DISTRICT_ADMIN = "district_admin", "District admin"


# The roles that work responder queues (a district admin oversees them, and sees them too).
RESPONDER_ROLES = frozenset({Role.COUNSELOR, Role.ADMINISTRATOR, Role.CLINICIAN, Role.SRO})
QUEUE_PAGE_ROLES = RESPONDER_ROLES | {Role.DISTRICT_ADMIN}


class Membership(models.Model):
    """A person's role at one school. A person may hold roles at several schools."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "school", "role"], name="membership_unique_role_per_school"
            )
        ]
        indexes = [models.Index(fields=["school", "role"])]

    def __str__(self) -> str:
        return f"{self.user} - {self.get_role_display()} at {self.school.code}"


class Sex(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"
    NONBINARY = "X", "Nonbinary"


class RaceEthnicity(models.TextChoices):
    """The Civil Rights Data Collection's seven categories."""

    HISPANIC = "HI", "Hispanic or Latino of any race"
    AMERICAN_INDIAN = "AM", "American Indian or Alaska Native"
    ASIAN = "AS", "Asian"
    PACIFIC_ISLANDER = "HP", "Native Hawaiian or Other Pacific Islander"
    BLACK = "BL", "Black or African American"
    WHITE = "WH", "White"
    TWO_OR_MORE = "TR", "Two or more races"


# What a roster row sets on a student, besides their id (the roster import and the back
# office's student form).
STUDENT_ROSTER_FIELDS = (
    "first_name",
    "last_name",
    "birth_date",
    "grade",
    "sex",
    "race_ethnicity",
    "english_learner",
    "iep",
    "section_504",
    "bip",
    "plan_contact",
)


def disability_group(path: str = "") -> models.Case:
    """A student's disability group as the equity reports count it, in SQL: "idea" (an IEP),
    "504" (a Section 504 plan and no IEP) or "none". ``path``: the lookup to the student
    (``"student__"`` from a row that points at one)."""
    return models.Case(
        models.When(**{f"{path}iep": True}, then=models.Value("idea")),
        models.When(**{f"{path}section_504": True}, then=models.Value("504")),
        default=models.Value("none"),
    )


class Student(models.Model):
    """One roster row, as it comes from the district's student information system."""

    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="students")
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="students")
    student_id = models.CharField(max_length=40)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    grade = models.SmallIntegerField(choices=GRADE_CHOICES)
    sex = models.CharField(max_length=1, choices=Sex.choices)
    race_ethnicity = models.CharField(max_length=2, choices=RaceEthnicity.choices)
    english_learner = models.BooleanField(default=False)
    iep = models.BooleanField("IEP", default=False)
    section_504 = models.BooleanField("Section 504 plan", default=False)
    bip = models.BooleanField("Behaviour intervention plan", default=False)
    plan_contact = models.CharField(
        max_length=200, blank=True, help_text="Who to call about this student's plan (BIP/IEP)."
    )
    # Off the roster (left the district): no longer offered at intake, past incidents stay.
    on_roster = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["district", "student_id"], name="student_id_unique_in_district"
            )
        ]
        indexes = [
            models.Index(fields=["school", "last_name", "first_name"]),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.student_id})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


class EnrolmentRollup(models.Model):
    """Students on the roster per school x group (disability, race/ethnicity, sex, English
    learner): the enrolment the equity report divides by, in a few rows per school.

    Kept by triggers on the roster table (migration 0004), whatever writes the roster (the
    OneRoster import in bulk, the back office, a move to another school, a deletion): in the
    same transaction, so it always equals a GROUP BY over the students. Rows may fall to 0.
    """

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="+")
    disability = models.CharField(max_length=4)  # "none", "idea" (an IEP) or "504" (only)
    race_ethnicity = models.CharField(max_length=2)
    sex = models.CharField(max_length=1)
    english_learner = models.BooleanField()
    students = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "disability", "race_ethnicity", "sex", "english_learner"],
                name="enrolment_rollup_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.school_id} {self.disability} {self.race_ethnicity}: {self.students}"


class RosterImportRun(models.Model):
    """One OneRoster import: by hand (import_oneroster) or by the scheduled sync."""

    class Outcome(models.TextChoices):
        IMPORTED = "imported", "Imported"
        DRY_RUN = "dry_run", "Dry run (nothing changed)"
        REFUSED = "refused", "Refused (problems found, nothing changed)"

    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="roster_runs")
    source = models.CharField(max_length=500, help_text="The folder or zip file imported.")
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the set's files.")
    trigger = models.CharField(max_length=20, default="command")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    summary = models.JSONField(default=dict, blank=True)
    problems = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["district", "fingerprint"])]

    def __str__(self) -> str:
        return f"{self.source} ({self.get_outcome_display()})"


class TokenLockout(models.Model):
    """An address that sent too many wrong API tokens, refused every token until ``until``.

    The failed-token throttle (triage.api.throttles) counts wrong tokens per address in the
    cache. When an address reaches the limit it also writes this row, and the query that
    reads each API request's token and roles reads it too (selectors.principal_by_token): a
    right token from that address is refused without a cache round trip on every request."""

    address = models.TextField(primary_key=True)
    until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.address} until {self.until:%Y-%m-%d %H:%M:%S}"
