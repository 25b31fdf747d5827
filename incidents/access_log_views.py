"""The access log page: who opened which student's record, for district admins."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import selectors
from .queue_views import query_without

ACCESS_LOG_PER_PAGE = 50


class AccessLogFilterForm(forms.Form):
    user = forms.CharField(label="Username", required=False, max_length=150)
    incident = forms.IntegerField(label="Incident number", required=False, min_value=1)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data


@never_cache
@login_required
@require_GET
def access_log(request: HttpRequest) -> HttpResponse:
    """Who opened which incident: district admins only, for their district."""
    form = AccessLogFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    entries = selectors.access_log_for(
        request.user,
        username=(filters.get("user") or "").strip(),
        incident_id=filters.get("incident"),
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(entries, ACCESS_LOG_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "incidents/access_log.html",
        {"form": form, "page": page, "query": query_without(request, "page")},
    )
