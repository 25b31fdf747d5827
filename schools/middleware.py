import zoneinfo

from django.utils import timezone

from .selectors import district_of


class DistrictTimezoneMiddleware:
    """Show times in the user's district's time zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        district = district_of(request.user) if hasattr(request, "user") else None
        if district is not None:
            timezone.activate(zoneinfo.ZoneInfo(district.timezone))
        else:
            timezone.deactivate()
        return self.get_response(request)
