"""The access log refuses TRUNCATE as it refuses UPDATE and DELETE, and the database stamps
`at` on every insert, whatever value the INSERT brought, so an entry cannot be back-dated.

Only the table's owner (or a superuser) can disable these triggers: the runtime database role
of the README owns nothing (see README, "Production database roles")."""

from django.db import migrations

STAMP_AND_REFUSE_TRUNCATE = """
CREATE OR REPLACE FUNCTION triage_access_log_stamp() RETURNS trigger AS $$
BEGIN
    NEW.at := now();
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER access_log_stamp BEFORE INSERT ON incidents_accesslogentry
    FOR EACH ROW EXECUTE FUNCTION triage_access_log_stamp();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON incidents_accesslogentry
    FOR EACH STATEMENT EXECUTE FUNCTION triage_access_log_append_only();
"""
UNDO = """
DROP TRIGGER IF EXISTS access_log_no_truncate ON incidents_accesslogentry;
DROP TRIGGER IF EXISTS access_log_stamp ON incidents_accesslogentry;
DROP FUNCTION IF EXISTS triage_access_log_stamp();
"""


def triggers_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(STAMP_AND_REFUSE_TRUNCATE, params=None)


def triggers_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNDO, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0011_access_log_person_entries_and_db_time"),
    ]

    operations = [migrations.RunPython(triggers_create, triggers_drop)]
