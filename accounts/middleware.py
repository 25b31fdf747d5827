"""Sign-in rules applied to every request: a second factor for the roles that need one."""

import time

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from .policy import mfa_required_for, mfa_satisfied


class SecondFactorRequiredMiddleware:
    """Someone whose role needs a second factor and has none (and whose identity provider
    asserted none) reaches only the enrolment pages and signing out until they enrol.

    API requests with a token are not session sign-ins and are not affected; a browser
    session calling the API gets a 403 saying what to do.
    """

    ALLOWED_PREFIXES = (
        "/accounts/2fa/",
        "/accounts/reauthenticate/",
        "/accounts/logout/",
        "/static/",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(self.ALLOWED_PREFIXES)
            and mfa_required_for(user)
            and not mfa_satisfied(request)
        ):
            if request.path.startswith("/api/"):
                enrol = reverse("mfa_activate_totp")
                return JsonResponse(
                    {"detail": f"Set up two-factor authentication first: {enrol}"}, status=403
                )
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)


def idle_clock_start(sender, request, user, **kwargs) -> None:
    """On sign-in (user_logged_in): the session's idle clock starts now."""
    if request is not None and hasattr(request, "session"):
        request.session[IdleTimeoutMiddleware.SESSION_KEY] = int(time.time())


class IdleTimeoutMiddleware:
    """A signed-in session's expiry moves forward with use, so it ends after
    SESSION_IDLE_HOURS without a request. The session is rewritten at most once every
    SESSION_TOUCH_SECONDS, not on every request."""

    SESSION_KEY = "triage_touched_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            if now - request.session.get(self.SESSION_KEY, 0) >= settings.SESSION_TOUCH_SECONDS:
                request.session[self.SESSION_KEY] = now  # saved, with a new expiry
        return self.get_response(request)
