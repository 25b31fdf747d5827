"""Back office for schools, people and the roster: district admins only, in their district.

Least privilege: a district admin never sees Django's raw permission fields (superuser, staff,
groups, permissions), never grants the district admin role, and every choice list and every
save is limited to their own district on the server. Only a superuser has the whole back
office. People's roles are managed day to day at /people/ (schools.views).
"""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from . import selectors, services
from .models import (
    STUDENT_ROSTER_FIELDS,
    District,
    Membership,
    Role,
    RosterImportRun,
    School,
    Student,
    User,
)


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


def _district_ids(request) -> list[int]:
    return [d.pk for d in selectors.districts_administered(request.user)]


class DistrictScopedAdmin(admin.ModelAdmin):
    """Full rights for a district admin, on rows of their own district only."""

    district_lookup = "district"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.district_lookup}__in": _district_ids(request)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Every choice list is the admin's own district; the form then refuses anything else
        # on the server, whatever the browser sends.
        if not request.user.is_superuser:
            if db_field.related_model is District:
                kwargs["queryset"] = District.objects.filter(pk__in=_district_ids(request))
            elif db_field.related_model is School:
                kwargs["queryset"] = School.objects.filter(district_id__in=_district_ids(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

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


class StudentAdminForm(forms.ModelForm):
    class Meta:
        model = Student
        fields = ["district", "school", "student_id", *STUDENT_ROSTER_FIELDS]

    def clean(self):
        cleaned = super().clean()
        school, district = cleaned.get("school"), cleaned.get("district")
        if school is not None and district is not None and school.district_id != district.pk:
            self.add_error("school", f"{school} is not a school of {district}.")
        return cleaned


@admin.register(Student, site=site)
class StudentAdmin(DistrictScopedAdmin):
    form = StudentAdminForm
    list_display = ["student_id", "last_name", "first_name", "school", "grade", "on_roster"]
    list_filter = [
        ("school", admin.RelatedOnlyFieldListFilter),
        "grade",
        "on_roster",
        "iep",
        "section_504",
        "bip",
    ]
    search_fields = ["student_id", "last_name", "first_name"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1

    def get_queryset(self, request):
        memberships = super().get_queryset(request)
        if request.user.is_superuser:
            return memberships
        # Roles elsewhere, and district admin roles, are not the district admin's to change.
        return memberships.filter(school__district_id__in=_district_ids(request)).exclude(
            role=Role.DISTRICT_ADMIN
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "school" and not request.user.is_superuser:
            kwargs["queryset"] = School.objects.filter(district_id__in=_district_ids(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and not request.user.is_superuser:
            kwargs["choices"] = [(v, label) for v, label in Role.choices if v in GRANTABLE_ROLES]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def has_view_permission(self, request, obj=None) -> bool:
        return site.has_permission(request)

    has_change_permission = has_view_permission
    has_add_permission = has_view_permission
    has_delete_permission = has_view_permission

    def get_min_num(self, request, obj=None, **kwargs):
        # A person a district admin adds must have a role in their district, or they could
        # not see them again.
        return 0 if request.user.is_superuser else 1


GRANTABLE_ROLES = [r for r in Role.values if r != Role.DISTRICT_ADMIN]


@admin.register(User, site=site)
class UserAdmin(BaseUserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "first_name", "last_name", "email", "is_active"]
    list_filter = ["is_active"]
    filter_horizontal = ()

    # What a district admin sees and saves: never is_superuser, is_staff, groups or
    # user_permissions. A field not in the form is not saved, whatever is posted.
    limited_fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Status", {"fields": ("is_active",)}),
    )

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser or obj is None:
            return super().get_fieldsets(request, obj)
        return self.limited_fieldsets

    def get_list_filter(self, request):
        if request.user.is_superuser:
            return ["is_staff", "is_superuser", "is_active"]
        return self.list_filter

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return selectors.people_manageable_by(request.user, queryset=queryset)

    def has_module_permission(self, request) -> bool:
        return site.has_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return site.has_permission(request)

    has_change_permission = has_view_permission
    has_add_permission = has_view_permission

    def has_delete_permission(self, request, obj=None) -> bool:
        # People are deactivated (/people/), not deleted: their incidents and log entries stay.
        return request.user.is_superuser


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
