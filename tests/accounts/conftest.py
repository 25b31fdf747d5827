import json
from urllib.parse import urlparse

import pytest
import requests

from tests.accounts.oidc_provider import OIDCProvider
from triage.settings import sso_providers


@pytest.fixture
def idp(settings):
    """The test identity provider, configured as the district's SSO provider `district`."""
    provider = OIDCProvider(client_id="triage-test", client_secret="test-secret").start()
    settings.SOCIALACCOUNT_PROVIDERS = sso_providers(
        json.dumps(
            [
                {
                    "id": "district",
                    "name": "District sign-in",
                    "server_url": provider.issuer,
                    "client_id": "triage-test",
                    "secret": "test-secret",
                }
            ]
        )
    )
    yield provider
    provider.stop()


def sso_sign_in(client, idp):
    """The whole redirect dance with Django's test client; returns the callback's response."""
    start = client.post("/accounts/oidc/district/login/")
    assert start.status_code == 302, start.content
    authorize = start["Location"]
    assert authorize.startswith(f"{idp.issuer}/authorize?")
    at_idp = requests.get(authorize, allow_redirects=False, timeout=5)
    assert at_idp.status_code == 302, at_idp.text
    callback = urlparse(at_idp.headers["Location"])
    return client.get(f"{callback.path}?{callback.query}")
