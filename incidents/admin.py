"""Back office for incidents: the access log, read-only (it is append-only)."""

from django.contrib import admin
from django.db.models import Q

from schools import selectors as school_selectors
from schools.admin import site

from .models import AccessLogEntry


@admin.register(AccessLogEntry, site=site)
class AccessLogEntryAdmin(admin.ModelAdmin):
    list_display = [
        "at",
        "user",
        "username",
        "action",
        "incident",
        "queue_item",
        "person",
        "detail",
    ]
    list_filter = ["action"]
    search_fields = [
        "username",
        "user__username",
        "user__first_name",
        "user__last_name",
        "=incident__id",
    ]
    date_hierarchy = "at"
    list_select_related = ["user", "incident", "queue_item__queue__school"]
    readonly_fields = [
        "at",
        "user",
        "username",
        "action",
        "incident",
        "queue_item",
        "person",
        "district",
        "detail",
    ]

    def get_queryset(self, request):
        entries = super().get_queryset(request)
        if request.user.is_superuser:
            return entries
        districts = [d.pk for d in school_selectors.districts_administered(request.user)]
        return entries.filter(
            Q(incident__school__district_id__in=districts) | Q(district_id__in=districts)
        )

    def has_module_permission(self, request) -> bool:
        return site.has_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return site.has_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
