"""Back office for schools, people and the roster: district admins only, in their district."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from . import selectors, services
from .models import District, Membership, RosterImportRun, School, Student, User


class DistrictAdminSite(admin.AdminSite):
    site_header = "Triage back office"
    site_title = "Triage back office"

    def has_permission(self, request) -> bool:
        user = request.user
        return user.is_active and (user.is_superuser or selectors.is_district_admin(user))

    def login(self, request, extra_context=None):
        if request.user.is_authenticated:  # signed in, but not a district admin
            raise PermissionDenied("The back office is for district admins.")
        # One sign-in for everything: the product's (SSO, password, then the second factor).
        return redirect_to_login(request.GET.get("next", self.index_url))

    @property
    def index_url(self) -> str:
        return reverse("admin:index", current_app=self.name)


site = DistrictAdminSite(name="admin")


class DistrictScopedAdmin(admin.ModelAdmin):
    """Full rights for a district admin, on rows of their own district only."""

    district_lookup = "district"

    def _districts(self, request):
        return [d.pk for d in selectors.districts_administered(request.user)]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.district_lookup}__in": self._districts(request)})

    def has_module_permission(self, request) -> bool:
        return site.has_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return site.has_permission(request)

    has_change_permission = has_view_permission
    has_add_permission = has_view_permission
    has_delete_permission = has_view_permission


@admin.register(District, site=site)
class DistrictAdmin(DistrictScopedAdmin):
    district_lookup = "pk"
    list_display = ["name", "slug", "timezone"]

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(School, site=site)
class SchoolAdmin(DistrictScopedAdmin):
    list_display = ["code", "name", "grade_span", "district"]
    search_fields = ["code", "name"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            services.school_queues_open(school_ids=[obj.pk])


@admin.register(Student, site=site)
class StudentAdmin(DistrictScopedAdmin):
    list_display = ["student_id", "last_name", "first_name", "school", "grade", "on_roster"]
    list_filter = ["school", "grade", "on_roster", "iep", "section_504", "bip"]
    search_fields = ["student_id", "last_name", "first_name"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(User, site=site)
class UserAdmin(BaseUserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "first_name", "last_name", "email", "is_active"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        districts = [d.pk for d in selectors.districts_administered(request.user)]
        return queryset.filter(memberships__school__district__in=districts).distinct()

    def has_module_permission(self, request) -> bool:
        return site.has_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return site.has_permission(request)

    has_change_permission = has_view_permission
    has_add_permission = has_view_permission
    has_delete_permission = has_view_permission


@admin.register(RosterImportRun, site=site)
class RosterImportRunAdmin(DistrictScopedAdmin):
    """The roster sync's history: each run's summary, or the problems that stopped it."""

    list_display = ["started_at", "source", "trigger", "outcome", "summary_line"]
    list_filter = ["outcome", "trigger"]
    readonly_fields = [f.name for f in RosterImportRun._meta.fields]

    @admin.display(description="Summary")
    def summary_line(self, run: RosterImportRun) -> str:
        from .oneroster import summary_text

        return summary_text(run.summary) if run.summary else run.problems[:200]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
