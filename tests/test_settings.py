"""The documented production settings pass Django's deployment checks."""

import os
import subprocess
import sys

import pytest

from tests.processes import ROOT

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECURE_SSL": "1",
    "DJANGO_SECRET_KEY": "k3y-for-the-deploy-check-" + "x9Q#" * 12,
    "DJANGO_ALLOWED_HOSTS": "triage.example.org",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "smtp.example.org",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        # A clean environment: browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process.
        env={**{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**PRODUCTION, "DJANGO_SECRET_KEY": ""}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off" in result.stderr


def _database_options(**env: str) -> str:
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(sorted(settings.DATABASES['default']['OPTIONS']))",
        DATABASE_URL="postgres://triage@db.example.org:5432/triage",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_postgresql_prepares_statements_unless_turned_off():
    assert "'prepare_threshold', 'server_side_binding'" in _database_options()
    assert "server_side_binding" not in _database_options(DATABASE_PREPARE_THRESHOLD="0")


@pytest.mark.django_db
def test_a_statement_run_again_and_again_is_planned_once_per_connection():
    """The API token's principal (a five-table join) took longer to plan than to run."""
    from django.db import connection

    from schools.selectors import user_with_memberships_by_token

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    for _ in range(6):
        assert user_with_memberships_by_token("no-such-token") is None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%authtoken_token%"],
        )
        assert cursor.fetchone()[0] == 1
