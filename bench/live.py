"""Benchmark: live streams on one web process of the production server.

Starts its own stack (a fresh PostgreSQL database, its own redis-server on a free loopback
port, the Procfile's web server (gunicorn + uvicorn workers) with ONE worker process, and a
real Celery worker), then:

  1. opens N live streams (/queues/events/, as the SRO of the demo district) and keeps them
     open, each a plain keep-alive HTTP connection reading server-sent events;
  2. with all of them open, measures the sign-in page: R requests one after another, p50/p99;
  3. files one firearm incident over the API and times, for every stream, how long after the
     POST its "arrived" event came (routing, delivery and the fan-out included).

Prints figures; asserts nothing.

    .venv/bin/python bench/live.py [--streams 1000] [--requests 200]
        [--database-url postgres://postgres@127.0.0.1:5432/triage_live_bench] [--keep]

Everything it started is stopped at the end (by process group); the database is dropped
unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline import (  # noqa: E402  (a sibling script)
    PYTHON,
    ROOT,
    VENV_BIN,
    database_drop,
    database_recreate,
    free_port,
    pct,
    redis_start,
    run_checked,
    stack_env,
    start,
    stop_all,
    wait_port,
)

# A signed-in session as a browser gets it (the user's backend as settings name it).
SESSION_FOR = """
from django.test import Client
from schools.models import User
client = Client()
client.force_login(User.objects.get(username="{username}"))
print("SESSION", client.cookies["sessionid"].value)
"""

FIREARM = json.dumps(
    {
        "school": "WAS-MS",
        "category": "weapon",
        "weapon": "firearm",
        "narrative": "A student showed a handgun in his backpack by the gym doors.",
    }
).encode()


async def http_get(port: int, path: str, headers: str = "") -> tuple[int, float]:
    """One GET on a new connection: (status, seconds to the whole response)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    data = await reader.read()
    writer.close()
    status = int(data.split(b" ", 2)[1]) if data else 0
    return status, time.perf_counter() - started


class Stream:
    def __init__(self, port: int, cookie: str) -> None:
        self.port = port
        self.cookie = cookie
        self.opened = asyncio.Event()
        self.arrived: dict[int, float] = {}  # incident id -> when its "arrived" event came
        self.error = ""
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**20)
            writer.write(
                b"GET /queues/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Cookie: sessionid={self.cookie}\r\n\r\n".encode()
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                self.error = head.split(b"\r\n", 1)[0].decode()
                self.opened.set()
                return
            buffer = b""
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buffer += chunk
                if not self.opened.is_set() and re.search(rb"\nid: \S+\n", buffer):
                    self.opened.set()
                for match in re.finditer(rb'"event": "arrived", [^\n]*"incident": (\d+)', buffer):
                    self.arrived.setdefault(int(match.group(1)), time.perf_counter())
                buffer = buffer[-4096:]
        except Exception as error:  # a stream that fails is counted, not fatal
            self.error = repr(error)
            self.opened.set()


async def scenario(port: int, cookie: str, token: str, streams_n: int, requests_n: int) -> None:
    streams = [Stream(port, cookie) for _ in range(streams_n)]
    started = time.perf_counter()
    for i, stream in enumerate(streams):
        stream.task = asyncio.create_task(stream.run())
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # a morning's logins, not one SYN flood
    await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in streams)), 300)
    failed = [s.error for s in streams if s.error]
    print(
        f"opened {streams_n - len(failed)}/{streams_n} streams in "
        f"{time.perf_counter() - started:.1f} s"
        + (f"; failures: {sorted(set(failed))[:3]}" if failed else ""),
        flush=True,
    )
    await asyncio.sleep(2)

    latencies = []
    statuses = set()
    for _ in range(requests_n):
        status, seconds = await http_get(port, "/accounts/login/")
        statuses.add(status)
        latencies.append(seconds * 1000)
    print(
        f"sign-in page with {streams_n} streams open: {requests_n} requests, "
        f"p50 {pct(latencies, 50):.0f} ms  p99 {pct(latencies, 99):.0f} ms  "
        f"max {max(latencies):.0f} ms  (status {sorted(statuses)})",
        flush=True,
    )

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    posted = time.perf_counter()
    writer.write(
        b"POST /api/incidents/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Token {token}\r\nContent-Length: {len(FIREARM)}\r\n".encode()
        + b"Connection: close\r\n\r\n"
        + FIREARM
    )
    await writer.drain()
    body = await reader.read()
    writer.close()
    incident_id = json.loads(body.split(b"\r\n\r\n", 1)[1])["id"]
    live = [s for s in streams if not s.error]
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and any(incident_id not in s.arrived for s in live):
        await asyncio.sleep(0.05)
    reached = [(s.arrived[incident_id] - posted) * 1000 for s in live if incident_id in s.arrived]
    if reached:
        print(
            f"one filed incident reached {len(reached)}/{len(live)} streams: "
            f"first {min(reached):.0f} ms  p50 {pct(reached, 50):.0f} ms  "
            f"p99 {pct(reached, 99):.0f} ms  last {max(reached):.0f} ms after the POST",
            flush=True,
        )
    else:
        print("the filed incident reached no stream within 60 s", flush=True)
    for s in streams:
        s.task.cancel()
    await asyncio.gather(*(s.task for s in streams), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/triage_live_bench"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args()

    # Each stream is a socket here and one in the web worker: lift the open-files limit.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logdir = tempfile.mkdtemp(prefix="triage-live-bench-")
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.monotonic()
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs before starting",
        flush=True,
    )
    database_recreate(args.database_url)
    try:
        broker = redis_start(logdir)
        port = free_port()
        env = dict(
            stack_env(args.database_url, broker),
            TRIAGE_LIVE_STREAMS_PER_USER=str(args.streams + 10),
            PORT=str(port),
            WEB_CONCURRENCY="1",
        )
        manage = [PYTHON, os.path.join(ROOT, "manage.py")]
        run_checked([*manage, "migrate", "--noinput", "-v", "0"], env)
        run_checked([*manage, "seed_demo"], env)
        run_checked([*manage, "collectstatic", "--noinput", "-v", "0"], env)
        token = re.search(
            r"Generated token (\w+)", run_checked([*manage, "drf_create_token", "teacher"], env)
        ).group(1)
        cookie = re.search(
            r"SESSION (\w+)",
            run_checked([*manage, "shell", "-c", SESSION_FOR.format(username="sro")], env),
        ).group(1)
        web_line = next(
            line.removeprefix("web:").strip()
            for line in open(os.path.join(ROOT, "Procfile")).read().splitlines()
            if line.startswith("web:")
        )
        web = start("web", ["bash", "-c", f"exec {web_line}"], env, logdir)
        worker = start(
            "worker",
            [os.path.join(VENV_BIN, "celery"), "-A", "triage", "worker", "--concurrency", "2"]
            + ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
            env,
            logdir,
        )
        wait_port(port, web, "web")
        time.sleep(3)  # the worker connects to the broker
        if worker.poll() is not None:
            sys.exit("the Celery worker exited; see its log")
        print(
            f"== {web_line.split()[0].rsplit('/', 1)[-1]} (uvicorn worker) x1 on :{port}, "
            f"{args.streams} streams, prepared in {time.monotonic() - t_start:.0f} s",
            flush=True,
        )
        asyncio.run(scenario(port, cookie, token, args.streams, args.requests))
    finally:
        stop_all()
        if args.keep:
            print(f"kept database {args.database_url} and logs in {logdir}")
        else:
            database_drop(args.database_url)
            shutil.rmtree(logdir, ignore_errors=True)
    print(f"total {time.monotonic() - t_start:.0f} s")


if __name__ == "__main__":
    main()
