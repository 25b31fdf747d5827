"""The rule editor's preview page: what the published version and another version decide.

It lives in incidents, not policies, because it reads incidents and the roster; policies only
ever receives plain facts; what a version decides comes from ``policies.preview``, as for the
preview API. Nothing is saved: the sample incident is validated exactly as filing one would be
(the intake form and the intake service's rules) and then discarded.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from policies import selectors as policy_selectors
from policies.diff import value_words
from policies.preview import (
    RulePreview,
    decision_in_words,
    ruleset_preview_against_published,
)
from policies.registry import FACTS

from . import selectors
from .facts import facts_from_intake, incident_facts
from .intake_forms import IncidentForm
from .models import InvolvementRole

RECENT_INCIDENTS = 20
SAMPLE_STUDENT_ROWS = 3


class SampleIncidentForm(IncidentForm):
    """The intake form, for an incident that is never filed: no narrative needed, and the
    students are typed into a few fixed rows (a roster ID, or a name and age)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["narrative"].required = False
        # A sample may leave danger unanswered, to preview what `unknown` does.
        self.fields["danger_now"].required = False

    def _ask_again_for_cues(self, cleaned: dict) -> bool:
        return False  # a sample is never filed: nothing to ask again

    def clean_narrative(self) -> str:
        return self.cleaned_data.get("narrative") or "Preview of a sample incident."

    def _student_rows(self):
        return [row for row in super()._student_rows() if row.student_id or row.name or row.age]


def _column(title: str, preview: RulePreview) -> dict:
    decision = preview.decision
    return {
        "title": title,
        "ruleset": preview.ruleset,
        "decision": decision_in_words(decision) if decision is not None else None,
        "problem": preview.problem,
    }


def _student_inputs(data, rows) -> list[dict]:
    errors = {row.index: row.errors for row in rows}
    return [
        {
            "index": i,
            "student_id": data.get(f"students-{i}-student_id", ""),
            "name": data.get(f"students-{i}-name", ""),
            "age": data.get(f"students-{i}-age", ""),
            "role": data.get(f"students-{i}-role", InvolvementRole.SUBJECT),
            "errors": errors.get(i, []),
        }
        for i in range(SAMPLE_STUDENT_ROWS)
    ]


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def rule_preview(request: HttpRequest, version: int) -> HttpResponse:
    ruleset = policy_selectors.ruleset_get(user=request.user, version=version)
    recent = list(
        selectors.incidents_visible_to(request.user).order_by("-filed_at", "-id")[:RECENT_INCIDENTS]
    )
    facts, source = None, ""
    if request.method == "POST":
        form = SampleIncidentForm(request.POST, request=request)
        if form.is_valid():
            data = form.validated
            facts = facts_from_intake(data)
            source = "the sample incident"
    else:
        form = SampleIncidentForm(request=request)
        picked = request.GET.get("incident", "")
        chosen = next((i for i in recent if str(i.pk) == picked), None) if picked else None
        if picked and chosen is None:
            raise Http404("No such recent incident.")
        if chosen is not None:
            facts = chosen.facts or incident_facts(chosen)
            source = f"incident #{chosen.pk}"
    columns, differs = [], False
    if facts is not None:
        comparison = ruleset_preview_against_published(ruleset=ruleset, facts=facts)
        published = comparison.published.ruleset
        columns = [
            _column(
                f"Published (version {published.version})" if published else "Published",
                comparison.published,
            ),
            _column(f"Version {ruleset.version} ({ruleset.status})", comparison.version),
        ]
        differs = comparison.differs
    fact_rows = [
        {"label": fact.label, "value": value_words(facts.get(name))}
        for name, fact in FACTS.items()
        if facts is not None and name in facts
    ]
    return render(
        request,
        "policies/preview.html",
        {
            "ruleset": ruleset,
            "form": form,
            "student_inputs": _student_inputs(request.POST, form.student_rows),
            "roles": InvolvementRole.choices,
            "recent": recent,
            "picked": request.GET.get("incident", ""),
            "facts": fact_rows,
            "source": source,
            "columns": columns,
            "differs": differs,
        },
    )
