from django.urls import path

from . import intake_views, live_views, rule_preview_views
from .queue_urls import queue_urlpatterns

app_name = "incidents"

urlpatterns = [
    path("incidents/new/", intake_views.incident_new, name="new"),
    path("incidents/mine/", intake_views.incidents_mine, name="mine"),
    path("incidents/students/", intake_views.student_search, name="student_search"),
    path("incidents/<int:pk>/", intake_views.incident_detail, name="detail"),
    path("incidents/<int:pk>/events/", live_views.incident_events, name="incident_events"),
    path("rules/<int:version>/preview/", rule_preview_views.rule_preview, name="rule_preview"),
]
urlpatterns += queue_urlpatterns
