"""The per-student referral rollup carries the student's groups (kept current by a trigger on
the roster) and a school year's row per student, so that the equity report neither joins the
roster nor counts distinct students over a year of day rows."""

from datetime import date

from django.db import migrations, models

GROUP_COLUMNS = "iep, section_504, race_ethnicity, sex, english_learner, grade"
DISABILITY = "CASE WHEN NEW.iep THEN 'idea' WHEN NEW.section_504 THEN '504' ELSE 'none' END"
REGROUP = (
    f"UPDATE incidents_studentreferralrollup SET disability = {DISABILITY}, "  # noqa: S608 - constants
    "race_ethnicity = NEW.race_ethnicity, sex = NEW.sex, "
    "english_learner = NEW.english_learner, grade = NEW.grade WHERE student_id = NEW.id;"
)
CHANGED = " OR ".join(f"OLD.{c} <> NEW.{c}" for c in GROUP_COLUMNS.split(", "))
POSTGRESQL = f"""
CREATE OR REPLACE FUNCTION triage_student_referral_rollup_regroup() RETURNS trigger AS $$
BEGIN
    {REGROUP}
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER student_referral_rollup_regroup AFTER UPDATE OF {GROUP_COLUMNS}
    ON schools_student FOR EACH ROW WHEN ({CHANGED})
    EXECUTE FUNCTION triage_student_referral_rollup_regroup();
"""
POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS student_referral_rollup_regroup ON schools_student;
DROP FUNCTION IF EXISTS triage_student_referral_rollup_regroup();
"""
SQLITE = f"""
CREATE TRIGGER student_referral_rollup_regroup AFTER UPDATE OF {GROUP_COLUMNS}
    ON schools_student FOR EACH ROW WHEN ({CHANGED})
BEGIN
    {REGROUP}
END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS student_referral_rollup_regroup;"


def trigger_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor in ("postgresql", "sqlite"):
        schema_editor.execute(POSTGRESQL if vendor == "postgresql" else SQLITE, params=None)


def trigger_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor in ("postgresql", "sqlite"):
        schema_editor.execute(
            POSTGRESQL_DROP if vendor == "postgresql" else SQLITE_DROP, params=None
        )


FILL_GROUPS = (
    "UPDATE incidents_studentreferralrollup SET "  # noqa: S608 - constants
    f"disability = {DISABILITY.replace('NEW.', 's.')}, race_ethnicity = s.race_ethnicity, "
    "sex = s.sex, english_learner = s.english_learner, grade = s.grade "
    "FROM schools_student s WHERE s.id = incidents_studentreferralrollup.student_id"
)


def groups_and_years_fill(apps, schema_editor):
    """The rows written before these columns: their student's groups (one UPDATE ... FROM,
    PostgreSQL and SQLite alike), and the year rows, added up from the day rows."""
    schema_editor.execute(FILL_GROUPS, params=None)
    rollup = apps.get_model("incidents", "StudentReferralRollup")
    years: dict[tuple, list] = {}
    for row in rollup.objects.filter(year=False).iterator(chunk_size=5000):
        start = date(row.day.year if row.day.month >= 8 else row.day.year - 1, 8, 1)
        year = years.setdefault((row.school_id, start, row.student_id), [0, 0, row])
        year[0] += row.instances
        year[1] += row.arrest_instances
    rollup.objects.bulk_create(
        [
            rollup(
                school_id=school,
                day=start,
                year=True,
                student_id=student,
                instances=instances,
                arrest_instances=arrests,
                disability=row.disability,
                race_ethnicity=row.race_ethnicity,
                sex=row.sex,
                english_learner=row.english_learner,
                grade=row.grade,
            )
            for (school, start, student), (instances, arrests, row) in years.items()
        ],
        batch_size=2000,
    )


def years_drop(apps, schema_editor):
    """Back to day rows only (the school year rows would read as day rows of August 1st)."""
    apps.get_model("incidents", "StudentReferralRollup").objects.filter(year=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0014_rollups"),
        ("schools", "0003_oneroster_and_sign_in"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="studentreferralrollup",
            name="student_referral_rollup_once",
        ),
        migrations.AddField(
            model_name="studentreferralrollup",
            name="year",
            field=models.BooleanField(
                default=False, help_text="A whole school year, from ``day`` (August 1st)."
            ),
        ),
        migrations.AddField(
            model_name="studentreferralrollup",
            name="disability",
            field=models.CharField(default="none", max_length=4),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="studentreferralrollup",
            name="race_ethnicity",
            field=models.CharField(default="", max_length=2),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="studentreferralrollup",
            name="sex",
            field=models.CharField(default="", max_length=1),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="studentreferralrollup",
            name="english_learner",
            field=models.BooleanField(default=False),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="studentreferralrollup",
            name="grade",
            field=models.SmallIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="studentreferralrollup",
            constraint=models.UniqueConstraint(
                fields=("year", "day", "school", "student"), name="student_referral_rollup_once"
            ),
        ),
        migrations.RunPython(groups_and_years_fill, years_drop),
        migrations.RunPython(trigger_create, trigger_drop),
    ]
