"""Forms of the people page: shape only; the services decide who may do what."""

from django import forms

from .models import Role, School

GRANTABLE_BY_DISTRICT_ADMIN = [(v, label) for v, label in Role.choices if v != Role.DISTRICT_ADMIN]


class PeopleSearchForm(forms.Form):
    q = forms.CharField(label="Find a person", required=False, max_length=100)


class RoleGrantForm(forms.Form):
    school = forms.ModelChoiceField(
        label="School",
        queryset=School.objects.none(),
        error_messages={"invalid_choice": "Choose one of your district's schools."},
    )
    role = forms.ChoiceField(
        label="Role",
        choices=GRANTABLE_BY_DISTRICT_ADMIN,
        error_messages={"invalid_choice": "Choose one of the roles listed."},
    )

    def __init__(self, *args, schools, superuser: bool = False, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["school"].queryset = schools
        if superuser:
            self.fields["role"].choices = Role.choices
