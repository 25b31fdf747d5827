"""Sign-in lockout (django-axes on /accounts/login/), failed-token and per-user API throttles."""

import datetime
import os
import subprocess
import sys

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from schools.models import Role
from tests.factories import user_with_role
from triage.api.throttles import PerUserRateThrottle

PASSWORD = "pw-for-tests-only"


def sign_in(username: str, password: str, address: str = "10.0.0.1", **extra):
    return Client(REMOTE_ADDR=address, **extra).post(
        "/accounts/login/", {"username": username, "password": password}
    )


def signed_in(response) -> bool:
    return response.status_code == 302 and response.url == "/"


@pytest.fixture
def alice(school):
    return user_with_role(Role.TEACHER, school, username="alice")


@pytest.fixture
def bob(school):
    return user_with_role(Role.TEACHER, school, username="bob")


def test_five_wrong_passwords_lock_that_username_from_that_address(alice, bob):
    assert [sign_in("alice", "wrong").status_code for _ in range(5)] == [200] * 4 + [429]
    locked = sign_in("alice", PASSWORD)  # the right password, too late
    assert locked.status_code == 429
    assert "too many wrong passwords" in locked.content.decode()
    assert "Wait 15 minutes" in locked.content.decode()
    # A second person at the same school network still signs in...
    assert signed_in(sign_in("bob", PASSWORD))
    # ...and so does alice from another address: never a lock by address alone.
    assert signed_in(sign_in("alice", PASSWORD, address="10.0.0.2"))


def test_a_right_password_resets_the_count(alice):
    for _ in range(4):
        sign_in("alice", "wrong")
    assert signed_in(sign_in("alice", PASSWORD))
    for _ in range(4):
        sign_in("alice", "wrong")
    assert signed_in(sign_in("alice", PASSWORD))


def test_a_forwarded_address_is_ignored_unless_a_proxy_header_is_configured(alice, settings):
    for n in range(5):
        sign_in("alice", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    # Without DJANGO_TRUSTED_PROXY_HEADER the five came from one address, whatever they said.
    assert sign_in("alice", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_a_configured_proxy_header_gives_the_client_address(alice, settings):
    settings.TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    for _ in range(5):
        sign_in("alice", "wrong", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert sign_in("alice", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
    assert signed_in(sign_in("alice", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.8"))


def test_guessing_tokens_is_throttled_per_address(alice):
    good = Token.objects.create(user=alice)
    answers = [
        Client(REMOTE_ADDR="10.0.0.9", HTTP_AUTHORIZATION=f"Token {n:040x}")
        .get("/api/me/")
        .status_code
        for n in range(12)
    ]
    assert answers == [401] * 10 + [429] * 2
    throttled = Client(REMOTE_ADDR="10.0.0.9", HTTP_AUTHORIZATION="Token nope").get("/api/me/")
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert throttled.json()["errors"][0]["code"] == "throttled"
    # Another address with a good token is not slowed down.
    other = Client(REMOTE_ADDR="10.0.0.10", HTTP_AUTHORIZATION=f"Token {good.key}")
    assert other.get("/api/me/").status_code == 200


def test_the_per_user_rate_answers_429_with_retry_after(alice, bob, monkeypatch):
    monkeypatch.setattr(PerUserRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})
    token = Token.objects.create(user=alice)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert [client.get("/api/me/").status_code for _ in range(4)] == [200, 200, 200, 429]
    limited = client.get("/api/me/")
    assert 0 < int(limited["Retry-After"]) <= 60
    assert limited.json()["errors"][0]["code"] == "throttled"
    # The rate is per user: bob, from the same address, is not limited.
    bob_client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bob).key}")
    assert bob_client.get("/api/me/").status_code == 200


def _rates_with(value: str) -> str:
    env = dict(os.environ, DJANGO_API_THROTTLE_USER=value, DJANGO_SETTINGS_MODULE="triage.settings")
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['user'])",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_per_user_rate_comes_from_the_environment():
    assert _rates_with("250/minute").stdout.strip() == "250/minute"
    assert _rates_with("off").stdout.strip() == "None"
    wrong = _rates_with("lots")
    assert wrong.returncode != 0
    assert "DJANGO_API_THROTTLE_USER must be a DRF rate" in wrong.stderr


def test_the_default_per_user_rate_is_1000_an_hour(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["user"] == "1000/hour"


def _guess(address: str, times: int) -> list[int]:
    return [
        Client(REMOTE_ADDR=address, HTTP_AUTHORIZATION=f"Token {n:040x}")
        .get("/api/me/")
        .status_code
        for n in range(times)
    ]


def test_a_right_token_from_a_refused_address_is_refused_until_the_window_ends(
    alice, school, monkeypatch
):
    """The lockout holds for every token from that address, a right one too (and one of a
    user with no role), for as long as the counted wrong tokens stay in the window."""
    import time

    from schools.models import TokenLockout, User
    from triage.api import throttles

    good = Token.objects.create(user=alice)
    roleless = Token.objects.create(user=User.objects.create_user("norole", password=PASSWORD))
    started = time.time()
    assert _guess("10.0.0.20", 10) == [401] * 10
    (lockout,) = TokenLockout.objects.all()
    assert lockout.address == "10.0.0.20"
    # Until the first wrong token counted leaves the one-minute window.
    assert started + 60 <= lockout.until.timestamp() <= time.time() + 60

    def me(key: str, address: str = "10.0.0.20"):
        return Client(REMOTE_ADDR=address, HTTP_AUTHORIZATION=f"Token {key}").get("/api/me/")

    for key in (good.key, roleless.key, "nope", "f" * 40):
        refused = me(key)
        assert refused.status_code == 429, key
        assert refused.json()["errors"][0]["code"] == "throttled"
        assert 0 < int(refused["Retry-After"]) <= 60
    assert me(good.key, address="10.0.0.21").status_code == 200
    # Refused answers count nothing more: the lockout ends when it said it would.
    assert TokenLockout.objects.get().until == lockout.until

    # A minute later the window is empty again: the right token is answered.
    later = time.time() + 61
    monkeypatch.setattr(throttles.FailedTokenThrottle, "timer", lambda self: later)
    monkeypatch.setattr(
        throttles.timezone,
        "now",
        lambda: datetime.datetime.fromtimestamp(later, tz=datetime.UTC),
    )
    assert me(good.key).status_code == 200
    # The next lockout of any address clears the rows that ended.
    assert _guess("10.0.0.22", 10) == [401] * 10
    assert list(TokenLockout.objects.values_list("address", flat=True)) == ["10.0.0.22"]


def test_a_right_token_is_answered_without_reading_the_cache(alice, monkeypatch):
    """The lockout is read with the token and roles: an API request with a right token makes
    no cache round trip for the failed-token check (a tenth of a filing's CPU)."""
    from triage.api import throttles

    good = Token.objects.create(user=alice)
    reads = []
    original = throttles.FailedTokenThrottle._history

    def counted(self, request):
        reads.append(request.path)
        return original(self, request)

    monkeypatch.setattr(throttles.FailedTokenThrottle, "_history", counted)
    client = Client(REMOTE_ADDR="10.0.0.30", HTTP_AUTHORIZATION=f"Token {good.key}")
    assert client.get("/api/me/").status_code == 200
    assert reads == []
    # A wrong token still reads it (to refuse, or to count).
    Client(REMOTE_ADDR="10.0.0.30", HTTP_AUTHORIZATION="Token nope").get("/api/me/")
    assert reads == ["/api/me/", "/api/me/"]


def test_the_principal_query_reads_the_lockout_for_an_unknown_token_too(alice):
    from django.utils import timezone

    from schools.models import TokenLockout
    from schools.selectors import principal_by_token

    token = Token.objects.create(user=alice)
    now = timezone.now()
    assert principal_by_token(token.key, address="10.0.0.40", now=now)[1] is None
    until = now + datetime.timedelta(seconds=30)
    TokenLockout.objects.create(address="10.0.0.40", until=until)
    user, locked = principal_by_token(token.key, address="10.0.0.40", now=now)
    assert user.pk == alice.pk and locked == until
    assert principal_by_token("no-such-key", address="10.0.0.40", now=now) == (None, until)
    assert principal_by_token(token.key, address="10.0.0.41", now=now)[1] is None
    # An ended lockout refuses nothing.
    assert principal_by_token(token.key, address="10.0.0.40", now=until)[1] is None
