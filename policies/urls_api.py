from django.urls import path

from . import apis

urlpatterns = [
    path("rulesets/", apis.RuleSetListApi.as_view(), name="rulesets"),
    path("rulesets/active/", apis.RuleSetActiveApi.as_view(), name="ruleset-active"),
    path("rulesets/fields/", apis.FieldRegistryApi.as_view(), name="ruleset-fields"),
    path("rulesets/<int:version>/", apis.RuleSetDetailApi.as_view(), name="ruleset-detail"),
    path(
        "rulesets/<int:version>/validate/",
        apis.RuleSetValidateApi.as_view(),
        name="ruleset-validate",
    ),
    path(
        "rulesets/<int:version>/publish/", apis.RuleSetPublishApi.as_view(), name="ruleset-publish"
    ),
]
