from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import SignInView
from schools.admin import site as admin_site
from schools.apis import MeApi
from schools.views import home
from triage.api.errors import api_not_found

# First: Django tries the patterns in order, and most requests are API calls (the filing
# request walked every page's pattern first). No page's path starts with api/.
api_urlpatterns = [
    path("api/", include("incidents.urls_api")),
    path("api/", include("policies.urls_api")),
    path("api/me/", MeApi.as_view(), name="api-me"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Signed-in people only; the split view serves its start-up script as a file (CSP).
    path(
        "api/docs/",
        login_required(
            SpectacularSwaggerSplitView.as_view(
                url_name="schema", template_name="api/swagger_ui.html"
            )
        ),
        name="api-docs",
    ),
    # Last of these: an /api/ path that matched nothing answers JSON, not the HTML 404 page.
    re_path(r"^api/", api_not_found),
]

urlpatterns = [
    *api_urlpatterns,
    path("", home, name="home"),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # allauth: SSO callbacks (/accounts/oidc/<id>/login/callback/), password reset,
    # two-factor enrolment (/accounts/2fa/), and the session list (/accounts/sessions/).
    path("accounts/", include("allauth.urls")),
    path("admin/", admin_site.urls),
    path("people/", include("schools.urls")),
    path("", include("incidents.urls")),
    path("rules/", include("policies.urls")),
    path("reports/", include("reports.urls")),
]

handler404 = "triage.errors.page_not_found"
handler403 = "triage.errors.permission_denied"
handler500 = "triage.errors.server_error"
