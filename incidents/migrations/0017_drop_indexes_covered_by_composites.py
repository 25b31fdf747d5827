"""Drop four foreign-key indexes that a composite index already leads with: every filing,
routing and delivery wrote them for nothing.

Only the indexes go: the foreign-key constraints stay as they are (AlterField would drop and
re-add them, re-checking every row of these tables under a lock). The names are Django's own
for these columns, the same on PostgreSQL and SQLite."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (table, column, index): each is covered by an index that leads with the column.
INDEXES = [
    ("incidents_incident", "filed_by_id", "incidents_incident_filed_by_id_0a8f089f"),
    ("incidents_incident", "school_id", "incidents_incident_school_id_64853ba0"),
    ("incidents_queueitem", "queue_id", "incidents_queueitem_queue_id_710addcc"),
    ("incidents_timelineevent", "incident_id", "incidents_timelineevent_incident_id_8c8ba3f0"),
]


# What Django knows: the same fields without db_index.
STATE = [
    migrations.AlterField(
        model_name="incident",
        name="filed_by",
        field=models.ForeignKey(
            db_index=False,
            on_delete=django.db.models.deletion.PROTECT,
            related_name="incidents_filed",
            to=settings.AUTH_USER_MODEL,
        ),
    ),
    migrations.AlterField(
        model_name="incident",
        name="school",
        field=models.ForeignKey(
            db_index=False,
            on_delete=django.db.models.deletion.PROTECT,
            related_name="incidents",
            to="schools.school",
        ),
    ),
    migrations.AlterField(
        model_name="queueitem",
        name="queue",
        field=models.ForeignKey(
            db_index=False,
            on_delete=django.db.models.deletion.PROTECT,
            related_name="items",
            to="incidents.responderqueue",
        ),
    ),
    migrations.AlterField(
        model_name="timelineevent",
        name="incident",
        field=models.ForeignKey(
            db_index=False,
            on_delete=django.db.models.deletion.CASCADE,
            related_name="timeline",
            to="incidents.incident",
        ),
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0016_ops_rollups"),
        ("schools", "0004_enrolment_rollup"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{column}")',
                )
                for table, column, index in INDEXES
            ],
            state_operations=STATE,
        )
    ]
