-- The runtime database role: the web, worker and beat processes connect as triage_app, which
-- may read and write rows and nothing else. It owns no table, so it cannot ALTER a table,
-- disable or drop a trigger, or TRUNCATE; the access log's triggers hold whatever the
-- application does. Migrations run as the owner (triage_owner), never as triage_app.
--
-- Run once per database as the owner, after the first `migrate`:
--   psql -v app_password="$TRIAGE_APP_DB_PASSWORD" -U triage_owner -d triage \
--        -f deploy/runtime_role.sql
-- (CREATE ROLE needs CREATEROLE: run that one statement as an administrator if the owner
-- lacks it.)
CREATE ROLE triage_app LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
GRANT CONNECT ON DATABASE triage TO triage_app;
GRANT USAGE ON SCHEMA public TO triage_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO triage_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO triage_app;
-- Tables and sequences that later migrations create are granted the same way.
ALTER DEFAULT PRIVILEGES FOR ROLE triage_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO triage_app;
ALTER DEFAULT PRIVILEGES FOR ROLE triage_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO triage_app;
-- The access log is append-only: the runtime role may only add to it and read it.
REVOKE UPDATE, DELETE, TRUNCATE ON incidents_accesslogentry FROM triage_app;
