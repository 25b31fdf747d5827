"""Forms of the reports pages: a replay's period, and the equity dashboard's filter."""

from datetime import date

from django import forms

from . import scope

FIRST_SCHOOL_YEAR = 2015
EARLIEST_REPORT_DATE = date(2000, 1, 1)
LATEST_REPORT_DATE = date(2100, 12, 31)


class ReportDateField(forms.DateField):
    """A date of a report period, from 2000 to 2100 (the CRDC file's years too). Anything
    else is a typing mistake, and dates near year 9999 overflow the period arithmetic (a 500
    before)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.DateInput(attrs={"type": "date"}))
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        if value is not None and not EARLIEST_REPORT_DATE <= value <= LATEST_REPORT_DATE:
            raise forms.ValidationError(
                "Pick a date between 1 January 2000 and 31 December 2100.", code="out_of_range"
            )


class PeriodForm(forms.Form):
    start = ReportDateField(label="From", help_text="Inclusive.")
    end = ReportDateField(label="To", help_text="Inclusive.")

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end date is before the start date: pick a later end.")
        return data


school_year_label = scope.school_year_label


class EquityFilterForm(forms.Form):
    year = forms.TypedChoiceField(label="School year", coerce=int, required=False)
    start = ReportDateField(
        label="From", required=False, help_text="Optional: a date range instead of the school year."
    )
    end = ReportDateField(label="To", required=False)
    school = forms.TypedChoiceField(label="School", coerce=int, required=False, empty_value=None)

    def __init__(self, *args, schools, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.schools = list(schools)
        current = scope.school_year_of(today)[0].year
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
        return scope.school_year_of(date(year, 8, 1))

    def chosen_schools(self) -> tuple:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        school_id = data.get("school")
        if school_id:
            return tuple(s for s in self.schools if s.pk == school_id)
        return tuple(self.schools)


class CrdcFileForm(forms.Form):
    """The CRDC file's query: ``year`` (the school year starting in August of it) and
    ``suppress`` (1, the default: small counts hidden; 0: the exact submission file)."""

    year = forms.IntegerField(
        required=False, min_value=FIRST_SCHOOL_YEAR, max_value=LATEST_REPORT_DATE.year
    )
    suppress = forms.TypedChoiceField(
        required=False, choices=[("1", "yes"), ("0", "no")], coerce=lambda v: v != "0"
    )

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_year = scope.school_year_of(today)[0].year

    def clean_year(self) -> int:
        year = self.cleaned_data.get("year")
        if year is not None and year > self.current_year:
            raise forms.ValidationError(
                f"The {year}-{str(year + 1)[-2:]} school year has not started: "
                f"use {self.current_year} or earlier."
            )
        return self.current_year if year is None else year

    def clean_suppress(self) -> bool:
        value = self.cleaned_data.get("suppress")
        return True if value in (None, "") else value
