from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import PeopleSearchForm, RoleGrantForm
from .models import Membership, User
from .selectors import memberships_of


@login_required
def home(request):
    memberships = memberships_of(request.user)
    return render(request, "schools/home.html", {"memberships": memberships})


def _person(request, pk: int) -> User:
    """A person of the admin's districts (404 for anyone else: nobody learns who exists)."""
    person = selectors.people_of_district(request.user).filter(pk=pk).first()
    if person is None:
        raise Http404("No such person in your district.")
    return person


@login_required
def people(request):
    """The district admin's people: their roles per school, grant, remove, deactivate."""
    search = PeopleSearchForm(request.GET or None)
    query = search.cleaned_data["q"] if search.is_valid() else ""
    rows = selectors.people_list(request.user, query=query)
    schools = selectors.schools_administered(request.user)
    return render(
        request,
        "schools/people.html",
        {
            "search": search,
            "rows": [
                {
                    "person": person,
                    "memberships": memberships,
                    "manageable": manageable and person.pk != request.user.pk,
                    "grant_form": RoleGrantForm(
                        schools=schools,
                        superuser=request.user.is_superuser,
                        auto_id=f"id_person{person.pk}_%s",
                    ),
                }
                for person, memberships, manageable in rows
            ],
        },
    )


def _fail(request, error: Exception) -> None:
    if isinstance(error, ValidationError):
        text = " ".join(error.messages)
    else:
        text = str(error) or "You cannot do that."
    messages.error(request, text)


@login_required
@require_POST
def person_role_grant(request, pk: int):
    person = _person(request, pk)
    form = RoleGrantForm(
        request.POST,
        schools=selectors.schools_administered(request.user),
        superuser=request.user.is_superuser,
    )
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("schools:people")
    try:
        membership = services.person_role_grant(
            actor=request.user, person=person, **form.cleaned_data
        )
    except (PermissionDenied, ValidationError) as error:
        _fail(request, error)
    else:
        messages.success(
            request,
            f"{person} is now {membership.get_role_display().lower()} at {membership.school.code}.",
        )
    return redirect("schools:people")


@login_required
@require_POST
def person_role_remove(request, pk: int, membership_pk: int):
    person = _person(request, pk)
    membership = (
        Membership.objects.select_related("school__district", "user")
        .filter(pk=membership_pk, user=person)
        .first()
    )
    if membership is None:
        raise Http404("No such role.")
    try:
        services.person_role_remove(actor=request.user, membership=membership)
    except (PermissionDenied, ValidationError) as error:
        _fail(request, error)
    else:
        messages.success(
            request,
            f"{person} is no longer {membership.get_role_display().lower()} "
            f"at {membership.school.code}.",
        )
    return redirect("schools:people")


@login_required
@require_POST
def person_deactivate(request, pk: int):
    person = _person(request, pk)
    try:
        services.person_deactivate(actor=request.user, person=person)
    except (PermissionDenied, ValidationError) as error:
        _fail(request, error)
    else:
        messages.success(
            request, f"{person} is deactivated: signed out everywhere, API tokens deleted."
        )
    return redirect("schools:people")
