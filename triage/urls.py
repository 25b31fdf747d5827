from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import SignInView
from schools.admin import site as admin_site
from schools.apis import MeApi
from schools.views import home

urlpatterns = [
    path("", home, name="home"),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # allauth: SSO callbacks (/accounts/oidc/<id>/login/callback/), password reset,
    # two-factor enrolment (/accounts/2fa/), and the session list (/accounts/sessions/).
    path("accounts/", include("allauth.urls")),
    path("admin/", admin_site.urls),
    path("", include("incidents.urls")),
    path("rules/", include("policies.urls")),
    path("reports/", include("reports.urls")),
    path("api/", include("incidents.urls_api")),
    path("api/", include("policies.urls_api")),
    path("api/me/", MeApi.as_view(), name="api-me"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler404 = "triage.errors.page_not_found"
handler403 = "triage.errors.permission_denied"
handler500 = "triage.errors.server_error"
