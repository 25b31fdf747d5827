from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .selectors import memberships_of


@login_required
def home(request):
    memberships = memberships_of(request.user)
    return render(request, "schools/home.html", {"memberships": memberships})
