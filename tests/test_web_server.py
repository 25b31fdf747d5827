"""The Procfile's `web:` line is the production server, and `make run` runs it: started here as
written, on the PORT given, it serves pages, static files and a live stream."""

import os
import re
import signal
import subprocess
import urllib.request

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import user_with_role
from tests.processes import ROOT, free_port, subprocess_env, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)
# ruff: noqa: S310 - loopback http:// URLs this test builds itself


def web_command() -> str:
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    return line.removeprefix("web:").strip()


def test_the_procfile_web_line_is_gunicorn_with_uvicorn_workers_bound_to_port():
    command = web_command()
    assert command.startswith(".venv/bin/gunicorn triage.asgi:application ")
    assert "--bind ${HOST:-127.0.0.1}:${PORT:-8000}" in command
    makefile = (ROOT / "Makefile").read_text()
    assert "honcho -f Procfile start -p $(PORT)" in makefile
    assert "runserver" not in makefile


def test_the_web_server_serves_pages_static_files_and_a_live_stream_on_port(school, tmp_path):
    port = free_port()
    counselor = user_with_role("counselor", school)
    client = Client()
    client.force_login(counselor)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    log_path = tmp_path / "web.log"
    broker = settings.CELERY_BROKER_URL
    env = subprocess_env(broker, PORT=str(port), WEB_CONCURRENCY="1")
    env.pop("SITE_URL", None)
    if not settings.REDIS_URL:
        env["REDIS_URL"] = ""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["bash", "-c", f"exec {web_command()}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, timeout=30)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/accounts/login/", timeout=10) as page:
            assert page.status == 200
            assert "Sign in" in page.read().decode()
        with urllib.request.urlopen(f"{base}/static/css/app.css", timeout=10) as css:
            assert css.status == 200
            assert css.headers["Content-Type"].startswith("text/css")
        request = urllib.request.Request(f"{base}/queues/events/", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=10) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            assert stream.readline() == b"retry: 2000\n"
            assert stream.readline() == b"\n"
            assert re.fullmatch(rb"id: \S+\n", stream.readline())
        output = log_path.read_text()
        assert f"The product is running at http://127.0.0.1:{port}/" in output
        assert "uvicorn_worker.UvicornWorker" in output
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
