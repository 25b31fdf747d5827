from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("replay/<int:version>/", views.replay_page, name="replay"),
    path("replay/runs/<int:run_id>/", views.replay_progress, name="replay_progress"),
    path("replay/runs/<int:run_id>/cancel/", views.replay_cancel, name="replay_cancel"),
    path("equity/", views.equity_page, name="equity"),
    path("equity.csv", views.equity_csv, name="equity_csv"),
    path("crdc.csv", views.crdc_csv, name="crdc_csv"),
    path("deflection/", views.deflection_page, name="deflection"),
]
