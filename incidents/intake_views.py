"""HTML pages for reporters: report an incident, read one, list what you filed."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from schools.models import School, grade_label
from schools.selectors import has_role_at, students_search

from . import selectors, services
from .intake_forms import IncidentForm
from .models import (
    AccessAction,
    IncidentStudent,
    InvolvementRole,
    Route,
    Status,
)

MY_INCIDENTS_PER_PAGE = 25


@login_required
def incident_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = IncidentForm(request.POST, request=request)
        if form.is_valid():
            data = dict(form.validated)
            try:
                incident, _created = services.incident_file(reporter=request.user, **data)
            except services.IdempotencyKeyReused as reused:
                # A different report sent from a page that already filed one: not filed, and
                # the next Send files it with a fresh key.
                form.data = form.data.copy()
                form.data["idempotency_key"] = uuid.uuid4().hex
                form.add_error(None, str(reused))
            else:
                messages.success(request, "Incident filed")
                return redirect("incidents:detail", pk=incident.pk)
    else:
        form = IncidentForm(request=request)
    return render(request, "incidents/new.html", {"form": form, "roles": InvolvementRole.choices})


@never_cache
@login_required
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(
        selectors.incidents_visible_to(request.user).prefetch_related(
            Prefetch("students", queryset=IncidentStudent.objects.select_related("student"))
        ),
        pk=pk,
    )
    route = selectors.incident_current_route(incident)
    context = {
        "incident": incident,
        "polling": incident.status == Status.RECEIVED,
        "route": route,
        "route_display": Route(route).label if route else "",
        "next_step": selectors.incident_next_step(incident, route),
    }
    if request.GET.get("part") == "status":
        return render(request, "incidents/_status.html", context)
    services.access_record(user=request.user, incident=incident, action=AccessAction.VIEW_INCIDENT)
    context["timeline"] = selectors.incident_timeline_for(request.user, incident)
    context["outcomes"] = selectors.incident_outcomes(incident)
    return render(request, "incidents/detail.html", context)


@login_required
def incidents_mine(request: HttpRequest) -> HttpResponse:
    incidents = (
        selectors.incidents_filed_by(request.user)
        .prefetch_related(selectors.resolved_items_prefetch())
        .order_by("-filed_at", "-id")
    )
    page = Paginator(incidents, MY_INCIDENTS_PER_PAGE).get_page(request.GET.get("page"))
    for incident in page:
        incident.current_route_display = (
            Route(incident.current_route).label if incident.current_route else ""
        )
    return render(request, "incidents/mine.html", {"page": page})


@never_cache
@require_GET
def student_search(request: HttpRequest) -> JsonResponse:
    """Roster matches for the picker: of one school where the person has a role, or, with no
    ``school``, of every school where they work (picking a student then sets the school)."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Sign in first."}, status=403)
    code = request.GET.get("school", "").strip()
    school = None
    if code:
        school = School.objects.filter(code__iexact=code).first()
        if school is None or not has_role_at(request.user, school):
            return JsonResponse(
                {"detail": "You can only search the roster of a school where you work."},
                status=403,
            )
    query = request.GET.get("q", "").strip()[:100]
    if not query:
        return JsonResponse([], safe=False)
    students = students_search(user=request.user, school=school, query=query)
    return JsonResponse(
        [
            {
                "student_id": s.student_id,
                "name": s.full_name,
                "grade": grade_label(s.grade),
                "school": s.school.code,
                "school_name": s.school.name,
            }
            for s in students
        ],
        safe=False,
    )
