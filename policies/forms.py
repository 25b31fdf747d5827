"""The rule editor's forms.

The editor page posts the whole draft as one JSON field (``spec``), built by
``static/js/rule_editor.js`` from the form. Only its syntax is checked here: the engine is
the only judge of a spec, and ``policies.editor`` turns one into the page the editor shows.
"""

from __future__ import annotations

from typing import Any

from django import forms

from triage.api.parsers import loads_bounded

MAX_SPEC_CHARS = 500_000


class SpecForm(forms.Form):
    """The draft as JSON. Only its syntax is checked here; the engine checks the rest."""

    spec = forms.CharField(
        widget=forms.HiddenInput,
        max_length=MAX_SPEC_CHARS,
        error_messages={
            "required": "The draft was not sent. Saving needs JavaScript: turn it on and "
            "save again.",
            "max_length": "This draft is too large to save; remove some rules.",
        },
    )

    def clean_spec(self) -> Any:
        try:
            # Bounded: a draft nested thousands deep or holding a NUL is refused, not a 500.
            return loads_bounded(self.cleaned_data["spec"])
        except ValueError as exc:
            raise forms.ValidationError(
                "The draft could not be read (it was not valid JSON); reload the page and try "
                "again."
            ) from exc


class NewDraftForm(forms.Form):
    based_on = forms.TypedChoiceField(
        label="Start from",
        coerce=int,
        error_messages={"invalid_choice": "Choose one of the versions listed."},
    )

    def __init__(self, *args, rulesets, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        choices = []
        for ruleset in rulesets:
            choices.append((ruleset.version, f"Version {ruleset.version} ({ruleset.status})"))
            if ruleset.status == "published":
                self.fields["based_on"].initial = ruleset.version
        self.fields["based_on"].choices = choices


class CompareForm(forms.Form):
    old = forms.TypedChoiceField(label="Compare version", coerce=int)
    new = forms.TypedChoiceField(label="with version", coerce=int)

    def __init__(self, *args, versions: list[int], **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        choices = [(v, f"Version {v}") for v in versions]
        for name in ("old", "new"):
            self.fields[name].choices = choices
