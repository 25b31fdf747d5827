"""The rule editor's pages, for district admins: versions, drafts, diff, publish, rollback.

Every page starts with ``selectors.district_for_admin`` (PermissionDenied -> 403 for anyone
else); a version of another district is simply not found (404). The preview page lives in
``incidents.rule_preview_views``: it reads incidents and the roster, which policies never does.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .diff import describe_condition, route_words, ruleset_diff
from .editor import (
    DEFAULT_ROUTE_OPTIONS,
    ROUTE_OPTIONS,
    blank_group,
    blank_leaf,
    blank_rule,
    editor_data,
    editor_page,
)
from .forms import CompareForm, NewDraftForm, SpecForm
from .models import PublishEvent, RuleSet, RuleSetStatus


def _get(request: HttpRequest, version: int) -> RuleSet:
    return selectors.ruleset_get(user=request.user, version=version)


def _problem_count(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


@never_cache
@login_required
def ruleset_list(request: HttpRequest) -> HttpResponse:
    rulesets = list(selectors.rulesets_for(request.user))
    by_status: dict[str, list[RuleSet]] = {status: [] for status in RuleSetStatus.values}
    for ruleset in rulesets:
        ruleset.kept_replay = selectors.ruleset_kept_replay(ruleset)
        by_status[ruleset.status].append(ruleset)
    events = (
        PublishEvent.objects.filter(ruleset__in=[r.pk for r in rulesets])
        .select_related("ruleset", "published_by")
        .order_by("-published_at", "-id")[:50]
    )
    versions = [r.version for r in rulesets]
    published = by_status[RuleSetStatus.PUBLISHED][0] if by_status["published"] else None
    compare = CompareForm(
        versions=versions,
        initial={
            "old": published.version if published else (versions[-1] if versions else None),
            "new": versions[0] if versions else None,
        },
    )
    return render(
        request,
        "policies/rulesets.html",
        {
            "published": published,
            "drafts": by_status[RuleSetStatus.DRAFT],
            "archived": by_status[RuleSetStatus.ARCHIVED],
            "events": events,
            "new_draft_form": NewDraftForm(rulesets=rulesets),
            "compare_form": compare,
        },
    )


@login_required
@require_POST
def ruleset_new(request: HttpRequest) -> HttpResponse:
    rulesets = list(selectors.rulesets_for(request.user))
    form = NewDraftForm(request.POST, rulesets=rulesets)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("based_on", ["Choose a version."])))
        return redirect("policies:rulesets")
    draft = services.ruleset_create_draft(user=request.user, based_on=form.cleaned_data["based_on"])
    messages.success(
        request, f"Draft version {draft.version} created from version {draft.based_on}."
    )
    return redirect("policies:edit", version=draft.version)


def _rule_summaries(ruleset: RuleSet) -> list[dict]:
    rules = ruleset.rules if isinstance(ruleset.rules, list) else []
    return [
        {
            "number": i + 1,
            "name": rule.get("name", ""),
            "route": route_words(rule.get("route")),
            "also_notify": [route_words(r) for r in rule.get("also_notify") or []],
            "enabled": rule.get("enabled", True) is not False,
            "when": describe_condition(rule.get("when")),
            "rationale": rule.get("rationale", ""),
        }
        for i, rule in enumerate(rules)
        if isinstance(rule, dict)
    ]


@never_cache
@login_required
def ruleset_detail(request: HttpRequest, version: int) -> HttpResponse:
    ruleset = _get(request, version)
    page = editor_page(ruleset.spec())
    return render(
        request,
        "policies/detail.html",
        {
            "ruleset": ruleset,
            "kept_replay": selectors.ruleset_kept_replay(ruleset),
            "rules": _rule_summaries(ruleset),
            "page": page,
            "default_route": route_words(ruleset.default_route),
            "events": ruleset.publications.select_related("published_by"),
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def ruleset_edit(request: HttpRequest, version: int) -> HttpResponse:
    ruleset = _get(request, version)
    if ruleset.status != RuleSetStatus.DRAFT:
        messages.info(
            request,
            f"Version {version} is {ruleset.status} and cannot be changed; start a new draft "
            "from it to make changes.",
        )
        return redirect("policies:detail", version=version)
    spec, form = ruleset.spec(), SpecForm()
    if request.method == "POST":
        form = SpecForm(request.POST)
        if form.is_valid():
            try:
                ruleset, result = services.ruleset_save_draft(
                    user=request.user, version=version, spec=form.cleaned_data["spec"]
                )
            except services.RulesetInvalid as exc:
                form.add_error(None, "; ".join(p.message for p in exc.errors))
            except services.RulesetConflict as exc:
                messages.error(request, str(exc))
                return redirect("policies:detail", version=version)
            else:
                if result.errors:
                    messages.warning(
                        request,
                        f"Draft saved with {_problem_count(len(result.errors), 'problem')} "
                        "to fix before it can be published.",
                    )
                else:
                    messages.success(request, "Draft saved. It has no errors.")
                return redirect("policies:edit", version=version)
    return render(
        request,
        "policies/edit.html",
        {
            "ruleset": ruleset,
            "kept_replay": selectors.ruleset_kept_replay(ruleset),
            "page": editor_page(spec),
            "form": form,
            "routes": ROUTE_OPTIONS,
            "default_routes": DEFAULT_ROUTE_OPTIONS,
            "editor_data": editor_data(),
            "blank_rule": blank_rule(),
            "blank_group": blank_group(),
            "blank_leaf": blank_leaf(),
        },
    )


@never_cache
@login_required
def ruleset_compare(request: HttpRequest) -> HttpResponse:
    rulesets = {r.version: r for r in selectors.rulesets_for(request.user)}
    form = CompareForm(request.GET or None, versions=list(rulesets))
    changes, old, new = None, None, None
    if form.is_valid():
        old, new = rulesets[form.cleaned_data["old"]], rulesets[form.cleaned_data["new"]]
        changes = ruleset_diff(old.spec(), new.spec())
    return render(
        request,
        "policies/compare.html",
        {"form": form, "changes": changes, "old": old, "new": new},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def ruleset_publish(request: HttpRequest, version: int) -> HttpResponse:
    ruleset = _get(request, version)
    current = selectors.ruleset_published(ruleset.district_id)
    if ruleset.status == RuleSetStatus.PUBLISHED:
        messages.info(request, f"Version {version} is already the active version.")
        return redirect("policies:rulesets")
    rollback = ruleset.status == RuleSetStatus.ARCHIVED
    page = editor_page(ruleset.spec())
    if request.method == "POST" and page.result.ok:
        try:
            services.ruleset_publish(user=request.user, version=version)
        except services.RulesetInvalid:
            pass  # the page below lists the errors
        except services.RulesetConflict as exc:
            messages.error(request, str(exc))
            return redirect("policies:rulesets")
        else:
            replaced = f", replacing version {current.version}" if current else ""
            verb = "Rolled back to" if rollback else "Published"
            messages.success(
                request, f"{verb} version {version}{replaced}. It routes new incidents now."
            )
            return redirect("policies:rulesets")
    status = 409 if request.method == "POST" else 200
    return render(
        request,
        "policies/publish.html",
        {
            "ruleset": ruleset,
            "current": current,
            "rollback": rollback,
            "page": page,
            "changes": ruleset_diff(current.spec(), ruleset.spec()) if current else None,
        },
        status=status,
    )
