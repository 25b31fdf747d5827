"""triage.bulk: insert_many and update_many write the rows bulk_create and bulk_update would
write, for less CPU."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import EventKind, QueueItem, TimelineEvent
from schools.models import Role
from tests.factories import user_with_role
from triage.bulk import insert_many


@pytest.fixture
def incident(school):
    teacher = user_with_role(Role.TEACHER, school, username="t")
    filed, _ = services.incident_file(
        reporter=teacher, school=school, category="disruption", narrative="what happened"
    )
    return filed


def _events(incident, actor=None):
    return [
        TimelineEvent(incident=incident, kind=EventKind.NOTE, actor=actor, data={"n": 1}),
        TimelineEvent(incident=incident, kind=EventKind.QUEUED, data={"route": "counselor"}),
        TimelineEvent(
            incident=incident, kind=EventKind.NOTE, data={"text": "ünïcode ' \" %s"}, private=True
        ),
    ]


def _stored(pks):
    columns = [
        f.attname for f in TimelineEvent._meta.concrete_fields if f.attname not in ("id", "at")
    ]
    by_pk = {
        row["id"]: row for row in TimelineEvent.objects.filter(pk__in=pks).values("id", *columns)
    }
    return [{k: v for k, v in by_pk[pk].items() if k != "id"} for pk in pks]


@pytest.mark.django_db
def test_writes_the_rows_bulk_create_writes_and_sets_their_keys_in_order(incident):
    before = timezone.now()
    ours = insert_many(_events(incident, actor=incident.filed_by))
    theirs = TimelineEvent.objects.bulk_create(_events(incident, actor=incident.filed_by))

    assert all(event.pk for event in ours)
    assert [event.pk for event in ours] == sorted(event.pk for event in ours)
    assert all(not event._state.adding and event._state.db == "default" for event in ours)
    # The same stored rows as Django's own bulk insert, in the order given.
    assert _stored([e.pk for e in ours]) == _stored([e.pk for e in theirs])
    assert [
        e.data for e in TimelineEvent.objects.filter(pk__in=[e.pk for e in ours]).order_by("pk")
    ] == [
        {"n": 1},
        {"route": "counselor"},
        {"text": "ünïcode ' \" %s"},
    ]
    # auto_now_add: stamped at the insert, on the objects and in the rows.
    stored_at = dict(
        TimelineEvent.objects.filter(pk__in=[e.pk for e in ours]).values_list("pk", "at")
    )
    for event in ours:
        assert before <= event.at <= timezone.now()
        assert stored_at[event.pk] == event.at


@pytest.mark.django_db
def test_defaults_nulls_and_dates_are_stored_as_save_stores_them(incident):
    queue = incident.school.queues.get(route="counselor")
    now = timezone.now()
    (item,) = insert_many(
        [
            QueueItem(
                incident=incident,
                queue=queue,
                route="counselor",
                ack_deadline=now + timedelta(minutes=15),
            )
        ]
    )
    stored = QueueItem.objects.get(pk=item.pk)
    assert stored.origin == "routing" and stored.state == "queued" and stored.urgency == 3
    assert stored.owner_id is None and stored.closed_at is None and stored.summary == ""
    assert stored.ack_deadline == now + timedelta(minutes=15)
    assert stored.queued_at == item.queued_at


@pytest.mark.django_db
def test_refuses_an_unsaved_related_object_and_mixed_models(incident):
    from incidents.models import Incident

    unsaved = Incident(school=incident.school, filed_by=incident.filed_by, category="other")
    with pytest.raises(ValueError, match="unsaved related object"):
        insert_many([TimelineEvent(incident=unsaved, kind=EventKind.NOTE)])
    queue = incident.school.queues.get(route="counselor")
    with pytest.raises(TypeError, match="is not a TimelineEvent"):
        insert_many(
            [
                TimelineEvent(incident=incident, kind=EventKind.NOTE),
                QueueItem(incident=incident, queue=queue, route="counselor"),
            ]
        )
    assert not TimelineEvent.objects.filter(kind=EventKind.NOTE).exists()


@pytest.mark.django_db
def test_nothing_to_insert_runs_no_statement(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert insert_many([]) == []


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_db_value_prepares_as_django_does():
    """For every field of the models the hot paths write, and values of every kind they
    meet (and some they should not), db_value gives what get_db_prep_save gives."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from django.db import connection
    from psycopg.types.json import Jsonb

    from incidents.models import Incident, Weapon
    from triage.bulk import db_value

    aware = datetime(2026, 12, 4, 9, 30, tzinfo=ZoneInfo("America/Denver"))
    values = [
        None,
        "",
        "text",
        Weapon.FIREARM,  # a choice: a str subclass
        True,
        False,
        0,
        7,
        aware,
        timezone.now(),
        datetime(2026, 12, 4, 9, 30),  # noqa: DTZ001 - naive: Django makes it aware (and warns)
        {"route": "sro"},
        [1, 2],
    ]
    checked = 0
    for model in (Incident, TimelineEvent, QueueItem):
        for field in model._meta.concrete_fields:
            for value in values:
                try:
                    expected = field.get_db_prep_save(value, connection)
                except Exception as exc:  # noqa: BLE001 - the same failure is the same answer
                    with pytest.raises(type(exc)):
                        db_value(field, value, connection)
                    continue
                got = db_value(field, value, connection)
                if isinstance(expected, Jsonb):
                    assert isinstance(got, Jsonb) and got.obj == expected.obj
                else:
                    assert type(got) is type(expected), (field, value)
                    assert got == expected, (field, value)
                checked += 1
    assert checked > 300


def _routed(school, count: int):
    """``count`` filed incidents with routed fields set as routing sets them, varied: text,
    choices, a key or none, integers, JSON with quotes and unicode, datetimes, nulls."""
    from policies.services import ruleset_ensure_default

    ruleset = ruleset_ensure_default(district=school.district)
    teacher = user_with_role(Role.TEACHER, school, username="t")
    now = timezone.now()
    filed = []
    for i in range(count):
        incident, _ = services.incident_file(
            reporter=teacher, school=school, category="disruption", narrative=f"n{i}"
        )
        incident.route = ["counselor", "sro", "administrator"][i % 3]
        incident.routed_at = now - timedelta(seconds=i)
        incident.ruleset = ruleset if i % 2 else None
        incident.ruleset_version = ruleset.version if i % 2 else None
        incident.rule_id = f"rule-{i}" if i % 2 else ""
        incident.rule_name = "ünïcode ' \" %s %b {x} \\ ," if i == 1 else f"Rule {i}"
        incident.decision = {"route": incident.route, "guardrails": [], "n": i} if i else None
        incident.facts = {"weapon": "none", "list": [1, "two", None], "quote": "'\"\\ {,}"}
        incident.status = "routed"
        filed.append(incident)
    return filed


def _stored_routed(incidents):
    from incidents.models import Incident
    from incidents.services.routing import _ROUTED_FIELDS

    attnames = [Incident._meta.get_field(name).attname for name in _ROUTED_FIELDS]
    by_pk = {
        row["id"]: row
        for row in Incident.objects.filter(pk__in=[i.pk for i in incidents]).values("id", *attnames)
    }
    return [{k: by_pk[i.pk][k] for k in attnames} for i in incidents]


def _as_set(incidents):
    from incidents.models import Incident
    from incidents.services.routing import _ROUTED_FIELDS

    return [
        {
            Incident._meta.get_field(name).attname: getattr(
                i, Incident._meta.get_field(name).attname
            )
            for name in _ROUTED_FIELDS
        }
        for i in incidents
    ]


@pytest.mark.django_db
def test_update_many_writes_what_bulk_update_writes(school, django_assert_num_queries):
    """The routed fields of a batch stored as bulk_update stores them, in one statement
    whatever the number of rows, and nothing else changed."""
    from django.db import connection

    from incidents.models import Incident
    from incidents.services.routing import _ROUTED_FIELDS
    from triage.bulk import _array_placeholder, update_many

    # The product's default binds on the server: the arrays go in binary.
    assert _array_placeholder(connection) == "%b"
    filed = _routed(school, 6)
    ours, theirs = filed[:3], filed[3:]
    with django_assert_num_queries(1):
        update_many(ours, _ROUTED_FIELDS)
    Incident.objects.bulk_update(theirs, _ROUTED_FIELDS)
    assert _stored_routed(ours) == _as_set(ours)
    assert _stored_routed(theirs) == _as_set(theirs)
    assert sorted(
        Incident.objects.filter(pk__in=[i.pk for i in ours]).values_list("narrative", flat=True)
    ) == [
        "n0",
        "n1",
        "n2",
    ]


@pytest.mark.django_db
def test_both_write_the_same_rows_with_text_parameters(school, monkeypatch):
    """A deployment without prepared statements (DATABASE_PREPARE_THRESHOLD=0) binds on the
    client, which takes no binary parameter: the statements then take text arrays, through
    a client-side cursor as Django's own, and store the same rows."""
    from django.db import connection
    from psycopg import ClientCursor

    from incidents.services.routing import _ROUTED_FIELDS
    from triage import bulk

    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "server_side_binding", False)
    assert bulk._array_placeholder(connection) == "%s"
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "cursor_factory", ClientCursor)
    with connection.cursor() as cursor:
        assert isinstance(cursor.cursor, ClientCursor)
    filed = _routed(school, 3)
    bulk.update_many(filed, _ROUTED_FIELDS)
    assert _stored_routed(filed) == _as_set(filed)
    (event,) = insert_many(
        [TimelineEvent(incident=filed[1], kind=EventKind.NOTE, data={"text": "' \" \\ {,}"})]
    )
    assert TimelineEvent.objects.get(pk=event.pk).data == {"text": "' \" \\ {,}"}


@pytest.mark.django_db
def test_update_many_refuses_what_bulk_update_refuses(incident, django_assert_num_queries):
    from django.db.models import F

    from incidents.models import Incident
    from policies.models import RuleSet
    from triage.bulk import update_many

    with django_assert_num_queries(0):
        update_many([], ["route"])
    with pytest.raises(ValueError, match="primary key"):
        update_many([Incident(school=incident.school, filed_by=incident.filed_by)], ["route"])
    with pytest.raises(ValueError, match="cannot be updated"):
        update_many([incident], ["id"])
    incident.dispatch_attempts = F("dispatch_attempts") + 1
    with pytest.raises(TypeError, match="expression"):
        update_many([incident], ["dispatch_attempts"])
    incident.dispatch_attempts = 0
    queue = incident.school.queues.get(route="counselor")
    with pytest.raises(TypeError, match="is not a Incident"):
        update_many([incident, QueueItem(pk=1, incident=incident, queue=queue)], ["route"])
    incident.ruleset = RuleSet(district=incident.school.district, version=99)
    with pytest.raises(ValueError, match="unsaved related object 'ruleset'"):
        update_many([incident], ["ruleset"])
