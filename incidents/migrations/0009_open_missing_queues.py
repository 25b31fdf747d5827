"""Open the queue of every route at every existing school (they used to be opened on first use
or by a GET of My queues); from now on a school is created with its queues."""

from django.db import migrations

ROUTES = ("counselor", "administrator", "co_responder", "sro")


def open_missing_queues(apps, schema_editor):
    School = apps.get_model("schools", "School")
    ResponderQueue = apps.get_model("incidents", "ResponderQueue")
    existing = set(ResponderQueue.objects.values_list("school_id", "route"))
    ResponderQueue.objects.bulk_create(
        [
            ResponderQueue(school_id=school_id, route=route)
            for school_id in School.objects.values_list("pk", flat=True)
            for route in ROUTES
            if (school_id, route) not in existing
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0008_live_event_channel"),
        ("schools", "0002_district_ack_deadlines"),
    ]

    operations = [migrations.RunPython(open_missing_queues, migrations.RunPython.noop)]
