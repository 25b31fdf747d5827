"""Who may sign in how: passwords per district, and who needs a second factor."""

from django.conf import settings
from django.http import HttpRequest

from schools.models import District, User
from schools.selectors import memberships_of, roles_of

# Set at sign-in when the identity provider asserted a second factor (OIDC `amr`).
SESSION_MFA_BY_IDP = "triage_mfa_by_idp"
# RFC 8176 authentication method references that are, or include, a second factor.
AMR_SECOND_FACTORS = {"mfa", "otp", "hwk", "sms", "tel", "sc", "fpt", "face", "iris"}


def password_allowed(user: User) -> bool:
    """A superuser (the break-glass account) always; anyone else unless one of their
    districts has turned passwords off."""
    if user.is_superuser:
        return True
    districts: set[District] = {m.school.district for m in memberships_of(user)}
    return all(d.passwords_enabled for d in districts)


def is_rostered(user: User) -> bool:
    """The district knows this person: active, with a role at one of its schools."""
    return user.is_active and bool(memberships_of(user))


def mfa_required_for(user: User) -> bool:
    required = set(settings.MFA_REQUIRED_ROLES)
    return bool(required) and bool(required & roles_of(user))


def amr_has_second_factor(amr) -> bool:
    return isinstance(amr, list) and bool(AMR_SECOND_FACTORS & {str(v) for v in amr})


def mfa_satisfied(request: HttpRequest) -> bool:
    from allauth.mfa.models import Authenticator

    if request.session.get(SESSION_MFA_BY_IDP):
        return True
    return Authenticator.objects.filter(user=request.user, type=Authenticator.Type.TOTP).exists()
