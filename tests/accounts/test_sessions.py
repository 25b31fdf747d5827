from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts import middleware
from schools.oneroster import user_deactivate_for_roster
from tests import factories

PASSWORD = "pw-for-tests-only"


@pytest.fixture
def teacher(school):
    return factories.user_with_role("teacher", school, username="terry")


def signed_in(username: str, agent: str) -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    response = client.post("/accounts/login/", {"login": username, "password": PASSWORD})
    assert response["Location"] == "/"
    return client


def test_a_person_sees_their_sessions_and_ends_the_others(teacher, school):
    laptop = signed_in("terry", "Laptop browser")
    phone = signed_in("terry", "Phone browser")
    signed_in(factories.user_with_role("teacher", school, username="other").username, "Other")
    page = laptop.get("/accounts/sessions/")
    assert page.status_code == 200
    assert sorted(s.user_agent for s in page.context["sessions"]) == [
        "Laptop browser",
        "Phone browser",
    ]
    assert phone.get("/api/me/").status_code == 200
    assert laptop.post("/accounts/sessions/")["Location"] == "/accounts/sessions/"
    assert phone.get("/api/me/").status_code == 401
    assert laptop.get("/api/me/").json()["username"] == "terry"
    assert [s.user_agent for s in UserSession.objects.filter(user=teacher)] == ["Laptop browser"]


def test_a_session_expires_after_the_idle_timeout_and_use_pushes_it_back(
    teacher, settings, monkeypatch
):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600  # DJANGO_SESSION_IDLE_HOURS' default
    client = signed_in("terry", "Laptop")
    key = client.session.session_key
    first = Session.objects.get(session_key=key).expire_date
    assert abs(first - (timezone.now() + timedelta(hours=8))) < timedelta(minutes=1)
    # Ten minutes later, a request moves the end forward again.
    later = middleware.time.time() + 600
    monkeypatch.setattr(middleware.time, "time", lambda: later)
    client.get("/")
    assert Session.objects.get(session_key=key).expire_date > first
    # Idle past the end: the session is gone.
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(1))
    assert client.get("/")["Location"] == "/accounts/login/?next=/"


def test_requests_within_the_touch_interval_write_nothing(teacher, django_assert_num_queries):
    client = signed_in("terry", "Laptop")
    client.get("/")
    before = Session.objects.get(session_key=client.session.session_key).expire_date
    client.get("/")
    assert Session.objects.get(session_key=client.session.session_key).expire_date == before


def test_deactivating_a_person_ends_their_sessions_at_once(
    teacher, django_capture_on_commit_callbacks
):
    client = signed_in("terry", "Laptop")
    with django_capture_on_commit_callbacks(execute=True):
        user_deactivate_for_roster(user=teacher)
    assert not UserSession.objects.filter(user=teacher).exists()
    assert not Session.objects.exists()
    assert client.get("/api/me/").status_code == 401


def test_passwords_off_for_a_district_refuses_everyone_but_a_superuser(teacher, district):
    district.passwords_enabled = False
    district.save()
    refused = Client().post("/accounts/login/", {"login": "terry", "password": PASSWORD})
    assert refused.status_code == 200
    assert refused.context["form"].errors == {
        "__all__": [
            "Please enter a correct username and password. Both may be case-sensitive; "
            "if your district signs in through its identity provider, use its button."
        ]
    }
    root = factories.UserFactory(username="root", is_superuser=True, is_staff=True)
    assert root.is_superuser
    assert signed_in("root", "Break glass")


def test_password_reset_mail_goes_only_where_passwords_are_on(teacher, district, mailoutbox):
    Client().post("/accounts/password/reset/", {"email": teacher.email})
    assert [m.to for m in mailoutbox] == [[teacher.email]]
    district.passwords_enabled = False
    district.save()
    Client().post("/accounts/password/reset/", {"email": teacher.email})
    assert len(mailoutbox) == 1


def test_nobody_can_sign_up(client, db):
    response = client.get("/accounts/signup/")
    assert response.status_code == 200
    assert b"Sign Up Closed" in response.content
