"""allauth's OpenID Connect provider, made strict: a nonce on every sign-in and the
id_token's signature always checked against the provider's keys.

allauth skips the signature when the id_token came straight from the token endpoint over
TLS (which the spec allows) and sends no nonce; a district's sign-in should not depend on
either shortcut. Configured by ``SOCIALACCOUNT_PROVIDERS["openid_connect"]["provider_class"]``.
"""

import secrets

from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter


class StrictOpenIDConnectAdapter(OpenIDConnectOAuth2Adapter):
    expected_nonce: str | None = None

    def _decode_id_token(self, app, id_token: str) -> dict:
        claims = jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )
        nonce = claims.get("nonce")
        if not self.expected_nonce or not isinstance(nonce, str):
            raise OAuth2Error("the id_token carries no nonce")
        if not secrets.compare_digest(nonce, self.expected_nonce):
            raise OAuth2Error("the id_token's nonce is not this sign-in's")
        return claims


class StrictOpenIDConnectProvider(OpenIDConnectProvider):
    oauth2_adapter_class = StrictOpenIDConnectAdapter

    @classmethod
    def get_package(cls) -> str:
        return "accounts.sso"  # its urls use the strict adapter for the callback too

    def redirect(self, request, process, next_url=None, data=None, **kwargs):
        nonce = secrets.token_urlsafe(32)
        auth_params = kwargs.pop("auth_params", None)
        auth_params = dict(auth_params if auth_params is not None else self.get_auth_params())
        auth_params["nonce"] = nonce
        # The nonce rides in allauth's stashed state and comes back with the callback.
        return super().redirect(
            request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs
        )


provider_classes = [StrictOpenIDConnectProvider]
