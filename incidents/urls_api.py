from django.urls import path
from rest_framework.routers import SimpleRouter

from .intake_apis import IncidentViewSet, RuleSetPreviewApi
from .queue_apis import queue_api_urlpatterns

router = SimpleRouter()
router.register("incidents", IncidentViewSet, basename="incident")
urlpatterns = [
    *router.urls,
    *queue_api_urlpatterns,
    path("rulesets/<int:version>/preview/", RuleSetPreviewApi.as_view(), name="ruleset-preview"),
]
