"""The report-an-incident page's form.

The form only shapes the page's input (choices, the time field, the students' rows) and says
what is wrong with that shape in words a teacher understands; the rules beyond shape (the
narrative, the time, the school, permission, the roster) are the intake service's, the same
ones the API applies, and their messages are put next to the fields they belong to.
"""

import re
import uuid
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from schools.models import Student, User
from schools.selectors import school_ids_for, schools_for

from .cues import ASK_AGAIN, questions_to_ask_again
from .models import (
    NARRATIVE_MAX_LENGTH,
    Category,
    DangerNow,
    Injury,
    InvolvementRole,
    Location,
    StudentState,
    Threat,
    Weapon,
    WithNow,
)
from .selectors import last_school_used
from .services import intake

STUDENT_KEY = re.compile(r"^students-(\d{1,3})-(student_id|name|age|role)$")
STUDENT_PARTS = ("student_id", "name", "age", "role")
MAX_STUDENT_ROWS = 60  # the intake allows 50; a few more so its own message shows
STUDENT_ID_MAX_LENGTH = 40
STUDENT_AGES = range(3, 26)
WHOLE_NUMBER_ZEROS = re.compile(r"\.0*$")
THREAT_WORDS_MAX_LENGTH = 2000
IDEMPOTENCY_KEY_MAX_LENGTH = 64
SAFETY_ANSWERS = ("weapon", "injury", "threat", "danger_now", "student_state", "with_now")


def _checked(check, value):
    try:
        return check(value)
    except intake.IntakeInvalid as exc:
        raise forms.ValidationError(exc.messages) from exc


@dataclass
class StudentRow:
    """One chosen student as posted (kept as typed, so a re-rendered page loses nothing)."""

    index: int
    student_id: str = ""
    name: str = ""
    age: str = ""
    role: str = InvolvementRole.SUBJECT
    label: str = ""  # what the page shows: the roster name, or the typed name
    errors: list[str] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return f"student-{self.index}"

    def shape_errors(self) -> list[str]:
        """What is wrong with the row as typed; the roster is the intake service's to check."""
        errors = []
        if len(self.student_id) > STUDENT_ID_MAX_LENGTH:
            errors.append("That student ID is too long; pick the student again.")
        elif self.student_id and (self.name or self.age):
            errors.append(intake.STUDENT_ID_OR_NAME)
        elif not self.student_id and not self.name.strip():
            errors.append(intake.NAME_MISSING)
        if self.age and self.age_number is None:
            errors.append("Give the age as a whole number, e.g. 11.")
        elif self.age and self.age_number not in STUDENT_AGES:
            errors.append("Give an age between 3 and 25.")
        if self.role not in InvolvementRole.values:
            errors.append("Choose how this person was involved.")
        return errors

    @property
    def age_number(self) -> int | None:
        try:
            return int(WHOLE_NUMBER_ZEROS.sub("", self.age))  # "11.0" is 11, as the API reads it
        except ValueError:
            return None

    def as_entry(self) -> dict:
        entry = {"role": self.role}
        if self.student_id:
            entry["student_id"] = self.student_id
        else:
            entry["name"] = self.name
        if self.age:
            entry["age"] = self.age_number
        return entry


NOT_SURE = "unknown"


def _answers(choices) -> list[tuple[str, str]]:
    """The answers of a safety question, "Not sure" last and in a few words."""
    return [(v, "Not sure" if v == NOT_SURE else label) for v, label in choices.choices]


def _radio(choices, *, required_message: str = "") -> forms.ChoiceField:
    # No initial value: a safety question is never pre-answered (issue 12). Unanswered is
    # sent as nothing, which the API stores as `unknown`.
    error_messages = {"invalid_choice": "Choose one of the answers shown."}
    if required_message:
        error_messages["required"] = required_message
    return forms.ChoiceField(
        choices=_answers(choices),
        required=bool(required_message),
        widget=forms.RadioSelect,
        error_messages=error_messages,
    )


# What each answer leads to, in plain words, under the district's default policy and the
# guardrails (the life-safety floor cannot be turned off).
LEADS_TO: dict[str, dict[str, str]] = {
    "danger_now": {
        "none": "No one is in danger now: the responder for this kind of incident is told.",
        "to_self": "The student is in danger right now: a clinician and the school resource "
        "officer respond together.",
        "to_others": "Other people are in danger right now: the school resource officer is sent.",
        "unknown": "You do not know yet: the responder asks. This answer alone never sends "
        "the school resource officer.",
    },
    "weapon": {
        "none": "Nobody had or used one.",
        "object_used_as_weapon": "An everyday object (a pencil, a chair): not counted as a "
        "weapon; school staff respond.",
        "weapon_possessed": "A knife or other weapon: the school resource officer is sent.",
        "firearm": "A gun: the school resource officer is sent at once.",
        "unknown": "You do not know what kind: a weapon report is treated as a weapon, and the "
        "school resource officer is sent.",
    },
    "injury": {
        "none": "No one was hurt.",
        "first_aid": "First aid only: school staff respond.",
        "medical_attention": "Call the nurse now; an administrator follows up.",
        "serious": "Serious injury: a clinician and the school resource officer respond together.",
        "unknown": "You do not know yet: the responder asks. This answer alone never sends "
        "the school resource officer.",
    },
    "threat": {
        "none": "No threat was made.",
        "to_self": "A threat to hurt themself: a counselor responds.",
        "to_others": "A threat to hurt someone: an administrator assesses it with a counselor.",
        "to_kill_or_seriously_injure": "A threat to kill or seriously injure: the school "
        "resource officer is sent.",
        "unknown": "You do not know yet: an administrator and a counselor assess it.",
    },
    "student_state": {
        "calm": "Calm now.",
        "calming_down": "Calming down: a counselor, psychologist or social worker already "
        "with them continues.",
        "upset": "Upset, but not out of control.",
        "dysregulated": "Out of control: for a student with an IEP, 504 plan or BIP a "
        "clinician leads.",
        "unknown": "You do not know how the student is now.",
    },
}

# The follow-up questions each category asks first (the others stay one tap away).
FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "weapon": ("weapon", "injury", "threat"),
    "intruder": ("weapon", "injury"),
    "threat": ("threat", "weapon"),
    "physical_aggression": ("injury", "weapon"),
    "sexual_misconduct": ("injury", "student_state", "with_now"),
    "self_harm": ("student_state", "with_now", "threat", "injury"),
    "emotional_crisis": ("student_state", "with_now"),
    "abuse_disclosure": ("student_state", "with_now"),
    "medical": ("injury", "student_state", "with_now"),
    "bullying_harassment": ("threat", "injury"),
    "disruption": ("student_state", "with_now"),
    "other": ("weapon", "injury", "threat", "student_state", "with_now"),
}
QUESTIONS = ("weapon", "injury", "threat", "student_state", "with_now")
LEGENDS = {
    "danger_now": "Is anyone in danger right now?",
    "weapon": "Was there a weapon? What kind?",
    "injury": "Was anyone hurt?",
    "threat": "Did anyone threaten to hurt someone? Whom?",
    "student_state": "How is the student now?",
}


@dataclass
class Option:
    id: str
    value: str
    label: str
    hint: str
    checked: bool


@dataclass
class Question:
    name: str
    legend: str
    field: forms.BoundField
    options: list[Option]
    categories: str  # space-separated categories that ask it first

    @property
    def required(self) -> bool:
        return self.field.field.required


class IncidentForm(forms.Form):
    narrative = forms.CharField(
        label="What happened, in your own words",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": intake.NARRATIVE_MISSING},
    )
    category = forms.ChoiceField(
        label="What kind of incident is it?",
        choices=[("", "Choose one")] + Category.choices,
        error_messages={
            "required": "Choose what kind of incident this is.",
            "invalid_choice": "Choose what kind of incident this is from the list.",
        },
    )
    school = forms.ChoiceField(
        label="School",
        error_messages={
            "required": "Choose the school where it happened.",
            "invalid_choice": "You can only report for a school where you work. "
            "Choose one of your schools.",
        },
    )
    danger_now = _radio(
        DangerNow,
        required_message="Say whether anyone is in danger right now. If you do not know, "
        'choose "Not sure".',
    )
    occurred_at = forms.DateTimeField(
        label="When did it happen?",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Give the date and time it happened, e.g. 03/14/2025 10:30 AM."},
    )
    location = forms.ChoiceField(
        label="Where did it happen?",
        choices=Location.choices,
        initial=Location.OTHER,
        required=False,
        error_messages={"invalid_choice": "Choose a place from the list."},
    )
    weapon = _radio(Weapon)
    injury = _radio(Injury)
    threat = _radio(Threat)
    threat_words = forms.CharField(
        label="What words were said, and to whom?",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    student_state = _radio(StudentState)
    with_now = forms.ChoiceField(
        label="Who is with the student now?",
        choices=[("", "Choose, if you know")] + _answers(WithNow),
        required=False,
        help_text="A counselor, psychologist or social worker with a student who is calming "
        "down continues; nobody else is sent instead.",
        error_messages={"invalid_choice": "Choose someone from the list."},
    )
    idempotency_key = forms.CharField(required=False, widget=forms.HiddenInput)
    # The questions the narrative's cue words already asked again (space-separated).
    asked_again = forms.CharField(required=False, widget=forms.HiddenInput)

    # Fields that sit in the "more details" part of the page (opened when one has an error).
    DETAIL_FIELDS = ("occurred_at", "location")

    def __init__(self, *args, request, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.request = request
        self.user: User = request.user
        schools = list(schools_for(self.user))
        if len(schools) == 1:
            self.fields["school"].choices = [(schools[0].code, schools[0].name)]
            self.fields["school"].initial = schools[0].code
        else:
            # Never pre-selected for someone with several schools: a report filed under the
            # wrong school reaches the wrong responders. The last one used is listed first.
            last = last_school_used(self.user)
            schools.sort(key=lambda school: school.pk != last)
            self.fields["school"].choices = [("", "Choose a school")] + [
                (s.code, f"{s.name} (last used)" if s.pk == last else s.name) for s in schools
            ]
        self.asked_again_now: set[str] = set()
        self.fields["occurred_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        self.fields["idempotency_key"].initial = uuid.uuid4().hex
        self.student_rows = self._student_rows() if self.is_bound else []
        self.validated: dict | None = None

    def _student_rows(self) -> list[StudentRow]:
        rows: dict[int, StudentRow] = {}
        for key in self.data:
            match = STUDENT_KEY.match(key)
            if match is None:
                continue
            index = int(match.group(1))
            if index not in rows and len(rows) >= MAX_STUDENT_ROWS:
                continue
            row = rows.setdefault(index, StudentRow(index=index))
            setattr(row, match.group(2), self.data.get(key, "").strip()[:200])
        ordered = [rows[i] for i in sorted(rows)]
        # Show roster names only for schools where this person works.
        ids = [r.student_id for r in ordered if r.student_id]
        names = {
            s.student_id: s.full_name
            for s in Student.objects.filter(
                student_id__in=ids, school_id__in=school_ids_for(self.user)
            )
        }
        for row in ordered:
            row.label = names.get(row.student_id, "") if row.student_id else row.name
            if not row.label:
                row.label = f"Student ID {row.student_id}" if row.student_id else "Unnamed"
        return ordered

    @property
    def details_open(self) -> bool:
        """Open "more details" when it holds an error or an answer other than the default."""
        if any(name in self.errors for name in self.DETAIL_FIELDS):
            return True
        if not self.is_bound:
            return False
        return self.data.get("location", Location.OTHER) != Location.OTHER

    def _answer(self, name: str) -> str:
        return str(self.data.get(name, "")) if self.is_bound else ""

    def question(self, name: str) -> Question:
        bound = self[name]
        current = self._answer(name)
        options = [
            Option(
                id=f"{bound.auto_id}_{i}",
                value=value,
                label=label,
                hint=LEADS_TO[name][value],
                checked=value == current,
            )
            for i, (value, label) in enumerate(self.fields[name].choices)
        ]
        categories = " ".join(c for c, asked in FOLLOW_UPS.items() if name in asked)
        return Question(name, LEGENDS[name], bound, options, categories)

    @property
    def danger_question(self) -> Question:
        return self.question("danger_now")

    @property
    def follow_up_questions(self) -> list[Question]:
        return [self.question(name) for name in QUESTIONS if name != "with_now"]

    @property
    def with_now_categories(self) -> str:
        return " ".join(c for c, asked in FOLLOW_UPS.items() if "with_now" in asked)

    @property
    def asked_again_value(self) -> str:
        before = set(self._answer("asked_again").split())
        return " ".join(sorted(before | self.asked_again_now))

    # Browsers send a textarea's line breaks as CRLF; store what the person typed.
    def clean_narrative(self) -> str:
        narrative = self.cleaned_data["narrative"].replace("\r\n", "\n")
        if len(narrative) > NARRATIVE_MAX_LENGTH:
            raise forms.ValidationError(intake.NARRATIVE_TOO_LONG)
        return _checked(intake.intake_narrative_check, narrative)

    def clean_threat_words(self) -> str:
        words = self.cleaned_data["threat_words"].replace("\r\n", "\n")
        if len(words) > THREAT_WORDS_MAX_LENGTH:
            raise forms.ValidationError("Keep the words said under 2,000 characters.")
        return words

    def clean_occurred_at(self):
        occurred_at = self.cleaned_data.get("occurred_at")
        return _checked(intake.intake_occurred_at_check, occurred_at) if occurred_at else None

    def _ask_again_for_cues(self, cleaned: dict) -> bool:
        """The narrative mentions a gun (etc.) and the matching question says "no" or was not
        answered: ask it once more. Asked once, whatever is answered next is sent."""
        asked_before = set(str(cleaned.get("asked_again", "")).split())
        answers = {name: cleaned.get(name, "") for name in ("weapon", "threat")}
        asks = questions_to_ask_again(cleaned.get("narrative", ""), answers)
        for question, word in asks.items():
            if question in asked_before or question in self.errors:
                continue
            self.asked_again_now.add(question)
            self.add_error(question, f"You wrote \u201c{word}\u201d. {ASK_AGAIN[question]}")
        return bool(self.asked_again_now)

    def clean(self):
        cleaned = super().clean()
        # Asking again is not an error in what was typed: the rest is still checked, so the
        # page says everything at once.
        self._ask_again_for_cues(cleaned)
        if len(cleaned.get("idempotency_key", "")) > IDEMPOTENCY_KEY_MAX_LENGTH:
            self.add_error(None, "The page expired; reload it and send again.")
        try:
            intake.intake_students_count_check(self.student_rows)
        except intake.IntakeInvalid as exc:
            for message in exc.messages:
                self.add_error(None, message)
        for row in self.student_rows:
            row.errors.extend(row.shape_errors())
        school = self._school(cleaned)
        shape_errors = set(self.errors) - self.asked_again_now
        if school is None or shape_errors or any(row.errors for row in self.student_rows):
            return cleaned  # permission and the roster only for an otherwise valid report
        try:
            students = intake.intake_students_resolve(
                reporter=self.user,
                school=school,
                entries=[row.as_entry() for row in self.student_rows],
            )
        except PermissionDenied:
            self.add_error("school", self.fields["school"].error_messages["invalid_choice"])
            return cleaned
        except intake.IntakeInvalid as exc:
            for row, row_errors in zip(self.student_rows, exc.errors["students"], strict=False):
                for part in STUDENT_PARTS:
                    row.errors.extend(row_errors.get(part, []))
            return cleaned
        self.validated = self._filing(cleaned, school, students)
        return cleaned

    def _school(self, cleaned: dict):
        if not cleaned.get("school"):
            return None
        try:
            return intake.intake_school_find(reporter=self.user, code=cleaned["school"])
        except intake.IntakeInvalid as exc:
            for message in exc.messages:
                self.add_error("school", message)
            return None

    @staticmethod
    def _filing(cleaned: dict, school, students: list) -> dict:
        """The arguments of ``incident_file``: an unanswered safety question is `unknown`."""
        filing = {
            "school": school,
            "category": cleaned["category"],
            "narrative": cleaned["narrative"],
            "location": cleaned.get("location") or Location.OTHER,
            "threat_words": cleaned.get("threat_words", ""),
            "students": students,
            "idempotency_key": cleaned.get("idempotency_key", ""),
        }
        for name in SAFETY_ANSWERS:
            filing[name] = cleaned.get(name) or NOT_SURE
        if cleaned.get("occurred_at"):
            filing["occurred_at"] = cleaned["occurred_at"]
        return filing

    def is_valid(self) -> bool:
        # A student's error sits on its row, not on a form field.
        return super().is_valid() and not any(row.errors for row in self.student_rows)

    @property
    def summary(self) -> list[tuple[str, str]]:
        """(anchor id, message) for the error summary at the top of the page."""
        items: list[tuple[str, str]] = []
        for name in self.fields:
            if name in self.errors:
                anchor = self[name].id_for_label or f"id_{name}"
                if isinstance(self.fields[name].widget, forms.RadioSelect):
                    anchor = f"id_{name}_0"
                items.extend((anchor, message) for message in self.errors[name])
        items.extend(("incident-form", message) for message in self.non_field_errors())
        for row in self.student_rows:
            items.extend((f"{row.dom_id}-role", f"{row.label}: {m}") for m in row.errors)
        return items
