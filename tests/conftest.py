"""Shared fixtures. In CI (CI=true) the suite refuses to run without PostgreSQL and Redis."""

import contextlib
import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests import factories


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 3
        ):
            return True
    except OSError:
        return False


def pytest_configure(config):
    if os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        return
    problems = []
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        problems.append("DATABASE_URL must point at PostgreSQL in CI")
    elif not _reachable(database_url, 5432):
        problems.append(f"PostgreSQL is unreachable at {database_url}")
    if not broker_url.startswith("redis://"):
        problems.append("CELERY_BROKER_URL must point at Redis in CI")
    elif not _reachable(broker_url, 6379):
        problems.append(f"Redis is unreachable at {broker_url}")
    if problems:
        pytest.exit("CI needs real services: " + "; ".join(problems), returncode=3)


@pytest.fixture
def district(db):
    return factories.DistrictFactory()


@pytest.fixture
def school(district):
    return factories.SchoolFactory(district=district, code="WAS-MS", grade_low=6, grade_high=8)


@pytest.fixture
def other_school(district):
    return factories.SchoolFactory(district=district, code="JEF-HS", grade_low=9, grade_high=12)


@pytest.fixture
def api():
    return APIClient()


def api_client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hashing with PBKDF2 costs ~0.3 s a user; tests don't need that strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_second_factor_required(settings):
    """Most tests sign people in with force_login and test other things: no role needs a
    second factor here. tests/accounts/ turn DJANGO_MFA_REQUIRED_ROLES' default back on."""
    settings.MFA_REQUIRED_ROLES = []


@pytest.fixture(autouse=True)
def _no_routing_wakeup_pending():
    """A wake-up key left in the shared Redis by an earlier test would stop this test's
    filings from sending their routing message (services.routing_wakeup_key), and a big
    routing task of an earlier test would make this one's first message wait (pace)."""
    from incidents.services import routing

    routing.pace.last_tasks = (0, 0)
    if not settings.REDIS_URL:
        return
    from incidents.services import routing_wakeup_key
    from triage.redis import client

    with contextlib.suppress(Exception):  # Redis down: the tests that need it say so
        client().delete(routing_wakeup_key())


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_access_log_trigger():
    """Transactional tests end with a flush (a TRUNCATE), which the access log refuses
    (incidents migration 0012). The test database user is a superuser, who alone may switch
    triggers off for its session with session_replication_role; the runtime role cannot."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        sql_list = [
            "SET LOCAL session_replication_role = replica",
            *sql_list,
        ]
        return original(self, sql_list)

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _no_throttle_history():
    """API throttles count in the cache (Redis in CI), which outlives each test's
    transaction: start every test with no requests counted."""
    from django.core.cache import cache

    if settings.REDIS_URL:
        from triage.redis import client

        with contextlib.suppress(Exception):
            redis = client()
            keys = list(redis.scan_iter(match="*throttle_*"))
            if keys:
                redis.delete(*keys)
    else:
        cache.clear()
