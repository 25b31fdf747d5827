"""The access log in PostgreSQL: TRUNCATE refused, `at` set by the database, and the runtime
role of the README (deploy/runtime_role.sql) cannot switch the trigger off or truncate."""

import os
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from incidents.models import AccessAction, AccessLogEntry
from incidents.services import incident_file
from tests.factories import user_with_role

ROLE_SQL = Path(__file__).resolve().parents[2] / "deploy" / "runtime_role.sql"


@pytest.fixture
def entry(school, is_postgres):
    if not is_postgres:
        pytest.skip("the access log triggers are PostgreSQL's")
    teacher = user_with_role("teacher", school, username="t")
    admin = user_with_role("district_admin", school, username="d")
    incident, _ = incident_file(reporter=teacher, school=school, category="other", narrative="x")
    return AccessLogEntry.objects.create(
        user=admin, username="d", incident=incident, action=AccessAction.VIEW_INCIDENT
    )


def test_truncate_is_refused(entry):
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE"):
        with transaction.atomic(), connection.cursor() as cursor:
            # Checks deferred to commit would refuse a TRUNCATE too: run them first, so that
            # the refusal seen is the trigger's.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("TRUNCATE incidents_accesslogentry")
    assert AccessLogEntry.objects.count() == 1


def test_at_is_set_by_the_database_and_cannot_be_back_dated(entry):
    long_ago = timezone.now() - timedelta(days=400)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO incidents_accesslogentry (user_id, username, incident_id, action, at)"
            " VALUES (%s, 'd', %s, 'view_incident', %s) RETURNING at",
            [entry.user_id, entry.incident_id, long_ago],
        )
        (stored,) = cursor.fetchone()
    assert stored > timezone.now() - timedelta(minutes=5)
    created = AccessLogEntry.objects.create(
        user=entry.user, username="d", incident=entry.incident, action="view_incident"
    )
    assert abs(created.at - timezone.now()) < timedelta(minutes=5)


def test_the_runtime_role_cannot_disable_the_trigger_or_truncate(entry):
    """Applies deploy/runtime_role.sql (the README's) to this test database, then connects
    as that role: its inserts work, its TRUNCATE and ALTER TABLE ... DISABLE TRIGGER fail."""
    settings_dict = connection.settings_dict
    role = f"triage_app_test_{os.getpid()}"
    password = "runtime-test-pw"  # noqa: S105 - a throwaway role of this test only
    sql = (
        ROLE_SQL.read_text()
        .replace("triage_app", role)
        .replace(":'app_password'", f"'{password}'")
        .replace("triage_owner", settings_dict["USER"])
        .replace("DATABASE triage", f'DATABASE "{settings_dict["NAME"]}"')
    )
    # Inside the test's transaction: the role and its grants vanish with its rollback.
    with connection.cursor() as cursor:
        cursor.execute(sql)
    try:
        # The test's own transaction holds the rows and grants: share them by using the
        # same connection with SET ROLE, which checks privileges exactly as a login would.
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {role}")
            try:
                cursor.execute(
                    "INSERT INTO incidents_accesslogentry (user_id, username, incident_id, action)"
                    " VALUES (%s, 'd', %s, 'view_incident')",
                    [entry.user_id, entry.incident_id],
                )
                for statement in (
                    "TRUNCATE incidents_accesslogentry",
                    "ALTER TABLE incidents_accesslogentry DISABLE TRIGGER USER",
                    "ALTER TABLE incidents_accesslogentry DISABLE TRIGGER access_log_append_only",
                    "DROP TRIGGER access_log_append_only ON incidents_accesslogentry",
                    "SET session_replication_role = replica",
                    "DELETE FROM incidents_accesslogentry",
                ):
                    with pytest.raises((DatabaseError, psycopg.Error)):
                        with transaction.atomic():
                            cursor.execute(statement)
            finally:
                cursor.execute("RESET ROLE")
        assert AccessLogEntry.objects.count() == 2
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
