"""allauth adapters: nobody signs up; SSO signs in only people the district rostered."""

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.db.models.functions import Lower
from django.shortcuts import render

from schools.models import User

from .policy import SESSION_MFA_BY_IDP, amr_has_second_factor, is_rostered, password_allowed

logger = logging.getLogger("triage.sign_in")


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "username_password_mismatch": (
            "Please enter a correct username and password. Both may be case-sensitive; "
            "if your district signs in through its identity provider, use its button."
        ),
    }

    def is_open_for_signup(self, request) -> bool:
        return False  # people come from the district's roster, never from a sign-up form

    def send_password_reset_mail(self, user, email, context) -> None:
        # No reset mail for someone who must sign in through the district's provider.
        if user.is_active and password_allowed(user):
            super().send_password_reset_mail(user, email, context)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False

    def pre_social_login(self, request, sociallogin) -> None:
        provider = sociallogin.account.provider
        claims = sociallogin.account.extra_data.get("id_token") or {}
        request.session[SESSION_MFA_BY_IDP] = amr_has_second_factor(claims.get("amr"))
        if sociallogin.is_existing:
            if is_rostered(sociallogin.user):
                return
            self._refuse(request, provider, sociallogin, "the linked person is not rostered")
        verified = [a.email.lower() for a in sociallogin.email_addresses if a.verified]
        matches = list(
            User.objects.annotate(email_lower=Lower("email")).filter(
                email_lower__in=verified, is_active=True
            )[:2]
        )
        if len(matches) != 1 or not is_rostered(matches[0]):
            reason = "no verified email" if not verified else "no rostered person with it"
            if len(matches) > 1:
                reason = "several people share that email"
            self._refuse(request, provider, sociallogin, reason)
        # First sign-in: the rostered person is linked to the provider's subject; later
        # sign-ins are matched on the subject alone.
        sociallogin.connect(request, matches[0])
        logger.info(
            "SSO linked provider=%s subject=%s user_id=%s",
            provider,
            sociallogin.account.uid,
            matches[0].pk,
        )

    def _refuse(self, request, provider: str, sociallogin, reason: str) -> None:
        request.session.pop(SESSION_MFA_BY_IDP, None)
        logger.warning(
            "SSO sign-in refused provider=%s subject=%s email=%s reason=%s",
            provider,
            sociallogin.account.uid,
            ",".join(a.email for a in sociallogin.email_addresses) or "-",
            reason,
        )
        raise ImmediateHttpResponse(
            render(request, "account/sso_refused.html", {"provider": provider}, status=403)
        )
