from django.urls import path

from . import views

app_name = "policies"

urlpatterns = [
    path("", views.ruleset_list, name="rulesets"),
    path("new/", views.ruleset_new, name="new"),
    path("compare/", views.ruleset_compare, name="compare"),
    path("<int:version>/", views.ruleset_detail, name="detail"),
    path("<int:version>/edit/", views.ruleset_edit, name="edit"),
    path("<int:version>/publish/", views.ruleset_publish, name="publish"),
]
