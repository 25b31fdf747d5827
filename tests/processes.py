"""Start and stop the real processes integration and fault tests need: Redis and Celery workers.

Tests kill only the processes they started here.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class RedisServer:
    """A private redis-server on a free loopback port, that a test may stop and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


def database_url_for_subprocess() -> str:
    """The URL of the database this test run uses (pytest-django's test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
        f"/{db['NAME']}"
    )


def subprocess_env(broker_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url_for_subprocess(),
        CELERY_BROKER_URL=broker_url,
        REDIS_URL=broker_url,
        DJANGO_SETTINGS_MODULE="triage.settings",
        PYTHONUNBUFFERED="1",
        DATABASE_CONN_MAX_AGE="0",
    )
    env.update(extra)  # a test may set any of these, e.g. connections kept between tasks
    return env


class CeleryProcess:
    """A real `celery -A triage <command>` process in its own process group, logging to a file."""

    def __init__(self, broker_url: str, log_path: Path, command: list[str], **env: str) -> None:
        self.broker_url = broker_url
        self.log_path = log_path
        self.command = command
        self.env = env
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "triage", *self.command],
            cwd=ROOT,
            env=subprocess_env(self.broker_url, **self.env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log:
            self._log.close()


class Worker(CeleryProcess):
    """A real `celery -A triage worker` process."""

    def __init__(self, broker_url: str, log_path: Path, *args: str, **env: str) -> None:
        command = [
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            *args,
        ]
        super().__init__(broker_url, log_path, command, **env)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            if b"ready." in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready: {self.log_path.read_text()[-3000:]}")


@contextmanager
def running_worker(broker_url: str, log_path: Path, *args: str, **env: str):
    worker = Worker(broker_url, log_path, *args, **env)
    worker.start()
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


def broker_for_tests() -> tuple[str, RedisServer | None]:
    """The configured Redis broker (CI), or a private redis-server when none is configured."""
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        return settings.CELERY_BROKER_URL, None
    server = RedisServer()
    server.start()
    return server.url, server


class Beat(CeleryProcess):
    """A real `celery -A triage beat` process with its schedule file in a temp folder."""

    def __init__(self, broker_url: str, folder: Path, **env: str) -> None:
        command = ["beat", "--loglevel=INFO", f"--schedule={folder / 'beat-schedule'}"]
        super().__init__(broker_url, folder / "beat.log", command, **env)
        self.start()


@contextmanager
def app_using_broker(url: str):
    """Point this process's Celery app (used by services to send tasks) at another broker,
    and its Redis (the routing wake-up, live updates) at the same server, as the workers'."""
    from triage import redis as triage_redis
    from triage.celery import app

    def reset() -> None:
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.__dict__.get("amqp") and setattr(app.amqp, "_producer_pool", None)

    saved = app.conf.broker_url
    saved_options = dict(app.conf.broker_transport_options or {})
    redis_options = saved_options or {  # the embedded default broker has none: use Redis's
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
    }
    reset()
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    saved_env = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    app.conf.broker_transport_options = {**redis_options, "visibility_timeout": 10}
    saved_redis_url = settings.REDIS_URL
    settings.REDIS_URL = url
    triage_redis.client.cache_clear()
    try:
        yield app
    finally:
        reset()
        settings.REDIS_URL = saved_redis_url
        triage_redis.client.cache_clear()
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        app.conf.broker_url = saved
        app.conf.broker_transport_options = saved_options


def wait_until(predicate, timeout: float, interval: float = 0.25, message: str = "") -> float:
    """Poll until predicate() is true; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    raise TimeoutError(message or f"condition not met within {timeout}s")
