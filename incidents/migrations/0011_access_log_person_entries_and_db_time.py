# The access log names a person (a deactivation) as well as an incident or a district's export,
# and its time is set by the database.

import django.db.models.deletion
import django.db.models.functions.datetime
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0010_co_response_members'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='accesslogentry',
            name='person',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='accesslogentry',
            name='action',
            field=models.CharField(choices=[('view_item', 'Viewed a queue item'), ('view_incident', 'Viewed an incident'), ('export_crdc_exact', 'Downloaded the exact CRDC submission file'), ('deactivate', 'Deactivated a person')], max_length=20),
        ),
        migrations.AlterField(
            model_name='accesslogentry',
            name='detail',
            field=models.CharField(blank=True, db_default='', default='', max_length=200),
        ),
        migrations.AlterField(
            model_name='accesslogentry',
            name='at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), db_index=True),
        ),
        migrations.RemoveConstraint(
            model_name='accesslogentry',
            name='access_log_entry_incident_or_district',
        ),
        migrations.AddConstraint(
            model_name='accesslogentry',
            constraint=models.CheckConstraint(condition=models.Q(('incident__isnull', False), ('person__isnull', False), ('district__isnull', False), _connector='OR'), name='access_log_entry_names_what_was_read'),
        ),
    ]
