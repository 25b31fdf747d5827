"""Forms of the responder pages: queue filters and item actions."""

from django import forms

from .models import ItemState, Outcome, Route
from .services import HANDOFF_REASON_MAX_LENGTH, NOTE_MAX_LENGTH, SUMMARY_MAX_LENGTH

OPEN = "open"
ALL = "all"
STATE_FILTERS = [
    (OPEN, "Open (queued, claimed or acknowledged)"),
    *ItemState.choices,
    (ALL, "Every state"),
]


class QueueFilterForm(forms.Form):
    school = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    state = forms.ChoiceField(choices=STATE_FILTERS, required=False)
    route = forms.ChoiceField(choices=[("", "Every route"), *Route.choices], required=False)

    def __init__(self, *args, schools=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["school"].choices = [("", "Every school")] + [
            (school.pk, f"{school.name} ({school.code})") for school in schools
        ]

    def filters(self) -> dict:
        """Keyword arguments for selectors.queue_items_listed; bad values mean no filter."""
        data = self.cleaned_data if self.is_valid() else {}
        state = data.get("state") or OPEN
        if state == OPEN:
            states = ("queued", "claimed", "acknowledged")
        elif state == ALL:
            states = tuple(ItemState.values)
        else:
            states = (state,)
        return {
            "school_id": data.get("school"),
            "route": data.get("route") or None,
            "states": states,
        }


class NoteForm(forms.Form):
    text = forms.CharField(
        label="Private note",
        help_text="Only responders see notes; the person who reported it does not.",
        max_length=NOTE_MAX_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Write the note before saving it."},
    )

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        if not text.strip():
            raise forms.ValidationError("Write the note before saving it.")
        return text


class HandoffForm(forms.Form):
    route = forms.ChoiceField(label="Hand off to", choices=Route.choices)
    reason = forms.CharField(
        label="Why",
        help_text="Required. Recorded on the timeline with the direction of the hand-off.",
        max_length=HANDOFF_REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say why you are handing this off."},
    )

    def __init__(self, *args, current_route: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if current_route:
            self.fields["route"].choices = [
                (value, label) for value, label in Route.choices if value != current_route
            ]


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Outcome",
        choices=[("", "Choose an outcome"), *Outcome.choices],
        error_messages={"required": "Choose the outcome."},
    )

    def __init__(self, *args, outcomes: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = [
            ("", "Choose an outcome"),
            *((value, Outcome(value).label) for value in outcomes),
        ]

    summary = forms.CharField(
        label="Summary for the person who reported it",
        help_text="Optional. The reporter sees this on their incident page; "
        "keep private details in a note.",
        required=False,
        max_length=SUMMARY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
