from urllib.parse import urlparse

import pytest
import requests

from tests.accounts.oidc_provider import configured_idp


@pytest.fixture
def idp(settings):
    """The test identity provider, configured as the district's SSO provider `district`."""
    yield from configured_idp(settings)


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
