from allauth.account.auth_backends import AuthenticationBackend

from .policy import password_allowed


class DistrictPasswordBackend(AuthenticationBackend):
    """allauth's username/password backend, refusing passwords where the district turned
    them off. Only password checks go through here: sessions of SSO sign-ins are unaffected
    (get_user is the parent's)."""

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        if user is not None and not password_allowed(user):
            return None
        return user
