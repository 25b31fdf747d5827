"""The Celery app: every task mapped to a named queue, and real workers consume them all."""

from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from tests.processes import broker_for_tests, running_worker
from triage.celery import QUEUE_NAMES, app

PROCFILE = Path(settings.BASE_DIR) / "Procfile"


def test_each_queue_has_its_own_routing_key():
    assert {q.name: q.routing_key for q in app.conf.task_queues} == {n: n for n in QUEUE_NAMES}
    assert set(QUEUE_NAMES) >= {
        "routing",
        "responder.counselor",
        "responder.administrator",
        "responder.co_responder",
        "responder.sro",
        "webhooks",
    }


def product_tasks() -> list[str]:
    """Every task the product registers, in every app (Celery's own are not ours)."""
    import importlib

    from django.apps import apps

    for config in apps.get_app_configs():
        try:
            importlib.import_module(f"{config.name}.tasks")
        except ModuleNotFoundError as missing:
            if missing.name != f"{config.name}.tasks":
                raise
    ours = {config.name.split(".")[0] for config in apps.get_app_configs()} - {"django"}
    return sorted(name for name in app.tasks if name.split(".")[0] in ours)


def test_every_product_task_has_an_explicit_route_to_a_declared_queue():
    # An explicit route, not the router's answer: a task without one falls to the default
    # queue, which is declared too, so asking the router could never fail.
    tasks = product_tasks()
    assert set(tasks) >= {
        "incidents.tasks.incident_route_task",
        "incidents.tasks.deliver_task",
        "incidents.tasks.sweep_unrouted",
        "incidents.tasks.escalate_overdue",
        "incidents.tasks.webhook_task",
        "reports.tasks.replay_run_task",
        "schools.tasks.oneroster_sync",
    }
    unrouted = [name for name in tasks if name not in app.conf.task_routes]
    assert unrouted == [], "tasks with no route in CELERY_TASK_ROUTES (triage/settings.py)"
    for name in tasks:
        route = app.conf.task_routes[name]
        assert route["queue"] in QUEUE_NAMES, name
        assert route["routing_key"] == route["queue"], name


@pytest.mark.django_db(transaction=True)
def test_a_worker_without_q_consumes_every_queue(tmp_path):
    broker_url, server = broker_for_tests()
    try:
        with running_worker(broker_url, tmp_path / "worker.log"):
            client = Celery("probe", broker=broker_url, set_as_current=False)
            replies = client.control.inspect(timeout=5).active_queues()
            assert replies, "the worker did not answer"
            (queues,) = replies.values()
            assert {q["name"] for q in queues} == set(QUEUE_NAMES)
    finally:
        if server:
            server.stop()


def test_the_procfile_workers_consume_every_queue_and_routing_has_its_own():
    # `make run` starts the Procfile. Routing has a worker of its own, so a routing message
    # never waits for a child busy with deliveries; the other worker takes every other
    # declared queue (-X routing), so a queue added later is consumed without a change here.
    workers = {
        name: command.split()
        for name, command in (
            line.split(":", 1) for line in PROCFILE.read_text().splitlines() if ":" in line
        )
        if "worker" in command.split()
    }
    assert set(workers) == {"worker", "routing"}
    for argv in workers.values():
        assert argv[argv.index("-A") + 1 : argv.index("-A") + 3] == ["triage", "worker"]
    assert workers["routing"][workers["routing"].index("-Q") + 1] == "routing"
    assert "-Q" not in workers["worker"]
    assert workers["worker"][workers["worker"].index("-X") + 1] == "routing"
    # Two workers on one host need two names.
    assert workers["routing"][workers["routing"].index("-n") + 1].startswith("routing@")


@pytest.mark.django_db(transaction=True)
def test_the_procfile_workers_split_the_queues_between_them(tmp_path):
    broker_url, server = broker_for_tests()
    try:
        consumed = {}
        for name in ("worker", "routing"):
            (argv,) = [
                line.split(":", 1)[1].split()
                for line in PROCFILE.read_text().splitlines()
                if line.startswith(f"{name}:")
            ]
            options = argv[argv.index("worker") + 1 :]
            options = [o for o in options if not o.startswith(("--loglevel", "--concurrency"))]
            if "-n" in options:  # this test's own name, as two workers on one host need
                options[options.index("-n") + 1] = f"{name}-test@%h"
            with running_worker(broker_url, tmp_path / f"{name}.log", *options):
                client = Celery("probe", broker=broker_url, set_as_current=False)
                replies = client.control.inspect(timeout=5).active_queues()
                assert replies, f"the {name} worker did not answer"
                (queues,) = replies.values()
                consumed[name] = {q["name"] for q in queues}
        assert consumed["routing"] == {"routing"}
        assert consumed["worker"] == set(QUEUE_NAMES) - {"routing"}
    finally:
        if server:
            server.stop()


def test_each_delivery_is_sent_to_its_routes_queue(monkeypatch):
    from incidents import services, tasks

    sent = []
    monkeypatch.setattr(
        tasks.deliver_task, "apply_async", lambda args, **options: sent.append((args, options))
    )
    for item_id, route in enumerate(("sro", "co_responder", "counselor", "administrator")):
        services.queue_items_deliver_later(item_ids=[item_id, item_id + 10], route=route)
    assert [(args, o["queue"], o["routing_key"]) for args, o in sent] == [
        ([[0, 10]], "responder.sro", "responder.sro"),
        ([[1, 11]], "responder.co_responder", "responder.co_responder"),
        ([[2, 12]], "responder.counselor", "responder.counselor"),
        ([[3, 13]], "responder.administrator", "responder.administrator"),
    ]
    assert app.amqp.router.route({}, "incidents.tasks.incident_route_task")["queue"].name == (
        "routing"
    )


def test_the_roster_sync_runs_on_the_maintenance_queue_from_beat():
    import schools.tasks  # noqa: F401

    assert app.amqp.router.route({}, "schools.tasks.oneroster_sync")["queue"].name == (
        "maintenance"
    )
    assert app.conf.beat_schedule["oneroster-sync"]["task"] == "schools.tasks.oneroster_sync"


def test_webhooks_have_their_own_queue():
    # A receiver that is slow or down retries for minutes: never in front of escalation.
    assert app.amqp.router.route({}, "incidents.tasks.webhook_task")["queue"].name == "webhooks"
    others = {
        route["queue"] for name, route in app.conf.task_routes.items() if "webhook" not in name
    }
    assert "webhooks" not in others


def test_no_retry_waits_in_a_worker_past_the_broker_visibility_timeout():
    # A retry is an ETA message: Redis hands it to a worker at once, which holds it
    # unacknowledged until the countdown ends and the task has run (acks_late). Held longer
    # than the visibility timeout, Redis delivers it to a second worker too.
    retrying = {}
    for name in product_tasks():
        task = app.tasks[name]
        if not getattr(task, "autoretry_for", ()):
            continue
        longest_countdown = (
            task.retry_backoff_max if task.retry_backoff else task.default_retry_delay
        )
        retrying[name] = longest_countdown + (task.time_limit or app.conf.task_time_limit)
    assert {"incidents.tasks.webhook_task", "incidents.tasks.deliver_task"} <= set(retrying)
    visibility_timeout = settings.BROKER_VISIBILITY_TIMEOUT
    assert {name: held for name, held in retrying.items() if held >= visibility_timeout} == {}
    if settings.BROKER_IS_REDIS:
        assert app.conf.broker_transport_options["visibility_timeout"] == visibility_timeout
