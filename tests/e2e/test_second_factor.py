"""A district admin is made to set up an authenticator app, in real Chromium."""

import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

from schools.demo import seed_people_and_roster
from tests.e2e.conftest import assert_accessible, fits_a_phone


@pytest.fixture
def demo(transactional_db, settings):
    settings.MFA_REQUIRED_ROLES = ["district_admin"]
    seed_people_and_roster(students_per_school=5)


def test_a_district_admin_enrols_an_authenticator_before_anything_else(page, live_server, demo):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("district_admin")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/accounts/2fa/totp/activate/")
    assert_accessible(page)
    assert fits_a_phone(page)
    page.goto(f"{live_server.url}/rules/")
    page.wait_for_url(f"{live_server.url}/accounts/2fa/totp/activate/")
    secret = page.get_by_label("Authenticator secret").input_value()
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    page.get_by_label("Authenticator code").fill(code)
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url(f"{live_server.url}/accounts/2fa/recovery-codes/")
    assert len(page.locator("#recovery_codes").input_value().split()) == 10
    assert_accessible(page)
    page.goto(f"{live_server.url}/rules/")
    assert page.url == f"{live_server.url}/rules/"
