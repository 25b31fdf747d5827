import logging
from urllib.parse import parse_qs, urlparse

import pytest
from allauth.socialaccount.models import SocialAccount

from accounts.policy import SESSION_MFA_BY_IDP
from schools.models import User
from tests import factories
from tests.accounts.conftest import sso_sign_in
from tests.accounts.oidc_provider import Person


@pytest.fixture
def rostered(school):
    user = factories.user_with_role("counselor", school, username="casey")
    user.email = "Casey.Counselor@district.example.org"
    user.save()
    return user


def test_the_sign_in_page_shows_one_button_per_provider(client, db, idp):
    page = client.get("/accounts/login/").content.decode()
    assert page.count('<button type="submit" class="button primary">District sign-in</button>') == 1
    assert 'action="/accounts/oidc/district/login/"' in page
    assert '<label for="id_username">Username</label>' in page


def test_a_rostered_person_signs_in_and_is_linked_to_the_subject(client, idp, rostered):
    idp.person = Person(sub="idp-123", email="casey.counselor@district.example.org")
    response = sso_sign_in(client, idp)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/api/me/").json()["username"] == "casey"
    account = SocialAccount.objects.get()
    assert (account.user, account.provider, account.uid) == (rostered, "district", "idp-123")
    # The flow really went through the provider: discovery, keys, token and userinfo.
    assert {
        ("GET", "/.well-known/openid-configuration"),
        ("POST", "/token"),
        ("GET", "/jwks"),
        ("GET", "/userinfo"),
    } <= set(idp.requests)


def test_the_authorize_request_carries_a_nonce_and_pkce(client, idp, rostered):
    query = parse_qs(urlparse(client.post("/accounts/oidc/district/login/")["Location"]).query)
    assert len(query["nonce"][0]) >= 32
    assert query["code_challenge_method"] == ["S256"]
    assert set(query["scope"][0].split()) == {"openid", "profile", "email"}


def test_a_later_sign_in_is_matched_on_the_subject_not_the_email(client, idp, rostered):
    idp.person = Person(sub="idp-123", email="casey.counselor@district.example.org")
    sso_sign_in(client, idp)
    client.logout()
    idp.person = Person(sub="idp-123", email="casey.new-name@district.example.org")
    assert sso_sign_in(client, idp)["Location"] == "/"
    assert client.get("/api/me/").json()["username"] == "casey"


def test_an_unknown_person_is_refused_nothing_is_created_and_it_is_logged(
    client, idp, rostered, caplog
):
    idp.person = Person(sub="idp-999", email="stranger@elsewhere.example.org")
    users_before = User.objects.count()
    with caplog.at_level(logging.WARNING, logger="triage.sign_in"):
        response = sso_sign_in(client, idp)
    assert response.status_code == 403
    assert b"Sign-in refused" in response.content
    assert User.objects.count() == users_before
    assert not SocialAccount.objects.exists()
    assert client.get("/api/me/").status_code == 401
    assert [r.getMessage() for r in caplog.records if r.name == "triage.sign_in"] == [
        "SSO sign-in refused provider=district subject=idp-999 "
        "email=stranger@elsewhere.example.org reason=no rostered person with it"
    ]


def test_an_unverified_email_is_not_matched(client, idp, rostered):
    idp.person = Person(
        sub="idp-123", email="casey.counselor@district.example.org", email_verified=False
    )
    assert sso_sign_in(client, idp).status_code == 403
    assert not SocialAccount.objects.exists()


def test_a_person_without_a_role_or_deactivated_is_refused(client, idp, rostered):
    rostered.memberships.all().delete()
    idp.person = Person(sub="idp-123", email="casey.counselor@district.example.org")
    assert sso_sign_in(client, idp).status_code == 403
    assert not SocialAccount.objects.exists()


@pytest.mark.parametrize("tamper", ["aud", "signature", "nonce", "issuer"])
def test_a_wrong_id_token_is_refused(client, idp, rostered, tamper):
    idp.person = Person(sub="idp-123", email="casey.counselor@district.example.org")
    idp.tamper = tamper
    response = sso_sign_in(client, idp)
    assert response.status_code == 401  # allauth's "third-party login failure" page
    assert b"Third-Party Login Failure" in response.content
    assert client.get("/api/me/").status_code == 401
    assert not SocialAccount.objects.exists()


def test_a_provider_asserting_mfa_is_remembered_for_the_session(client, idp, rostered):
    idp.person = Person(
        sub="idp-123", email="casey.counselor@district.example.org", amr=["pwd", "mfa"]
    )
    sso_sign_in(client, idp)
    assert client.session[SESSION_MFA_BY_IDP] is True


def test_providers_come_from_one_json_list():
    from triage.settings import sso_providers

    config = sso_providers(
        '[{"id": "google", "name": "Google", "client_id": "g", "secret": "s"},'
        ' {"id": "microsoft", "name": "Microsoft", "client_id": "m", "secret": "t",'
        '  "server_url": "https://login.microsoftonline.com/tenant-1/v2.0"}]'
    )
    apps = config["openid_connect"]["APPS"]
    assert [(a["provider_id"], a["name"], a["settings"]["server_url"]) for a in apps] == [
        ("google", "Google", "https://accounts.google.com"),
        ("microsoft", "Microsoft", "https://login.microsoftonline.com/tenant-1/v2.0"),
    ]
    assert config["openid_connect"]["provider_class"] == (
        "accounts.sso.provider.StrictOpenIDConnectProvider"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "SSO_OIDC_PROVIDERS is not JSON"),
        ('[{"id": "district", "name": "D", "client_id": "c", "secret": "s"}]', "lacks server_url"),
        ('[{"id": "x", "name": "X"}]', "'x' lacks client_id, secret"),
    ],
)
def test_a_wrong_provider_list_stops_the_start(raw, message):
    from django.core.exceptions import ImproperlyConfigured

    from triage.settings import sso_providers

    with pytest.raises(ImproperlyConfigured, match=message):
        sso_providers(raw)
