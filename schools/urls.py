from django.urls import path

from . import views

app_name = "schools"

urlpatterns = [
    path("", views.people, name="people"),
    path("<int:pk>/roles/", views.person_role_grant, name="person_role_grant"),
    path(
        "<int:pk>/roles/<int:membership_pk>/remove/",
        views.person_role_remove,
        name="person_role_remove",
    ),
    path("<int:pk>/deactivate/", views.person_deactivate, name="person_deactivate"),
]
