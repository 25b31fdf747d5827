"""HTML pages for responders: My queues (with live updates), one item, and the access log."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from schools.models import QUEUE_PAGE_ROLES
from schools.selectors import roles_of

from . import selectors, services
from .models import FINAL_ITEM_STATES, AccessAction, ItemState, Route
from .queue_forms import HandoffForm, NoteForm, QueueFilterForm, ResolveForm

QUEUE_ITEMS_PER_PAGE = 25


def _ensure_responder(user) -> None:
    if not (roles_of(user) & QUEUE_PAGE_ROLES or selectors.queues_for(user).exists()):
        raise PermissionDenied("My queues is for counselors, administrators, clinicians and SROs.")


@never_cache
@login_required
@require_GET
def queues(request: HttpRequest) -> HttpResponse:
    """Every queue the person works: counts by state, and the items, most urgent then oldest."""
    _ensure_responder(request.user)
    my_queues = list(selectors.queues_for(request.user))
    schools = sorted({q.school for q in my_queues}, key=lambda s: s.name)
    form = QueueFilterForm(request.GET or None, schools=schools)
    filters = form.filters()
    items = selectors.queue_items_listed(request.user, **filters)
    page = Paginator(items, QUEUE_ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    fyi = list(selectors.queue_items_listed(request.user, **filters, notifications=True)[:50])
    now = timezone.now()
    for item in page.object_list:
        item.countdown = selectors.countdown_state(item, now)
    counts = selectors.queue_state_counts(q.pk for q in my_queues)
    context = {
        "form": form,
        "page": page,
        "fyi": fyi,
        "queues": [(q, counts[q.pk]) for q in my_queues],
        "states": ItemState.choices,
        "query": query_without(request, "page", "fragment"),
    }
    if request.GET.get("fragment"):
        return render(request, "incidents/_queue_list.html", context)
    return render(request, "incidents/queues.html", context)


def query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def _item_forms(user, item, **bound) -> dict:
    return {
        "note_form": bound.get("note_form") or NoteForm(),
        "handoff_form": bound.get("handoff_form") or HandoffForm(current_route=item.route),
        "resolve_form": bound.get("resolve_form")
        or ResolveForm(outcomes=selectors.outcomes_for_user(user, item)),
    }


def _render_item(request: HttpRequest, detail, *, status: int = 200, **bound) -> HttpResponse:
    item = detail.item
    context = {
        "detail": detail,
        "item": item,
        "incident": item.incident,
        "is_open": item.state not in FINAL_ITEM_STATES,
        "read_only": getattr(item, "read_only", False),
        "co": detail.co_response,
        "mine_or_unowned": item.owner_id in (None, request.user.pk)
        or item.route == Route.CO_RESPONDER,
        **_item_forms(request.user, item, **bound),
    }
    return render(request, "incidents/item.html", context, status=status)


@never_cache
@login_required
@require_GET
def queue_item(request: HttpRequest, item_id: int) -> HttpResponse:
    detail = selectors.queue_item_detail(request.user, item_id)
    services.access_record(
        user=request.user,
        incident=detail.item.incident,
        action=AccessAction.VIEW_ITEM,
        queue_item=detail.item,
    )
    return _render_item(request, detail)


ACTION_MESSAGES = {
    "claim": "You claimed this item.",
    "acknowledge": "Acknowledged: you are on it.",
    "on_my_way": "On my way: the team can see you are coming.",
    "lead": "You lead this co-response now.",
    "note": "Note added. Only responders can see it.",
    "handoff": "Handed off to the {route} queue.",
    "resolve": "Resolved: {outcome}.",
}
ACTION_FORMS = {
    "note": ("note_form", NoteForm),
    "handoff": ("handoff_form", HandoffForm),
    "resolve": ("resolve_form", ResolveForm),
}


@login_required
@require_POST
def queue_item_act(request: HttpRequest, item_id: str, action: str) -> HttpResponse:
    """One POST per action. Conflicts come back as a message; bad input next to its field."""
    item_id = int(item_id)
    form_name, form = None, None
    data: dict = {}
    if action in ACTION_FORMS:
        # Permission before validation: nobody learns about an item by posting bad input.
        item = selectors.queue_item_for(request.user, item_id)
        form_name, form_class = ACTION_FORMS[action]
        extra = {"current_route": item.route} if action == "handoff" else {}
        if action == "resolve":
            extra = {"outcomes": selectors.outcomes_for_user(request.user, item)}
        form = form_class(request.POST, **extra)
        if not form.is_valid():
            return _invalid(request, item_id, form_name, form)
        data = form.cleaned_data
    try:
        result = _perform(action, user=request.user, item_id=item_id, data=data)
    except services.QueueItemConflict as conflict:
        messages.error(request, conflict.message)
        return redirect("incidents:queue_item", item_id=item_id)
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _invalid(request, item_id, form_name, form)
    messages.success(request, _success_message(action, result))
    return redirect("incidents:queue_item", item_id=item_id)


def _perform(action: str, *, user, item_id: int, data: dict):
    if action == "claim":
        return services.queue_item_claim(user=user, item_id=item_id)
    if action == "acknowledge":
        return services.queue_item_acknowledge(user=user, item_id=item_id)
    if action == "lead":
        return services.queue_item_lead_take(user=user, item_id=item_id)
    if action == "note":
        return services.queue_item_note(user=user, item_id=item_id, text=data["text"])
    if action == "handoff":
        return services.queue_item_handoff(
            user=user, item_id=item_id, route=data["route"], reason=data["reason"]
        )
    return services.queue_item_resolve(
        user=user, item_id=item_id, outcome=data["outcome"], summary=data["summary"]
    )


def _success_message(action: str, result) -> str:
    if action == "handoff":
        return ACTION_MESSAGES[action].format(route=result[1].get_route_display())
    if action == "resolve":
        return ACTION_MESSAGES[action].format(outcome=result.get_outcome_display())
    if action == "acknowledge" and result.route == Route.CO_RESPONDER:
        return ACTION_MESSAGES["on_my_way"]
    return ACTION_MESSAGES[action]


def _invalid(request: HttpRequest, item_id: int, form_name: str, form) -> HttpResponse:
    messages.error(request, "Not saved: see the highlighted field.")
    detail = selectors.queue_item_detail(request.user, item_id)
    return _render_item(request, detail, status=400, **{form_name: form})
