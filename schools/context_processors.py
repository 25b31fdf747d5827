from django.urls import NoReverseMatch, reverse

from .models import QUEUE_PAGE_ROLES, Role
from .selectors import roles_of

# (url name, label, who sees it: None = every signed-in person)
NAV_ITEMS = [
    ("incidents:new", "Report an incident", None),
    ("incidents:mine", "My incidents", None),
    ("incidents:queues", "My queues", QUEUE_PAGE_ROLES),
    ("policies:rulesets", "Routing rules", {Role.DISTRICT_ADMIN}),
    ("reports:equity", "Equity report", {Role.DISTRICT_ADMIN, Role.ADMINISTRATOR}),
    ("incidents:access_log", "Access log", {Role.DISTRICT_ADMIN}),
    ("schools:people", "People", {Role.DISTRICT_ADMIN}),
    ("admin:index", "Back office", {Role.DISTRICT_ADMIN}),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    roles = roles_of(user)
    items = []
    for name, label, allowed in NAV_ITEMS:
        if allowed is not None and not (roles & allowed) and not user.is_superuser:
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue  # a page a later release adds
        items.append({"url": url, "label": label, "active": request.path.startswith(url)})
    return {"nav_items": items, "user_roles": sorted(roles)}
