"""HTML pages, the progress endpoint and the CSV export of the reports app."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from incidents.facts import school_year_start
from policies.registry import LAW_ENFORCEMENT_ROUTES, ROUTES
from policies.selectors import district_for_admin
from schools.selectors import is_district_admin

from . import (
    counts,
    crdc,
    deflection,
    exports,
    replay,
    replay_selectors,
    scope,
    services,
    suppression,
)
from .figures import equity_figures
from .forms import CrdcFileForm, EquityFilterForm, PeriodForm
from .models import ReplayRun, ReplayStatus

ROUTE_ORDER = ROUTES[::-1]  # the SRO first, the counselor last


# --- what-if replay ---------------------------------------------------------------------------


@never_cache
@login_required
def replay_page(request: HttpRequest, version: int) -> HttpResponse:
    ruleset = replay_selectors.replay_ruleset_for(request.user, version)
    district = ruleset.district
    today = scope.district_today(district)
    if request.method == "POST":
        form = PeriodForm(request.POST)
        if form.is_valid():
            try:
                replay.replay_start(
                    user=request.user,
                    version=version,
                    start=form.cleaned_data["start"],
                    end=form.cleaned_data["end"],
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for name, errors in exc.error_dict.items():
                        for error in errors:
                            form.add_error(name, error)
                else:
                    form.add_error(None, exc)
            else:
                messages.success(request, f"Replay of version {version} started.")
                return redirect("reports:replay", version=version)
    else:
        form = PeriodForm(initial={"start": school_year_start(today), "end": today})
    runs = list(replay_selectors.replay_runs_for(ruleset)[:10])
    latest = runs[0] if runs else None
    shown = next((r for r in runs if r.status == ReplayStatus.DONE), None)
    context = {
        "ruleset": ruleset,
        "form": form,
        "latest": latest,
        "runs": runs,
        "shown_run": shown,
        "result": replay_result_context(shown.result) if shown else None,
        "out_of_date": shown is not None
        and not replay_selectors.replay_result_current(shown, ruleset),
    }
    return render(request, "reports/replay.html", context)


def replay_result_context(result: dict | None) -> dict | None:
    """The stored result, arranged for the tables (labels, and a row per from-route)."""
    if not result:
        return None
    labels = dict(counts.ROUTE_LABELS)
    routes = list(ROUTE_ORDER)
    matrix = {row["from"]: row["to"] for row in result["matrix"]}
    groups = result["by_disability"]
    split_rows = []
    for key, label in (
        ("with", "Students with disabilities (IDEA or 504)"),
        ("without", "Students without disabilities"),
        ("idea", "IDEA (IEP)"),
        ("504", "Section 504 only"),
    ):
        figures = groups[key]
        split_rows.append(
            {
                "label": label,
                "incidents": figures["incidents"],
                **{route: figures[route] for route in LAW_ENFORCEMENT_ROUTES},
                "referral": figures["referral"],
            }
        )
    return {
        **result,
        "routes": [(r, labels[r]) for r in routes],
        "matrix_rows": [
            {"from": r, "label": labels[r], "cells": [matrix.get(r, {}).get(c, 0) for c in routes]}
            for r in routes
        ],
        "transition_rows": [
            {**t, "from_label": labels[t["from"]], "to_label": labels[t["to"]]}
            for t in result["transitions"]
        ],
        "split_rows": split_rows,
        "percent_changed": round(100 * result["changed"] / result["total"], 1)
        if result["total"]
        else 0,
    }


def _progress(run: ReplayRun) -> dict:
    data = {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "processed": run.processed,
        "total": run.total,
        "percent": run.percent,
        "cancel_requested": run.cancel_requested,
        "error": run.error,
    }
    return data


@never_cache
@login_required
@require_GET
def replay_progress(request: HttpRequest, run_id: int) -> JsonResponse:
    run = replay_selectors.replay_run_for(request.user, run_id)
    data = _progress(run)
    if run.status == ReplayStatus.DONE:
        data["result_html"] = render_to_string(
            "reports/_replay_result.html",
            {
                "result": replay_result_context(run.result),
                "shown_run": run,
                "out_of_date": not replay_selectors.replay_result_current(run, run.ruleset),
            },
            request=request,
        )
    return JsonResponse(data)


@login_required
@require_POST
def replay_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = replay.replay_cancel(user=request.user, run_id=run_id)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(_progress(run))
    messages.success(request, "Replay cancelled." if not run.active else "Cancelling the replay.")
    return redirect("reports:replay", version=run.ruleset.version)


# --- equity dashboard -------------------------------------------------------------------------


def _equity_filter(request: HttpRequest) -> tuple[EquityFilterForm, scope.EquityFilter]:
    schools = list(scope.equity_schools_for(request.user))
    district = schools[0].district
    form = EquityFilterForm(
        request.GET or None, schools=schools, today=scope.district_today(district)
    )
    start, end = form.period()
    flt = scope.EquityFilter(district=district, schools=form.chosen_schools(), start=start, end=end)
    return form, flt


BAR_PX = 300  # the longest bar, in SVG units (the chart is 640 wide, labels take 250)


def _bars(items: list[dict]) -> dict:
    """Horizontal bars for an inline SVG: each item gets its y and its length in px."""
    top = max((item["value"] for item in items if item["value"] is not None), default=0) or 1
    rows = [
        {
            **item,
            "y": 8 + i * 28,
            "px": 0 if item["value"] is None else round(BAR_PX * item["value"] / top),
        }
        for i, item in enumerate(items)
    ]
    return {"rows": rows, "height": 16 + 28 * len(items), "top": top, "one_px": None}


def _risk_bars(rows) -> dict:
    """Risk ratios (suppressed ones get no bar), with a dashed line at 1.0 (parity)."""
    chart = _bars(
        [
            {
                "label": row.label,
                "value": None if row.ratio_suppressed else row.risk_ratio,
                "text": row.display["risk_ratio"],
            }
            for row in rows
        ]
    )
    if chart["top"] >= 1:
        chart["one_px"] = round(BAR_PX / chart["top"])
    return chart


# Chart colours are CSS classes (static/css/reports.css): route-<route>, and route-hidden for
# the hidden counts of a month (one grey segment, after the shown ones).


def _month_chart(months: list[dict]) -> dict:
    """One stacked bar per month, a segment per shown route, then one grey segment for the
    hidden routes together: its length (the month's total minus the shown routes) tells no
    more than the table, and no bar gives a hidden count away."""
    top = max((m["total"] for m in months), default=0) or 1
    rows = []
    for i, month in enumerate(months):
        x = 250
        segments = []
        for route in ROUTE_ORDER:
            hidden = route in month["hidden"]
            width = 0 if hidden else round(BAR_PX * month["counts"][route] / top)
            segments.append(
                {
                    "route": route,
                    "x": x,
                    "px": width,
                    "text": month["cells"][route],
                }
            )
            x += width
        hidden_n = sum(month["counts"][route] for route in month["hidden"])
        hidden = {"x": x, "px": round(BAR_PX * hidden_n / top)}
        rows.append(
            {
                **month,
                "y": 8 + i * 28,
                "segments": segments,
                "hidden_bar": hidden,
                "end": x + hidden["px"],
            }
        )
    return {"rows": rows, "height": 16 + 28 * len(months)}


@never_cache
@login_required
@require_GET
def equity_page(request: HttpRequest) -> HttpResponse:
    form, flt = _equity_filter(request)
    figures = equity_figures(flt)
    labels = dict(counts.ROUTE_LABELS)
    context = {
        "form": form,
        "figures": figures,
        "flt": flt,
        "routes": [(r, labels[r]) for r in ROUTE_ORDER],
        "district_admin": is_district_admin(request.user, flt.district),
        "crdc_year": scope.school_year_of(flt.start)[0].year,
        "query": request.GET.urlencode(),
        "suppress_at_most": suppression.SUPPRESS_AT_MOST,
        "suppressed": suppression.SUPPRESSED,
        "charts": {
            "disability": _risk_bars(figures.by_disability),
            "race_sex": _risk_bars(figures.by_race_sex),
            "el_sex": _risk_bars(figures.by_english_learner_sex),
            "months": _month_chart(figures.routes_by_month),
            "overrides": _bars(
                [
                    {"label": o["short"], "value": o["n"], "text": str(o["n"])}
                    for o in figures.overrides
                ]
            ),
            "ack": _bars(
                [
                    {
                        "label": a["label"],
                        "value": a["seconds"],
                        "text": _duration(a["seconds"]),
                    }
                    for a in figures.ack_medians
                ]
            ),
        },
    }
    for median in figures.ack_medians:
        median["text"] = _duration(median["seconds"])
    return render(request, "reports/equity.html", context)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@login_required
@require_GET
def equity_csv(request: HttpRequest) -> HttpResponse:
    _form, flt = _equity_filter(request)
    figures = equity_figures(flt, operations=False)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="referrals-{flt.start.isoformat()}-{flt.end.isoformat()}.csv"'
    )
    writer = csv.writer(response)
    writer.writerows(exports.equity_csv_rows(figures))
    return response


@never_cache
@login_required
@require_GET
def crdc_csv(request: HttpRequest) -> HttpResponse:
    """The CRDC referrals-and-arrests file of the district admin's district (403 for others).

    Suppressed by default; ``suppress=0`` is the exact submission file, and is logged.
    """
    district = district_for_admin(request.user)
    form = CrdcFileForm(request.GET, today=scope.district_today(district))
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
        return HttpResponseBadRequest(problems, content_type="text/plain; charset=utf-8")
    year, suppressed = form.cleaned_data["year"], form.cleaned_data["suppress"]
    figures = crdc.crdc_file(district=district, year=year, suppressed=suppressed)
    if not suppressed:
        services.crdc_exact_export_record(user=request.user, district=district, year=year)
    kind = "suppressed" if suppressed else "exact"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="crdc-referrals-arrests-{scope.school_year_label(year)}-{kind}.csv"'
    )
    writer = csv.writer(response)
    writer.writerows([exports.csv_cell(v) for v in row] for row in figures.table())
    return response


def _rate_bars(rows, *, css: str) -> dict:
    """Police contacts per 1,000 students; a hidden rate gets no bar."""
    return _bars(
        [
            {
                "label": row.label,
                "value": None if row.rate_hidden else row.rate,
                "text": row.display["rate"],
                "css": css,
            }
            for row in rows
        ]
    )


def _share_bars(rows, name: str, *, css: str) -> dict:
    return _bars(
        [
            {
                "label": row.label,
                "value": row.share(name),
                "text": row.display[f"{name}_share"],
                "css": css,
            }
            for row in rows
        ]
    )


def _count_bars(rows, name: str, *, css: str) -> dict:
    return _bars(
        [
            {
                "label": row.label,
                "value": None if name in row.hidden else getattr(row, name),
                "text": row.display[name],
                "css": css,
            }
            for row in rows
        ]
    )


@never_cache
@login_required
@require_GET
def deflection_page(request: HttpRequest) -> HttpResponse:
    """Police contact over time and where incidents went instead (same filter and scope as
    the equity dashboard)."""
    form, flt = _equity_filter(request)
    figures = deflection.deflection_figures(flt)
    context = {
        "form": form,
        "flt": flt,
        "figures": figures,
        "endings": deflection.ENDINGS,
        "under_age": deflection.UNDER_AGE,
        "query": request.GET.urlencode(),
        "suppress_at_most": suppression.SUPPRESS_AT_MOST,
        "suppressed": suppression.SUPPRESSED,
        "charts": {
            "months": _rate_bars(figures.by_month, css="route-sro"),
            "schools": _rate_bars(figures.by_school, css="route-sro"),
            "arrest_share": _share_bars(figures.endings, "arrest_citation", css="police"),
            "support_share": _share_bars(figures.endings, "support", css="support"),
            "toward": _count_bars(figures.overrides, "toward", css="police"),
            "away": _count_bars(figures.overrides, "away", css="support"),
        },
    }
    return render(request, "reports/deflection.html", context)
