"""Django's Content-Security-Policy middleware, with the district's identity providers
allowed as form targets.

Signing in through SSO posts a form to our own provider URL, which redirects to the identity
provider; browsers check that redirect against the sign-in page's `form-action`, so each
configured provider's origin (SSO_OIDC_PROVIDERS' `server_url`) is added to it. Nothing else
is loosened.
"""

from functools import cache
from urllib.parse import urlsplit

from django.conf import settings
from django.middleware.csp import ContentSecurityPolicyMiddleware as DjangoCSPMiddleware


def _provider_origins(providers: dict) -> tuple[str, ...]:
    origins = []
    for app in providers.get("openid_connect", {}).get("APPS", []):
        url = urlsplit(app.get("settings", {}).get("server_url", ""))
        if url.scheme in {"http", "https"} and url.netloc:
            origins.append(f"{url.scheme}://{url.netloc}")
    return tuple(sorted(set(origins)))


@cache
def _policy_with(base_items: tuple, origins: tuple[str, ...]) -> dict:
    policy = dict(base_items)
    policy["form-action"] = [*policy.get("form-action", []), *origins]
    return policy


class ContentSecurityPolicyMiddleware(DjangoCSPMiddleware):
    def process_response(self, request, response):
        origins = _provider_origins(getattr(settings, "SOCIALACCOUNT_PROVIDERS", {}))
        if origins and settings.SECURE_CSP and not hasattr(response, "_csp_config"):
            base = tuple((k, tuple(v)) for k, v in settings.SECURE_CSP.items())
            response._csp_config = _policy_with(base, origins)
        return super().process_response(request, response)
