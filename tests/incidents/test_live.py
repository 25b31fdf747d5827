"""The live stream on the real ASGI application, in-process: many clients as coroutines,
Last-Event-ID replay, the database fallback without Redis, heartbeats and the cap per person."""

import json
import re
import threading
from contextlib import contextmanager

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections
from django.db.backends.signals import connection_created

from incidents import live, services
from incidents.models import ItemOrigin, QueueItem
from policies.services import ruleset_ensure_default
from schools.demo import seed_people_and_roster
from schools.models import School, User
from tests import asgi_client
from triage.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

BACKENDS = ["redis", "database"]


@pytest.fixture(autouse=True)
def _pool_closed_after():
    """The streams' worker threads borrowed pooled connections; hand the pool back closed so
    that the test database can be flushed and dropped."""
    yield
    if hasattr(connection, "close_pool"):
        connection.close_pool()


@pytest.fixture(params=BACKENDS)
def backend(request, settings):
    if request.param == "database":
        settings.REDIS_URL = ""
    elif not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the Redis backend needs a Redis server")
    return request.param


@pytest.fixture
def demo(transactional_db):
    district = seed_people_and_roster(students_per_school=3)
    ruleset_ensure_default(district=district)
    return district


def person(username: str) -> User:
    return User.objects.get(username=username)


def routed_item(route_inputs: dict, route: str) -> QueueItem:
    incident, _ = services.incident_file(
        reporter=person("teacher"),
        school=School.objects.get(code="WAS-MS"),
        narrative="Live update test.",
        students=[],
        **route_inputs,
    )
    services.incident_route(incident_id=incident.pk)
    return QueueItem.objects.get(incident=incident, route=route, origin=ItemOrigin.ROUTING)


def counselor_item() -> QueueItem:
    return routed_item({"category": "emotional_crisis"}, "counselor")


def events_in(text: str) -> list[tuple[str, dict]]:
    """(id, data) of each event with data in a text/event-stream body."""
    return [
        (event_id, json.loads(data))
        for event_id, data in re.findall(r"id: (\S+)\ndata: (.+)\n\n", text)
    ]


def first_id(text: str) -> str:
    return re.search(r"^id: (\S+)$", text, re.M).group(1)


def backend_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_two_hundred_streams_are_coroutines_and_all_receive_a_new_item(demo, backend, settings):
    settings.LIVE_STREAMS_PER_USER = 500
    cookie = asgi_client.session_cookie(person("counselor"))
    item = counselor_item()
    is_postgres = connection.vendor == "postgresql"
    connection.close()  # this test's own connection is not one of the streams'

    async def scenario():
        threads_before = threading.active_count()
        streams = [
            asgi_client.get(application, "/queues/events/", cookie=cookie) for _ in range(200)
        ]
        for stream in streams:
            await stream.opened()
        assert {stream.status for stream in streams} == {200}
        threads_open = threading.active_count()
        db_open = await sync_to_async(backend_connections)() if is_postgres else 0
        await sync_to_async(live.publish_item, thread_sensitive=False)(item, "arrived")
        bodies = [await stream.read_until('"event": "arrived"', timeout=10) for stream in streams]
        for stream in streams:
            await stream.close()
        return threads_before, threads_open, db_open, bodies

    threads_before, threads_open, db_open, bodies = asgi_client.run(scenario())
    # 200 open streams add a handful of worker threads (the loop's executor), not 200.
    assert threads_open - threads_before < 20
    if is_postgres:
        # ...and they hold no database connection each while they wait (the count includes
        # this test's own one for the query, and the one shared by the streams' sync steps).
        assert db_open <= 5
    for body in bodies:
        [(_, event)] = events_in(body)
        assert event == {
            "event": "arrived",
            "item": item.pk,
            "queue": item.queue_id,
            "incident": item.incident_id,
            "route": "counselor",
            "state": "queued",
            "origin": "routing",
            "escalation_level": 0,
            "queue_label": "WAS-MS Counselor",
        }


def test_a_reconnecting_page_is_sent_what_it_missed_then_live_events(demo, backend):
    cookie = asgi_client.session_cookie(person("counselor"))
    item = counselor_item()
    sro_item = routed_item({"category": "weapon", "weapon": "firearm"}, "sro")

    async def scenario():
        first = asgi_client.get(application, "/queues/events/", cookie=cookie)
        text = await first.opened()
        seen = first_id(text)
        await first.close()
        # While the page is away: one event for its queue, one for a queue it does not work.
        publish = sync_to_async(live.publish_item, thread_sensitive=False)
        await publish(item, "claimed")
        await publish(sro_item, "claimed")
        back = asgi_client.get(
            application, "/queues/events/", cookie=cookie, headers={"Last-Event-ID": seen}
        )
        await back.read_until('"event": "claimed"')
        await publish(item, "resolved")
        body = await back.read_until('"event": "resolved"')
        await back.close()
        return seen, body

    seen, body = asgi_client.run(scenario())
    got = events_in(body)
    assert [(e["event"], e["item"]) for _, e in got] == [
        ("claimed", item.pk),
        ("resolved", item.pk),
    ]
    ids = [event_id for event_id, _ in got]
    key = live._redis_id if settings.REDIS_URL else int
    assert key(seen) < key(ids[0]) < key(ids[1])
    assert body.startswith("retry: 2000\n\n")


def test_a_page_that_missed_too_much_is_told_to_reload(demo, backend, monkeypatch):
    monkeypatch.setattr(live, "REPLAY_MAX", 2)
    cookie = asgi_client.session_cookie(person("counselor"))
    item = counselor_item()

    async def scenario():
        first = asgi_client.get(application, "/queues/events/", cookie=cookie)
        text = await first.opened()
        await first.close()
        seen = first_id(text)
        for _ in range(3):
            await sync_to_async(live.publish_item, thread_sensitive=False)(item, "note")
        back = asgi_client.get(
            application, "/queues/events/", cookie=cookie, headers={"Last-Event-ID": seen}
        )
        body = await back.read_until('"event": "resync"')
        await back.close()
        return body

    body = asgi_client.run(scenario())
    assert '"event": "note"' not in body
    assert re.search(r'id: \S+\ndata: \{"event": "resync"\}\n\n', body)


def test_heartbeats_keep_an_idle_stream_open_and_it_ends_for_a_reconnect(
    demo, backend, monkeypatch
):
    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(live, "STREAM_SECONDS", 1.0)
    cookie = asgi_client.session_cookie(person("counselor"))

    async def scenario():
        stream = asgi_client.get(application, "/queues/events/", cookie=cookie)
        body = await stream.read_to_end(timeout=5)
        await stream.close()
        return stream, body

    stream, body = asgi_client.run(scenario())
    assert stream.ended
    assert stream.headers["content-type"] == "text/event-stream"
    assert stream.headers["cache-control"].startswith("no-cache")
    assert body.count(": keep-alive\n\n") >= 3


def test_each_person_may_hold_only_so_many_streams(demo, backend, settings):
    settings.LIVE_STREAMS_PER_USER = 2
    counselor = asgi_client.session_cookie(person("counselor"))
    administrator = asgi_client.session_cookie(person("administrator"))

    async def scenario():
        one = asgi_client.get(application, "/queues/events/", cookie=counselor)
        two = asgi_client.get(application, "/queues/events/", cookie=counselor)
        await one.opened()
        await two.opened()
        three = asgi_client.get(application, "/queues/events/", cookie=counselor)
        refused = await three.start()
        refused_body = await three.read_to_end()
        await three.close()
        someone_else = asgi_client.get(application, "/queues/events/", cookie=administrator)
        other_status = await someone_else.start()
        await someone_else.close()
        await one.close()
        again = asgi_client.get(application, "/queues/events/", cookie=counselor)
        again_status = await again.start()
        await again.close()
        await two.close()
        return refused, refused_body, three.headers, other_status, again_status

    refused, body, headers, other_status, again_status = asgi_client.run(scenario())
    assert refused == 429
    assert headers["retry-after"] == "30"
    assert "Too many live pages are open for you" in body
    assert other_status == 200
    assert again_status == 200  # closing a tab gives its place back


def test_the_stream_is_for_responders_and_signed_in_people(demo):
    teacher = asgi_client.session_cookie(person("teacher"))

    async def scenario():
        refused = asgi_client.get(application, "/queues/events/", cookie=teacher)
        anonymous = asgi_client.get(application, "/queues/events/")
        statuses = (await refused.start(), await anonymous.start(), anonymous.headers)
        await refused.close()
        await anonymous.close()
        return statuses

    refused, anonymous, headers = asgi_client.run(scenario())
    assert refused == 403
    assert anonymous == 302
    assert headers["location"] == "/accounts/login/?next=/queues/events/"


def test_the_reporter_page_stream_sends_the_route_when_it_is_decided(demo, backend):
    incident, _ = services.incident_file(
        reporter=person("teacher"),
        school=School.objects.get(code="WAS-MS"),
        narrative="A live route.",
        students=[],
        category="weapon",
        weapon="firearm",
    )
    teacher = asgi_client.session_cookie(person("teacher"))
    stranger = asgi_client.session_cookie(person("teacher2"))
    path = f"/incidents/{incident.pk}/events/"

    async def scenario():
        refused = asgi_client.get(application, path, cookie=stranger)
        refused_status = await refused.start()
        await refused.close()
        stream = asgi_client.get(application, path, cookie=teacher)
        await stream.opened()
        await sync_to_async(services.incident_route, thread_sensitive=False)(
            incident_id=incident.pk
        )
        body = await stream.read_until('"event": "routed"', timeout=5)
        await stream.close()
        return refused_status, body

    refused_status, body = asgi_client.run(scenario())
    assert refused_status == 404
    assert [e for _, e in events_in(body)] == [
        {"event": "routed", "incident": incident.pk, "route": "sro"}
    ]


WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def writes_recorded():
    """Every write statement any connection runs meanwhile, in any thread: the stream reads
    through short-lived connections of the executor's threads, not this test's."""
    writes: list[str] = []

    def record(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(WRITES):
            writes.append(sql)
        return execute(sql, params, many, context)

    def watch(sender, connection, **kwargs):
        if record not in connection.execute_wrappers:
            connection.execute_wrappers.append(record)

    for existing in connections.all(initialized_only=True):
        watch(None, existing)
    connection_created.connect(watch)
    try:
        yield writes
    finally:
        connection_created.disconnect(watch)
        for existing in connections.all(initialized_only=True):
            if record in existing.execute_wrappers:
                existing.execute_wrappers.remove(record)


def test_the_queue_page_and_a_reconnecting_stream_write_nothing(demo, backend, client):
    # Queues are opened when a school or a role is created; reading them never writes.
    counselor = person("counselor")
    cookie = asgi_client.session_cookie(counselor)
    client.force_login(counselor)
    item = counselor_item()

    async def reconnect():
        first = asgi_client.get(application, "/queues/events/", cookie=cookie)
        seen = first_id(await first.opened())
        await first.close()
        await sync_to_async(live.publish_item, thread_sensitive=False)(item, "claimed")
        with writes_recorded() as writes:
            back = asgi_client.get(
                application, "/queues/events/", cookie=cookie, headers={"Last-Event-ID": seen}
            )
            body = await back.read_until('"event": "claimed"')
            await back.close()
        return body, writes

    with writes_recorded() as page_writes:
        assert client.get("/queues/").status_code == 200
        assert client.get("/queues/?fragment=1").status_code == 200
    body, stream_writes = asgi_client.run(reconnect())
    assert [event["event"] for _, event in events_in(body)] == ["claimed"]
    assert (page_writes, stream_writes) == ([], [])


def test_one_publish_of_many_events_keeps_their_order_channels_and_ids(demo, backend):
    """A routed or delivered batch is published in one call (on Redis, one script): every
    event is logged on its own channel, in order, and published to live listeners."""
    subscriber = None
    if backend == "redis":
        subscriber = live.redis_client().pubsub(ignore_subscribe_messages=True)
        subscriber.psubscribe(live.PREFIX + "*")
        subscriber.get_message(timeout=1)  # the subscription's confirmation
    head = live._head_redis() if backend == "redis" else live._head_db()
    events = [
        ("queue:1", {"event": "arrived", "item": 1}),
        ("incident:7", {"event": "routed", "incident": 7}),
        ("queue:1", {"event": "arrived", "item": 2}),
        ("queue:2", {"event": "arrived", "item": 3}),
    ]
    live.publish(events)

    replay = live._replay_redis if backend == "redis" else live._replay_db
    since = head if backend == "redis" else int(head)
    every = replay({"queue:1", "queue:2", "incident:7"}, since)
    assert [json.loads(data) for _, data in every] == [payload for _, payload in events]
    key = live._redis_id if backend == "redis" else int
    ids = [key(event_id) for event_id, _ in every]
    assert ids == sorted(ids) and len(set(ids)) == len(events)
    one_queue = replay({"queue:1"}, since)
    assert [json.loads(data)["item"] for _, data in one_queue] == [1, 2]

    if subscriber is not None:
        heard = []
        while len(heard) < len(events):
            message = subscriber.get_message(timeout=2)
            assert message is not None, f"heard only {heard}"
            event_id, _, data = message["data"].decode().partition(" ")
            heard.append(
                (message["channel"].decode()[len(live.PREFIX) :], json.loads(data), event_id)
            )
        subscriber.close()
        assert [(channel, payload) for channel, payload, _ in heard] == events
        assert [event_id for *_, event_id in heard] == [event_id for event_id, _ in every]
