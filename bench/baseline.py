"""Baseline for bench/pipeline.py: the bare minimum the incident pipeline could cost.

A create endpoint that INSERTs one row with raw SQL and, after commit, sends a no-op Celery
task on the "routing" queue that stamps ``queued_at``. Same gunicorn, worker, PostgreSQL and
Redis as the product run, so product / baseline isolates the product's own work.

Served with DJANGO_SETTINGS_MODULE=bench.bench_settings (ROOT_URLCONF points here) and
consumed by ``celery -A bench.baseline worker`` (``app`` below is triage.celery.app with
this module's task registered). The table is created by bench/pipeline.py:

    CREATE TABLE bench_baseline (id bigserial PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(), queued_at timestamptz)
"""

from django.db import connection, transaction
from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from triage.celery import app

__all__ = ("app", "noop", "urlpatterns")


@app.task(name="bench.baseline.noop", ignore_result=True)
def noop(row_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE bench_baseline SET queued_at = now() WHERE id = %s", [row_id])


@csrf_exempt
def create(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_baseline DEFAULT VALUES RETURNING id")
            row_id = cursor.fetchone()[0]
        transaction.on_commit(
            lambda: noop.apply_async(
                args=[row_id], queue="routing", routing_key="routing", retry=False
            )
        )
    return JsonResponse({"id": row_id}, status=201)


urlpatterns = [path("api/incidents/", create)]
