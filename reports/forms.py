"""Forms of the reports pages: a replay's period, and the equity dashboard's filter."""

from datetime import date

from django import forms

from . import selectors

FIRST_SCHOOL_YEAR = 2015


class PeriodForm(forms.Form):
    start = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive."
    )
    end = forms.DateField(
        label="To", widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive."
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end date is before the start date: pick a later end.")
        return data


def school_year_label(start_year: int) -> str:
    return f"{start_year}-{str(start_year + 1)[-2:]}"


class EquityFilterForm(forms.Form):
    year = forms.TypedChoiceField(label="School year", coerce=int, required=False)
    start = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: a date range instead of the school year.",
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    school = forms.TypedChoiceField(label="School", coerce=int, required=False, empty_value=None)

    def __init__(self, *args, schools, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.schools = list(schools)
        current = selectors.school_year_of(today)[0].year
        self.fields["year"].choices = [
            (y, school_year_label(y)) for y in range(current, FIRST_SCHOOL_YEAR - 1, -1)
        ]
        self.fields["year"].initial = current
        self.fields["school"].choices = [("", "All my schools")] + [
            (s.pk, f"{s.name} ({s.code})") for s in self.schools
        ]
        self.current_year = current

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if (start is None) != (end is None):
            missing = "end" if end is None else "start"
            self.add_error(
                missing, "Give both dates of the range, or neither to use the school year."
            )
        elif start and end and start > end:
            self.add_error("end", "The end date is before the start date: pick a later end.")
        return data

    def period(self) -> tuple[date, date]:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if data.get("start") and data.get("end"):
            return data["start"], data["end"]
        year = data.get("year") or self.current_year
        return selectors.school_year_of(date(year, 8, 1))

    def chosen_schools(self) -> tuple:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        school_id = data.get("school")
        if school_id:
            return tuple(s for s in self.schools if s.pk == school_id)
        return tuple(self.schools)
