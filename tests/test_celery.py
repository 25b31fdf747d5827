"""The Celery app: every task mapped to a named queue, and a real worker consumes them all."""

import pytest
from celery import Celery

from tests.processes import broker_for_tests, running_worker
from triage.celery import QUEUE_NAMES, app


def test_each_queue_has_its_own_routing_key():
    assert {q.name: q.routing_key for q in app.conf.task_queues} == {n: n for n in QUEUE_NAMES}
    assert set(QUEUE_NAMES) >= {
        "routing",
        "responder.counselor",
        "responder.administrator",
        "responder.co_responder",
        "responder.sro",
    }


def test_every_product_task_is_routed_to_a_declared_queue():
    app.loader.import_default_modules()
    product_tasks = [name for name in app.tasks if name.split(".")[0] in {"incidents", "policies"}]
    for name in product_tasks:
        route = app.amqp.router.route({}, name)
        assert route["queue"].name in QUEUE_NAMES, name


@pytest.mark.django_db(transaction=True)
def test_a_worker_without_q_consumes_every_queue(tmp_path):
    broker_url, server = broker_for_tests()
    try:
        with running_worker(broker_url, tmp_path / "worker.log"):
            client = Celery("probe", broker=broker_url)
            replies = client.control.inspect(timeout=5).active_queues()
            assert replies, "the worker did not answer"
            (queues,) = replies.values()
            assert {q["name"] for q in queues} == set(QUEUE_NAMES)
    finally:
        if server:
            server.stop()
