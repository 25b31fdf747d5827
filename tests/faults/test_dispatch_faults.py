"""Nothing accepted is lost or delivered twice: real worker, real broker, real failures.

Each test starts its own Redis on a free loopback port and its own worker (and beat) and
kills only those.
"""

import time
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from incidents import services
from incidents.models import Incident, QueueItem, TimelineEvent
from incidents.tasks import incident_route_task
from tests.conftest import api_client_for
from tests.processes import Beat, Worker, running_worker, wait_until

FAST = {"CELERY_VISIBILITY_TIMEOUT": "10", "TRIAGE_SWEEP_SECONDS": "1"}


def file_many(school, teacher, n: int, category: str = "emotional_crisis") -> list[int]:
    ids = []
    for i in range(n):
        incident, _ = services.incident_file(
            reporter=teacher, school=school, category=category, narrative=f"incident {i}"
        )
        ids.append(incident.pk)
    return ids


def assert_routed_exactly_once(ids: list[int]) -> None:
    assert Incident.objects.filter(pk__in=ids, route__isnull=True).count() == 0
    routed_events = (
        TimelineEvent.objects.filter(incident_id__in=ids, kind="routed")
        .values("incident_id")
        .annotate(n=Count("id"))
    )
    assert sorted(e["n"] for e in routed_events) == [1] * len(ids)
    items = (
        QueueItem.objects.filter(incident_id__in=ids, origin="routing")
        .values("incident_id")
        .annotate(n=Count("id"))
    )
    assert sorted(e["n"] for e in items) == [1] * len(ids)


def routed_count(ids) -> int:
    return Incident.objects.filter(pk__in=ids, route__isnull=False).count()


def test_worker_killed_mid_batch_then_restarted_routes_everything_once(setting, broker, tmp_path):
    school, teacher = setting
    worker = Worker(broker, tmp_path / "worker-1.log", **FAST)
    worker.start()
    try:
        worker.wait_ready()
        ids = file_many(school, teacher, 150)
        # Kill it (SIGKILL, pool children too) once it is part-way through the batch.
        wait_until(lambda: routed_count(ids) >= 5, 60, 0.02, "the worker routed nothing")
    finally:
        worker.kill()
    done_before_restart = routed_count(ids)
    assert done_before_restart < len(ids), "the batch finished before the kill; file more"

    beat = Beat(broker, tmp_path, **FAST)
    try:
        with running_worker(broker, tmp_path / "worker-2.log", **FAST):
            wait_until(
                lambda: routed_count(ids) == len(ids),
                90,
                0.5,
                f"{len(ids) - routed_count(ids)} incidents never routed",
            )
            time.sleep(3)  # let redelivered duplicates arrive: they must change nothing
    finally:
        beat.stop()
    assert_routed_exactly_once(ids)


def test_redis_down_while_filing_every_request_succeeds_and_routes_after(
    setting, broker, redis_server, tmp_path
):
    school, teacher = setting
    redis_server.stop()
    client = api_client_for(teacher)
    ids = []
    for i in range(20):
        started = time.monotonic()
        response = client.post(
            "/api/incidents/",
            {"school": school.code, "category": "theft", "narrative": f"while redis is down {i}"},
            format="json",
        )
        assert response.status_code == 201, response.content
        assert time.monotonic() - started < 5, "filing waited on the broker"
        ids.append(response.json()["id"])
    assert routed_count(ids) == 0

    redis_server.start()  # same port: the broker comes back
    back_at = time.monotonic()
    beat = Beat(broker, tmp_path, **FAST)
    try:
        with running_worker(broker, tmp_path / "worker.log", **FAST):
            wait_until(
                lambda: routed_count(ids) == len(ids),
                60,
                0.5,
                f"{len(ids) - routed_count(ids)} incidents not routed within a minute",
            )
    finally:
        beat.stop()
    assert time.monotonic() - back_at < 60
    assert_routed_exactly_once(ids)


def test_under_load_a_real_worker_routes_a_filings_message_a_moment_later(
    setting, broker, tmp_path
):
    """After a big task the worker puts a filing's message off by ROUTING_COALESCE_S (a
    countdown message, the wake-up held), then routes it, once."""
    from triage.redis import client

    school, teacher = setting
    bursts = []
    with running_worker(broker, tmp_path / "worker.log", **FAST):
        for _ in range(2):  # two big tasks in a row
            # A burst that waits for one message: the wake-up held, the filings send none.
            client().set(services.routing_wakeup_key(), "1", px=60_000)
            burst = file_many(school, teacher, services.ROUTING_BUSY + 5)
            incident_route_task.apply_async(args=[burst[0]], kwargs={"coalesce": False})
            wait_until(lambda burst=burst: routed_count(burst) == len(burst), 60)
            bursts += burst
        (calm,) = file_many(school, teacher, 1)  # the task cleared the wake-up: this one sends
        wait_until(lambda: routed_count([calm]) == 1, 30)
    calm = Incident.objects.get(pk=calm)
    assert calm.routed_at - calm.filed_at >= timedelta(seconds=services.ROUTING_COALESCE_S)
    assert_routed_exactly_once([*bursts, calm.pk])


def test_the_same_routing_message_twice_gives_one_decision_and_one_item(setting, broker, tmp_path):
    school, teacher = setting
    incident, _ = services.incident_file(
        reporter=teacher, school=school, category="weapon", weapon="firearm", narrative="gun"
    )
    for _ in range(3):
        incident_route_task.apply_async(args=[incident.pk])
    with running_worker(broker, tmp_path / "worker.log", **FAST):
        wait_until(lambda: routed_count([incident.pk]) == 1, 30)
        time.sleep(2)
    assert_routed_exactly_once([incident.pk])
    # The administrator notification is one item too.
    assert list(
        QueueItem.objects.filter(incident=incident)
        .values_list("route", "origin")
        .order_by("urgency")
    ) == [("sro", "routing"), ("administrator", "notify")]


def test_unacknowledged_sro_item_escalates_on_time_and_only_once(setting, broker, tmp_path):
    school, teacher = setting
    district = school.district
    district.ack_deadlines = {"sro": 0.1}  # six seconds
    district.save()
    incident, _ = services.incident_file(
        reporter=teacher, school=school, category="weapon", weapon="firearm", narrative="gun"
    )
    beat = Beat(broker, tmp_path, **FAST)
    try:
        with running_worker(broker, tmp_path / "worker.log", **FAST):
            wait_until(lambda: routed_count([incident.pk]) == 1, 30)
            item = QueueItem.objects.get(incident=incident, route="sro")
            assert item.ack_deadline - item.queued_at == timedelta(seconds=6)
            wait_until(
                lambda: TimelineEvent.objects.filter(incident=incident, kind="escalated").exists(),
                20,
                0.2,
                "the sro item never escalated",
            )
            first = TimelineEvent.objects.get(incident=incident, kind="escalated")
            late_by = (first.at - item.ack_deadline).total_seconds()
            assert 0 <= late_by < 4, f"escalated {late_by:.1f}s after the deadline"
            assert first.data["level"] == 1 and first.data["to"] == "school_administrators"
            time.sleep(3)  # several more beat ticks before the next level is due
            assert TimelineEvent.objects.filter(incident=incident, kind="escalated").count() == 1
            wait_until(
                lambda: (
                    TimelineEvent.objects.filter(incident=incident, kind="escalated").count() == 2
                ),
                20,
                0.2,
            )
            time.sleep(8)  # past another deadline: there is no third level
    finally:
        beat.stop()
    levels = list(
        TimelineEvent.objects.filter(incident=incident, kind="escalated")
        .order_by("at")
        .values_list("data__level", flat=True)
    )
    assert levels == [1, 2]
    assert timezone.now() > item.ack_deadline


def test_database_unreachable_for_a_while_then_every_incident_routes_once(
    setting, broker, tmp_path
):
    """PostgreSQL refuses connections and drops the worker's: the routing tasks fail, retry with
    back-off, and route everything exactly once when the database is back."""
    import pytest
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: it closes the database to new connections")
    import psycopg
    import psycopg.sql
    from django.db import close_old_connections

    school, teacher = setting
    db = connection.settings_dict
    name = db["NAME"]

    def as_admin(sql, params=()) -> None:  # from another database: one cannot close one's own
        with psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"] or None,
            dbname="postgres",
            autocommit=True,
        ) as admin:
            admin.execute(sql, params)

    allow = psycopg.sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}")
    beat = Beat(broker, tmp_path, **FAST)
    try:
        with running_worker(broker, tmp_path / "worker.log", **FAST):
            warm = file_many(school, teacher, 3)
            wait_until(lambda: routed_count(warm) == 3, 30, 0.2, "the worker routed nothing")
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                (mine,) = cursor.fetchone()
            # This test's connection stays (it files the incidents); no other gets in.
            as_admin(allow.format(psycopg.sql.Identifier(name), psycopg.sql.SQL("false")))
            as_admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> %s",
                (name, mine),
            )
            try:
                ids = file_many(school, teacher, 30)
                time.sleep(5)  # the worker's tasks fail to connect meanwhile
                assert routed_count(ids) == 0
            finally:
                as_admin(allow.format(psycopg.sql.Identifier(name), psycopg.sql.SQL("true")))
            wait_until(
                lambda: routed_count(ids) == len(ids),
                90,
                0.5,
                f"{len(ids) - routed_count(ids)} incidents never routed after the outage",
            )
            time.sleep(2)  # retries and re-sends still in flight must change nothing

            # A restart drops every connection, this process's pooled one too. Each request
            # starts by handing its connection back (Django's request_started signal; the test
            # client skips it, so it is called here) and gets one the pool has checked.
            as_admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            close_old_connections()
            ids += file_many(school, teacher, 1)
            wait_until(lambda: routed_count(ids) == len(ids), 60, 0.5, "not routed after restart")
    finally:
        beat.stop()
    assert_routed_exactly_once(warm + ids)


def test_a_worker_child_keeps_its_connection_and_replaces_one_the_database_dropped(
    setting, broker, tmp_path
):
    """Prefork children keep one connection between tasks (DATABASE_CONN_MAX_AGE); one that
    PostgreSQL dropped meanwhile is found broken before the next task uses it, and replaced."""
    import pytest
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's view of its backends")
    import psycopg

    school, teacher = setting
    db = connection.settings_dict

    def backends() -> dict[int, object]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, backend_start FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [db["NAME"]],
            )
            return dict(cursor.fetchall())

    ours = backends()  # this test process's other pooled connections

    def worker_backends() -> dict[int, object]:
        return {pid: start for pid, start in backends().items() if pid not in ours}

    with running_worker(broker, tmp_path / "worker.log", DATABASE_CONN_MAX_AGE="60", **FAST):
        first = file_many(school, teacher, 3)
        wait_until(lambda: routed_count(first) == 3, 30, 0.1, "the worker routed nothing")
        time.sleep(0.5)  # the children's deliveries, on their queues, are done too
        kept = worker_backends()
        assert 1 <= len(kept) <= 2  # one connection per child, left open after its tasks
        more = []
        for _ in range(4):  # one at a time: each its own routing task
            (one,) = file_many(school, teacher, 1)
            more.append(one)
            wait_until(lambda one=one: routed_count([one]) == 1, 30, 0.1, "not routed")
        time.sleep(0.5)
        now = worker_backends()
        # The connections open before are still open, and no more than one per child: the
        # other child may have made its first one meanwhile, none was made per task.
        assert kept.items() <= now.items() and len(now) <= 2
        kept = now

        with psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"] or None,
            dbname="postgres",
            autocommit=True,
        ) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)",
                [list(kept)],
            )
        after = file_many(school, teacher, 3)
        # Routed at once by the tasks' new connections (not by a retry after a failure).
        wait_until(lambda: routed_count(after) == 3, 10, 0.1, "not routed after the drop")
        assert not set(worker_backends()) & set(kept)
    assert_routed_exactly_once(first + more + after)
    log = (tmp_path / "worker.log").read_text()
    assert "Retry in" not in log and "OperationalError" not in log
