import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from rest_framework.authtoken.models import Token

from tests import factories
from tests.accounts.conftest import sso_sign_in
from tests.accounts.oidc_provider import Person

PASSWORD = "pw-for-tests-only"
ENROL = "/accounts/2fa/totp/activate/"


@pytest.fixture(autouse=True)
def mfa_for_district_admins(settings):
    settings.MFA_REQUIRED_ROLES = ["district_admin"]  # DJANGO_MFA_REQUIRED_ROLES' default


@pytest.fixture
def admin(school):
    user = factories.user_with_role("district_admin", school, username="dana")
    user.email = "dana@district.example.org"
    user.save()
    return user


def totp_now(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def password_sign_in(client, username: str):
    return client.post("/accounts/login/", {"login": username, "password": PASSWORD})


def enrol(client) -> list[str]:
    page = client.get(ENROL)
    assert page.status_code == 200
    secret = page.context["form"].secret
    done = client.post(ENROL, {"code": totp_now(secret)})
    assert done.status_code == 302, done.context["form"].errors
    assert done["Location"] == "/accounts/2fa/recovery-codes/"
    codes = Authenticator.objects.get(user__username="dana", type="recovery_codes")
    return codes.wrap().get_unused_codes()


def test_a_district_admin_without_a_second_factor_reaches_only_enrolment(client, admin):
    assert password_sign_in(client, "dana")["Location"] == "/"
    for path in ("/", "/rules/", "/access-log/", "/admin/", "/accounts/sessions/"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, ENROL), path
    assert client.get(ENROL).status_code == 200
    assert client.get("/api/me/").status_code == 403  # the session, until enrolment


def test_roles_not_listed_are_not_asked(client, school, settings):
    factories.user_with_role("teacher", school, username="terry")
    password_sign_in(client, "terry")
    assert client.get("/").status_code == 200


def test_an_empty_setting_asks_nobody(client, admin, settings):
    settings.MFA_REQUIRED_ROLES = []
    password_sign_in(client, "dana")
    assert client.get("/rules/").status_code == 200


def test_after_enrolling_every_page_opens_and_the_next_sign_in_asks_for_the_code(client, admin):
    password_sign_in(client, "dana")
    codes = enrol(client)
    assert len(codes) == 10
    assert client.get("/rules/").status_code == 200
    client.post("/accounts/logout/")
    step = password_sign_in(client, "dana")
    assert step["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/api/me/").status_code == 401  # not signed in until the second factor
    secret = Authenticator.objects.get(user=admin, type="totp").wrap().instance.data["secret"]
    from allauth.mfa.utils import decrypt

    done = client.post("/accounts/2fa/authenticate/", {"code": totp_now(decrypt(secret))})
    assert done["Location"] == "/"
    assert client.get("/rules/").status_code == 200


def test_a_recovery_code_signs_in_once(client, admin):
    password_sign_in(client, "dana")
    codes = enrol(client)
    client.post("/accounts/logout/")
    password_sign_in(client, "dana")
    assert client.post("/accounts/2fa/authenticate/", {"code": codes[0]})["Location"] == "/"
    assert client.get("/api/me/").json()["username"] == "dana"
    client.post("/accounts/logout/")
    password_sign_in(client, "dana")
    again = client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert again.status_code == 200
    assert again.context["form"].errors == {"code": ["Incorrect code."]}
    assert client.get("/api/me/").status_code == 401
    assert (
        len(Authenticator.objects.get(user=admin, type="recovery_codes").wrap().get_unused_codes())
        == 9
    )


def test_an_sso_sign_in_whose_provider_asserted_mfa_counts(client, admin, idp):
    idp.person = Person(sub="dana-1", email="dana@district.example.org", amr=["pwd", "mfa"])
    assert sso_sign_in(client, idp)["Location"] == "/"
    assert client.get("/rules/").status_code == 200


def test_an_sso_sign_in_without_mfa_is_sent_to_enrol(client, admin, idp):
    idp.person = Person(sub="dana-1", email="dana@district.example.org", amr=["pwd"])
    sso_sign_in(client, idp)
    assert client.get("/rules/")["Location"] == ENROL


def test_api_tokens_are_unaffected(api, admin):
    token = Token.objects.create(user=admin)
    response = api.get("/api/me/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_the_back_office_sign_in_sends_people_to_the_product_sign_in(client, db):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/"


def test_someone_signed_in_without_the_back_office_is_refused_not_sent_round(client, school):
    client.force_login(factories.user_with_role("teacher", school))
    assert client.get("/admin/", follow=True).status_code == 403
