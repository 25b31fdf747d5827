"""Benchmark: the filing pipeline end to end, HTTP POST -> PostgreSQL -> Celery -> queue item.

Starts its own stack (a fresh PostgreSQL database, its own redis-server on a free loopback
port, gunicorn gthread and real Celery workers (prefork, as the product runs them), each in its
own process group), then:

  1. saturation: N incidents over HTTP from C concurrent keep-alive clients, as fast as the
     stack takes them; waits until every incident has its routing QueueItem;
  2. paced: open-loop at R incidents/s (sent on a fixed schedule whatever the responses do);
  3. the same two runs against a baseline on the same stack: a bare create endpoint (one raw
     INSERT) and a no-op Celery task on the "routing" queue that stamps queued_at
     (bench/baseline.py, served with DJANGO_SETTINGS_MODULE=bench.bench_settings).

Filed-to-queued latency comes from the stored timestamps (QueueItem.queued_at of the
"routing" item minus Incident.filed_at; baseline: queued_at - created_at). End-to-end
throughput is N / (first POST -> last queued_at). For the product it also prints queued ->
delivered (QueueItem.delivered_at: the members told), how many routing transactions and
delivery tasks did the work and, for the saturation run, the CPU time each component used per
incident (read from /proc: web, each Celery worker, redis, this load generator and the
PostgreSQL backends of the bench database), which stays meaningful when other work shares the
machine. Prints figures; asserts nothing.

    .venv/bin/python bench/pipeline.py [--incidents 3000] [--concurrency 16] [--rate 50]
        [--paced-incidents 1000] [--database-url postgres://postgres@127.0.0.1:5432/triage_bench]
        [--broker redis://...] [--web-workers 2] [--web-threads 8] [--pool prefork|threads]
        [--worker-concurrency 2] [--routing-concurrency 1] [--one-worker] [--skip-baseline]
        [--keep] [--profile] [--repeat 1]

--repeat N adds N - 1 more saturation pairs (product and baseline in turn, the baseline first
every other time) and takes the targets from the medians of the pairs' ratios: on a shared
2-core machine one pair's ratio moved between 0.6x and 0.9x from run to run.

The product's Celery workers are laid out as the Procfile runs them: one for the "routing"
queue (--routing-concurrency children) and one for every other queue (--worker-concurrency
children); --one-worker: a single worker for every queue, the layout before.

--profile runs the product's web processes under cProfile (bench/profile_wsgi.py; py-spy is
not in the venv) during the saturation run and prints where their CPU went: by component
(self time per package) and the costliest calls per request. A profiled run is slower; take
the throughput figures from a run without it.

Everything it started is stopped at the end (by process group); the database is dropped
unless --keep (which also keeps the logs and prints where they are).
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import json
import math
import os
import pstats
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
PYTHON = os.path.join(VENV_BIN, "python")

import psycopg  # noqa: E402  (the project's venv has it)
import redis  # noqa: E402

BODY = json.dumps(
    {
        "school": "WAS-MS",
        "category": "emotional_crisis",
        "narrative": "Student crying in the hallway after lunch, says nobody listens; "
        "calmed down with a teacher but asked to talk to someone.",
    }
).encode()

# ------------------------------------------------------------------------ processes

STARTED: list[tuple[str, subprocess.Popen]] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name: str, argv: list[str], env: dict, logdir: str) -> subprocess.Popen:
    log = open(os.path.join(logdir, f"{name}.log"), "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    STARTED.append((name, proc))
    return proc


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Stop one process we started, and its children: it leads its own process group."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:  # children (worker pool, gunicorn workers) that outlived the leader
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    for i, (_n, p) in enumerate(STARTED):
        if p is proc:
            del STARTED[i]
            break


def stop_all() -> None:
    for _name, proc in reversed(list(STARTED)):
        stop(proc)


def run_checked(argv: list[str], env: dict) -> str:
    out = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def wait_port(port: int, proc: subprocess.Popen, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited with {proc.returncode}; see its log")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{name} did not listen on {port} within {timeout}s")


# ------------------------------------------------------------------------ database


def admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        sys.exit(f"refusing database name {name!r}")
    return urlunsplit(parts._replace(path="/postgres", scheme="postgresql")), name


def pg_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


def database_recreate(url: str) -> None:
    admin, name = admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(url: str) -> None:
    admin, name = admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_start(logdir: str) -> str:
    """A redis-server of our own on a free loopback port (stopped with the rest): its URL."""
    rport = free_port()
    rdir = os.path.join(logdir, "redis")
    os.makedirs(rdir)
    rproc = start(
        "redis",
        [
            "redis-server",
            "--port",
            str(rport),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            rdir,
            "--protected-mode",
            "yes",
        ],
        os.environ.copy(),
        logdir,
    )
    wait_port(rport, rproc, "redis-server")
    print(f"redis-server on 127.0.0.1:{rport}", flush=True)
    return f"redis://127.0.0.1:{rport}/0"


def stack_env(database_url: str, broker_url: str) -> dict:
    """The environment a benchmark's product processes run with: this one's, without its own
    settings of the product, pointed at the benchmark's database and Redis."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_", "REDIS_", "SITE_URL"))
    }
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        REDIS_URL=broker_url,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-" + "x" * 60,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="triage.settings",
    )
    return env


def stack_prepare(database_url: str, broker_url: str) -> tuple[dict, str]:
    """The filing stacks' environment, and a fresh database made ready for both (migrated,
    the demo district, the baseline's table): returns (env, the teacher's API token)."""
    # One load-generator user files thousands of incidents: no per-user API rate.
    env = dict(stack_env(database_url, broker_url), DJANGO_API_THROTTLE_USER="off")
    manage = [PYTHON, os.path.join(ROOT, "manage.py")]
    run_checked([*manage, "migrate", "--noinput", "-v", "0"], env)
    run_checked([*manage, "seed_demo"], env)
    out = run_checked([*manage, "drf_create_token", "teacher"], env)
    m = re.search(r"Generated token (\w+) for user teacher", out)
    if not m:
        sys.exit(f"no token in: {out!r}")
    with psycopg.connect(pg_url(database_url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, "
            "created_at timestamptz NOT NULL DEFAULT now(), queued_at timestamptz)"
        )
    return env, m.group(1)


# ------------------------------------------------------------------------ HTTP load


@dataclass
class Load:
    sent: int = 0
    ok_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    http_latency: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)  # paced: actual send - scheduled send
    first_send: float = 0.0  # wall clock (time.time), comparable with PostgreSQL now()
    last_response: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """One keep-alive connection; reconnects once when the server closed an idle one."""

    def __init__(self, port: int, headers: dict):
        self.port = port
        self.headers = headers
        self.conn: http.client.HTTPConnection | None = None

    def post(self) -> tuple[int, bytes]:
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("POST", "/api/incidents/", BODY, self.headers)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = None
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def one_request(client: Client, load: Load) -> None:
    t0 = time.perf_counter()
    try:
        status, data = client.post()
    except Exception as exc:  # noqa: BLE001 - counted and shown
        with load.lock:
            load.errors.append(f"{type(exc).__name__}: {exc}")
        return
    elapsed = time.perf_counter() - t0
    now = time.time()
    with load.lock:
        load.http_latency.append(elapsed)
        load.last_response = max(load.last_response, now)
        if status == 201:
            load.ok_ids.append(json.loads(data)["id"])
        else:
            load.errors.append(f"HTTP {status}: {data[:200]!r}")


def run_saturation(port: int, headers: dict, n: int, concurrency: int) -> Load:
    load = Load()
    counter = iter(range(n))
    counter_lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)

    def worker() -> None:
        client = Client(port, headers)
        barrier.wait()
        while True:
            with counter_lock:
                if next(counter, None) is None:
                    break
            one_request(client, load)
        client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    load.first_send = time.time()
    barrier.wait()
    for t in threads:
        t.join()
    load.sent = n
    return load


def run_paced(port: int, headers: dict, n: int, rate: float, threads_n: int) -> Load:
    """Open loop: request i is due at start + i/rate, whatever earlier responses do."""
    load = Load()
    due: queue.Queue = queue.Queue()

    def worker() -> None:
        client = Client(port, headers)
        while True:
            when = due.get()
            if when is None:
                break
            late = time.perf_counter() - when
            with load.lock:
                load.lateness.append(late)
            one_request(client, load)
        client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(threads_n)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    start_perf = time.perf_counter() + 0.05
    load.first_send = time.time() + 0.05
    for i in range(n):
        when = start_perf + i / rate
        delay = when - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        due.put(when)
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    load.sent = n
    return load


# ------------------------------------------------------------------------ CPU accounting

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def component_of(name: str) -> str:
    """A started process's component: "celery-product-routing" -> "celery routing",
    "web-product" -> "web", "redis" -> "redis"."""
    parts = name.split("-")
    return " ".join([parts[0], *parts[2:]])


def cpu_snapshot(db: str, groups: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    """CPU used so far by each component: our process groups, this load generator (with its
    threads) and the PostgreSQL backends serving the bench database (other databases' work,
    e.g. another benchmark on the machine, is not counted)."""
    snap = {
        name: {pid: proc_cpu(pid) for pgid in pgids for pid in group_pids(pgid)}
        for name, pgids in groups.items()
    }
    snap["load generator"] = {os.getpid(): proc_cpu(os.getpid())}
    with psycopg.connect(db, autocommit=True) as conn:
        name = conn.info.dbname
        backends = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
        ]
    snap["postgresql"] = {pid: proc_cpu(pid) for pid in backends}
    return snap


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    """Seconds per component between two snapshots (processes that started in between count
    from zero; backends that ended in between are missed, so PostgreSQL is a lower bound)."""
    return {
        name: sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items())
        for name, pids in after.items()
    }


# ------------------------------------------------------------------------ measuring


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


PRODUCT_SQL = {
    "count": "SELECT count(*) FROM incidents_queueitem "
    "WHERE origin = 'routing' AND incident_id BETWEEN %s AND %s",
    "latency": "SELECT extract(epoch FROM q.queued_at - i.filed_at)::float8, "
    "extract(epoch FROM q.queued_at)::float8 FROM incidents_queueitem q "
    "JOIN incidents_incident i ON i.id = q.incident_id "
    "WHERE q.origin = 'routing' AND i.id = ANY(%s)",
    # Queued -> delivered (members told: live update, email), read after the broker drained.
    "delivery": "SELECT extract(epoch FROM delivered_at - queued_at)::float8 "
    "FROM incidents_queueitem WHERE origin = 'routing' AND incident_id = ANY(%s)",
    # How many routing transactions and delivery tasks did the work: each stamps its rows
    # with one now(), so the distinct stamps count them.
    "rounds": "SELECT count(DISTINCT i.routed_at), count(DISTINCT q.delivered_at) "
    "FROM incidents_incident i JOIN incidents_queueitem q ON q.incident_id = i.id "
    "WHERE i.id = ANY(%s)",
}
BASELINE_SQL = {
    "count": "SELECT count(*) FROM bench_baseline "
    "WHERE queued_at IS NOT NULL AND id BETWEEN %s AND %s",
    "latency": "SELECT extract(epoch FROM queued_at - created_at)::float8, "
    "extract(epoch FROM queued_at)::float8 FROM bench_baseline WHERE id = ANY(%s)",
}


def wait_queued(db: str, sql: dict, ids: list[int], stall: float = 30) -> tuple[int, float]:
    """Poll until every id is queued, or nothing moved for `stall` seconds.

    By id range (the run's incidents are the only ones filed meanwhile), a cheap index range
    scan: polling must not take CPU from the stack it measures."""
    last, last_change = -1, time.monotonic()
    if not ids:
        return 0, time.monotonic()
    with psycopg.connect(db, autocommit=True) as conn:
        while True:
            count = conn.execute(sql["count"], [min(ids), max(ids)]).fetchone()[0]
            if count >= len(ids):
                return count, time.monotonic()
            if count != last:
                last, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > stall:
                return count, time.monotonic()
            time.sleep(0.1)


def broker_drain(broker_url: str, timeout: float = 120) -> float:
    """Wait until the broker holds no message (deliveries etc. left behind); seconds waited."""
    r = redis.Redis.from_url(broker_url)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        pending = 0
        for key in r.scan_iter(count=1000):
            kind = r.type(key)
            if kind == b"list":
                pending += r.llen(key)
            elif key == b"unacked":
                pending += r.hlen(key)
        if pending == 0:
            return time.monotonic() - t0
        time.sleep(0.1)
    return time.monotonic() - t0


@dataclass
class Figures:
    label: str
    sent: int
    created: int
    queued: int
    errors: int
    e2e_rate: float  # incidents/s, first POST -> last queued
    http_rate: float  # responses/s, first POST -> last response
    http_p50: float
    http_p99: float
    lat_p50: float
    lat_p95: float
    lat_p99: float
    lat_max: float
    late_p99: float | None = None  # paced: how late the sender was (open-loop health)
    drain: float = 0.0
    load1: float = 0.0  # 1-minute load average after the run: other work on the machine skews all
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per incident, by component
    delivered: int | None = None  # product: routing items delivered once the broker drained
    deliver_p50: float = float("nan")  # queued -> delivered, ms
    deliver_p99: float = float("nan")
    rounds: tuple[int, int] | None = None  # product: routing transactions, delivery tasks


def measure(
    label: str, load: Load, db: str, sql: dict, broker_url: str, cpu: tuple | None = None
) -> Figures:
    queued, _ = wait_queued(db, sql, load.ok_ids)
    with psycopg.connect(db, autocommit=True) as conn:
        rows = conn.execute(sql["latency"], [load.ok_ids]).fetchall()
    drain = broker_drain(broker_url)
    cpu_ms = {}
    if cpu is not None:  # (db, groups, snapshot before the load)
        used = cpu_used(cpu[2], cpu_snapshot(cpu[0], cpu[1]))
        cpu_ms = {name: 1000 * sec / max(1, len(rows)) for name, sec in used.items()}
    delivery = rounds = None
    if "delivery" in sql:
        with psycopg.connect(db, autocommit=True) as conn:
            delivery = [
                r[0] for r in conn.execute(sql["delivery"], [load.ok_ids]) if r[0] is not None
            ]
            rounds = conn.execute(sql["rounds"], [load.ok_ids]).fetchone()
    lat = [r[0] for r in rows]
    last_queued = max((r[1] for r in rows), default=load.first_send)
    e2e = len(rows) / (last_queued - load.first_send) if rows else 0.0
    http_rate = len(load.http_latency) / max(1e-9, load.last_response - load.first_send)
    figs = Figures(
        label=label,
        sent=load.sent,
        created=len(load.ok_ids),
        queued=queued,
        errors=len(load.errors),
        e2e_rate=e2e,
        http_rate=http_rate,
        http_p50=pct(load.http_latency, 50) * 1000,
        http_p99=pct(load.http_latency, 99) * 1000,
        lat_p50=pct(lat, 50) * 1000,
        lat_p95=pct(lat, 95) * 1000,
        lat_p99=pct(lat, 99) * 1000,
        lat_max=max(lat, default=float("nan")) * 1000,
        late_p99=pct(load.lateness, 99) * 1000 if load.lateness else None,
        drain=drain,
        load1=os.getloadavg()[0],
        cpu_ms=cpu_ms,
        delivered=None if delivery is None else len(delivery),
        deliver_p50=pct(delivery or [], 50) * 1000,
        deliver_p99=pct(delivery or [], 99) * 1000,
        rounds=rounds,
    )
    show(figs)
    for err in load.errors[:5]:
        print(f"    error: {err}")
    return figs


def show(f: Figures) -> None:
    print(
        f"  {f.label}: {f.created}/{f.sent} created, {f.queued} queued, {f.errors} errors\n"
        f"    end to end {f.e2e_rate:7.1f} incidents/s   HTTP {f.http_rate:7.1f} req/s "
        f"(latency p50 {f.http_p50:.0f} ms, p99 {f.http_p99:.0f} ms)\n"
        f"    filed->queued p50 {f.lat_p50:.0f} ms  p95 {f.lat_p95:.0f} ms  "
        f"p99 {f.lat_p99:.0f} ms  max {f.lat_max:.0f} ms"
        + (f"   (sender late p99 {f.late_p99:.1f} ms)" if f.late_p99 is not None else "")
        + (
            f"\n    queued->delivered p50 {f.deliver_p50:.0f} ms  p99 {f.deliver_p99:.0f} ms "
            f"({f.delivered}/{f.queued} delivered)"
            if f.delivered is not None
            else ""
        )
        + (
            f"\n    {f.rounds[0]} routing transactions, {f.rounds[1]} delivery tasks "
            f"({f.created / max(1, f.rounds[0]):.1f} and {f.created / max(1, f.rounds[1]):.1f} "
            "incidents each)"
            if f.rounds
            else ""
        )
        + (f"\n    broker drained {f.drain:.1f} s after the last check" if f.drain > 0.5 else "")
        + f"\n    load average (1 min) {f.load1:.1f} on {os.cpu_count()} CPUs"
        + (
            "\n    CPU ms per incident: "
            + ", ".join(f"{k} {v:.2f}" for k, v in f.cpu_ms.items())
            + f" = {sum(f.cpu_ms.values()):.2f}"
            if f.cpu_ms
            else ""
        ),
        flush=True,
    )


# ------------------------------------------------------------------------ the stack


def stack_start(args, env: dict, logdir: str, *, baseline: bool) -> tuple[int, list]:
    port = free_port()
    tag = "baseline" if baseline else "product"
    web_env = dict(
        env, DJANGO_SETTINGS_MODULE="bench.bench_settings" if baseline else "triage.settings"
    )
    if baseline:
        # Its two one-line statements cost less client CPU bound on the client (measured:
        # 0.50 against 0.58 ms per insert + update) than prepared: the baseline gets the
        # cheaper, so the product's prepared statements are not a gain made by slowing it.
        web_env["DATABASE_PREPARE_THRESHOLD"] = "0"
    profiled = args.profile and not baseline
    if profiled:
        web_env["TRIAGE_BENCH_PROFILE_DIR"] = args.profile_dir
    argv = [
        os.path.join(VENV_BIN, "gunicorn"),
        "bench.profile_wsgi" if profiled else "triage.wsgi",
        "-k",
        "gthread",
        "--workers",
        str(args.web_workers),
        "--threads",
        # cProfile (sys.monitoring) is one profiler per process: one request thread each.
        "1" if profiled else str(args.web_threads),
        "-b",
        f"127.0.0.1:{port}",
    ]
    web = start(f"web-{tag}", argv, web_env, logdir)
    # The product as the Procfile runs it: a worker of its own for "routing" (a routing message
    # never waits for a child busy with deliveries) and one for every other queue (-X
    # routing); --one-worker: one worker for every queue, as before. The baseline has one
    # task, so one worker.
    layout = {"": []}
    if not args.one_worker and not baseline:
        layout = {"routing": ["-Q", "routing"], "responders": ["-X", "routing"]}
    workers = []
    for role, queues in layout.items():
        concurrency = args.routing_concurrency if role == "routing" else args.worker_concurrency
        name = f"celery-{tag}" + (f"-{role}" if role else "")
        workers.append(
            start(
                name,
                [
                    os.path.join(VENV_BIN, "celery"),
                    "-A",
                    "bench.baseline" if baseline else "triage",
                    "worker",
                    "--concurrency",
                    str(concurrency),
                    "--pool",
                    args.pool,
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-n",
                    f"bench-{tag}{role}@%h",
                    *queues,
                ],
                web_env,
                logdir,
            )
        )
    wait_port(port, web, "gunicorn")
    return port, [web, *workers]


def run_stack(
    args, env, logdir, db, broker_url, headers, *, baseline: bool, paced: bool = True
) -> list[Figures]:
    tag = "baseline" if baseline else "product"
    print(
        f"\n== {tag}: gunicorn gthread {args.web_workers}x"
        f"{1 if args.profile and not baseline else args.web_threads}, "
        f"celery {args.pool} x{args.worker_concurrency}"
        + ("" if args.one_worker or baseline else " (as the Procfile: routing | the rest)"),
        flush=True,
    )
    port, procs = stack_start(args, env, logdir, baseline=baseline)
    sql = BASELINE_SQL if baseline else PRODUCT_SQL
    try:
        # Warm-up (not measured): imports, connections, worker pool up and consuming.
        warm = run_saturation(port, headers, max(2 * args.concurrency, 40), args.concurrency)
        if warm.errors:
            print(f"  warm-up errors: {warm.errors[:3]}")
        queued, _ = wait_queued(db, sql, warm.ok_ids, stall=60)
        broker_drain(broker_url)
        if queued < len(warm.ok_ids):
            sys.exit(f"{tag}: warm-up incidents were never queued; see the worker log")
        out = []
        groups: dict[str, list[int]] = {}
        for name, proc in STARTED:  # "celery-product-routing" counts as "celery routing"
            groups.setdefault(component_of(name), []).append(proc.pid)
        before = cpu_snapshot(db, groups)
        switch = os.path.join(args.profile_dir, "on") if args.profile and not baseline else ""
        if switch:
            open(switch, "w").close()  # noqa: SIM115 - an empty marker file
        load = run_saturation(port, headers, args.incidents, args.concurrency)
        if switch:
            os.unlink(switch)
        out.append(
            measure(
                f"{tag} saturation (N={args.incidents}, C={args.concurrency})",
                load,
                db,
                sql,
                broker_url,
                cpu=(db, groups, before),
            )
        )
        if paced and args.rate > 0 and args.paced_incidents > 0:
            load = run_paced(port, headers, args.paced_incidents, args.rate, args.paced_threads)
            out.append(
                measure(
                    f"{tag} paced ({args.rate:g}/s, N={args.paced_incidents})",
                    load,
                    db,
                    sql,
                    broker_url,
                )
            )
        return out
    finally:
        for p in reversed(procs):
            stop(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=50.0, help="paced run, incidents/s (0: none)")
    parser.add_argument("--paced-incidents", type=int, default=1000)
    parser.add_argument("--paced-threads", type=int, default=32)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/triage_bench")
    parser.add_argument("--broker", default="", help="redis URL; default: own redis-server")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--pool",
        default="prefork",
        choices=["prefork", "threads", "solo"],
        help="celery pool; prefork, as the product runs it: the only pool that enforces the "
        "tasks' time limits",
    )
    parser.add_argument(
        "--routing-concurrency",
        type=int,
        default=1,
        help="children of the routing worker (the Procfile's: 1)",
    )
    parser.add_argument(
        "--one-worker",
        action="store_true",
        help="product: one worker for every queue instead of the Procfile's two (routing | "
        "the rest)",
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="saturation pairs (product, baseline) in all; the targets use their medians",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the product's web processes (cProfile) during the saturation run",
    )
    args = parser.parse_args()

    logdir = tempfile.mkdtemp(prefix="triage-bench-")
    args.profile_dir = os.path.join(logdir, "profile")
    os.makedirs(args.profile_dir)
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    t_start = time.monotonic()
    load1 = os.getloadavg()[0]
    if load1 > (os.cpu_count() or 1):
        print(
            f"warning: load average {load1:.1f} on {os.cpu_count()} CPUs before starting: "
            "other work on this machine will skew every figure",
            flush=True,
        )
    db = pg_url(args.database_url)
    print(f"database {args.database_url} (recreated)", flush=True)
    database_recreate(args.database_url)
    try:
        broker_url = args.broker or redis_start(logdir)
        env, token = stack_prepare(args.database_url, broker_url)
        print(
            f"prepared (migrate, seed_demo, token) in {time.monotonic() - t_start:.1f} s",
            flush=True,
        )
        headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Host": "127.0.0.1",
        }

        figures = run_stack(args, env, logdir, db, broker_url, headers, baseline=False)
        if args.profile:
            profile_report(args.profile_dir, figures[0].created)
        pairs = []
        if not args.skip_baseline:
            figures += run_stack(args, env, logdir, db, broker_url, headers, baseline=True)
            saturated = [f for f in figures if " saturation " in f.label]
            pairs.append((saturated[0], saturated[-1]))
        for i in range(1, args.repeat if not args.skip_baseline else 1):
            # Saturation only, the two stacks in turn, the baseline first every other time, so
            # a machine that slows down or speeds up during the runs favours neither.
            sat = {}
            for baseline in (i % 2 == 1, i % 2 == 0):
                sat[baseline] = run_stack(
                    args, env, logdir, db, broker_url, headers, baseline=baseline, paced=False
                )[0]
            pairs.append((sat[False], sat[True]))
        summary(figures, args, pairs)
    finally:
        stop_all()
        if args.keep:
            print(f"kept database {args.database_url} and logs in {logdir}")
        else:
            database_drop(args.database_url)
            shutil.rmtree(logdir, ignore_errors=True)
    print(f"total {time.monotonic() - t_start:.0f} s")


# Where a profiled function's own time is counted: the first pattern its file path matches.
PROFILE_COMPONENTS = [
    ("product: incidents", "/incidents/"),
    ("product: policies", "/policies/"),
    ("product: schools, accounts", ("/schools/", "/accounts/")),
    ("product: triage (middleware, API glue)", "/triage/"),
    ("DRF", "/rest_framework/"),
    ("psycopg", "/psycopg"),
    ("Django ORM", "/django/db/"),
    (
        "middleware: sessions, auth, allauth, axes, whitenoise, csp",
        (
            "/django/middleware/",
            "/django/contrib/sessions/",
            "/django/contrib/auth/",
            "/allauth/",
            "/axes/",
            "/whitenoise/",
            "/django/utils/csp",
        ),
    ),
    ("Django (other)", "/django/"),
    ("Celery, kombu", ("/celery/", "/kombu/", "/vine/", "/billiard/", "/amqp/")),
    ("redis client", "/redis/"),
    ("gunicorn", "/gunicorn/"),
    ("C calls (sockets, json, hashing, ...)", "~"),
    ("Python stdlib", "/lib/python3"),
]
# Calls whose cumulative time per request says which step of a filing costs what.
PROFILE_STEPS = [
    ("whole request (Django handler)", "django/core/handlers/base.py", "_get_response"),
    ("middleware chain + view", "django/core/handlers/exception.py", "inner"),
    ("DRF authentication", "rest_framework/request.py", "_authenticate"),
    ("DRF throttles", "rest_framework/views.py", "check_throttles"),
    ("input serializer is_valid", "rest_framework/serializers.py", "is_valid"),
    ("incident_file service", "incidents/", "incident_file"),
    (
        "after-commit hooks (dispatch)",
        "django/db/backends/base/base.py",
        "run_and_clear_commit_hooks",
    ),
    ("output serializer .data", "rest_framework/serializers.py", "data"),
    ("JSON rendering", "rest_framework/renderers.py", "render"),
    ("SQL execute (all)", "django/db/backends/utils.py", "_execute"),
    ("transaction commit", "django/db/backends/base/base.py", "commit"),
]


def _component(filename: str) -> str:
    for name, patterns in PROFILE_COMPONENTS:
        if isinstance(patterns, str):
            patterns = (patterns,)
        if any(p == filename if p == "~" else p in filename for p in patterns):
            return name
    return "other"


def profile_report(profile_dir: str, requests_n: int) -> None:
    files = [os.path.join(profile_dir, f) for f in os.listdir(profile_dir) if f.endswith(".prof")]
    if not files:
        print("\n== profile: no statistics were written (see the web log)")
        return
    stats = None
    for path in files:
        try:
            stats = pstats.Stats(path) if stats is None else stats.add(path)
        except (TypeError, ValueError, EOFError, OSError) as exc:  # cut short at exit
            print(f"  profile {os.path.basename(path)} skipped: {exc}")
    if stats is None:
        return
    handled = sum(
        calls
        for (filename, _line, func), (_cc, calls, *_rest) in stats.stats.items()
        if filename.endswith("django/core/handlers/base.py") and func == "get_response"
    )
    n = max(1, handled or requests_n)
    by_component: dict[str, float] = {}
    total = 0.0
    for (filename, _line, _func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        by_component[_component(filename)] = by_component.get(_component(filename), 0.0) + tottime
        total += tottime
    print(
        f"\n== profile of the product's web processes (cProfile, {n} requests; "
        f"{1000 * total / n:.2f} ms profiled CPU per request (process CPU time), "
        "inflated by the profiler)"
    )
    print("  self time by component, ms per request:")
    for name, sec in sorted(by_component.items(), key=lambda kv: -kv[1]):
        print(f"    {1000 * sec / n:7.3f}  {100 * sec / max(total, 1e-9):5.1f}%  {name}")
    print("  steps, cumulative ms per request (calls per request):")
    for label, path_part, func in PROFILE_STEPS:
        cum = calls = 0
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items():
            if name == func and path_part in filename:
                cum, calls = cum + ct, calls + nc
        if calls:
            print(f"    {1000 * cum / n:7.3f}  ({calls / n:4.1f})  {label}")
    print("  costliest functions by own time, ms per request (calls per request):")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:25]
    for (filename, line, func), (_cc, nc, tottime, _ct, _callers) in rows:
        where = filename if filename == "~" else f"{os.path.relpath(filename, ROOT)}:{line}"
        print(f"    {1000 * tottime / n:7.3f}  ({nc / n:5.1f})  {func}  {where[-70:]}")


def pair_ratios(product: Figures, base: Figures) -> tuple[float, float]:
    """A (product, baseline) saturation pair's end-to-end and web-CPU ratios."""
    return (
        product.e2e_rate / base.e2e_rate,
        product.cpu_ms.get("web", 0) / (base.cpu_ms.get("web") or 1),
    )


def repeats_report(pairs: list[tuple[Figures, Figures]]) -> tuple[float, float]:
    """Each (product, baseline) saturation pair's ratios, and their medians."""
    print(f"\n== {len(pairs)} saturation pairs (product / baseline)")
    e2e, web = [], []
    for n, (product, base) in enumerate(pairs, 1):
        for ratios, ratio in zip((e2e, web), pair_ratios(product, base), strict=True):
            ratios.append(ratio)
        print(
            f"  {n}: e2e {product.e2e_rate:6.1f} / {base.e2e_rate:6.1f} = {e2e[-1]:.2f}x, "
            f"web CPU {product.cpu_ms.get('web', 0):.2f} / {base.cpu_ms.get('web', 0):.2f} ms "
            f"= {web[-1]:.2f}x, CPU per incident {sum(product.cpu_ms.values()):.2f} / "
            f"{sum(base.cpu_ms.values()):.2f} ms"
        )
    print(f"  median: e2e {statistics.median(e2e):.2f}x, web CPU {statistics.median(web):.2f}x")
    return statistics.median(e2e), statistics.median(web)


def summary(figures: list[Figures], args, pairs: list[tuple[Figures, Figures]]) -> None:
    print("\n== summary (latencies in ms; e2e = N / first POST -> last queued)")
    head = (
        f"{'run':<40} {'e2e/s':>7} {'http/s':>7} {'http p99':>8} "
        f"{'q p50':>6} {'q p95':>6} {'q p99':>6} {'q max':>6} {'err':>4} {'load':>5}"
    )
    print(head)
    print("-" * len(head))
    for f in figures:
        print(
            f"{f.label:<40} {f.e2e_rate:7.1f} {f.http_rate:7.1f} {f.http_p99:8.0f} "
            f"{f.lat_p50:6.0f} {f.lat_p95:6.0f} {f.lat_p99:6.0f} {f.lat_max:6.0f} "
            f"{f.errors + f.created - f.queued:4d} {f.load1:5.1f}"
        )
    by = {f.label.split()[0] + " " + f.label.split()[1]: f for f in figures}
    prod_sat, base_sat = by.get("product saturation"), by.get("baseline saturation")
    prod_pace, base_pace = by.get("product paced"), by.get("baseline paced")
    if prod_sat and base_sat:
        print(
            f"product/baseline saturation: e2e throughput "
            f"{prod_sat.e2e_rate / base_sat.e2e_rate:.2f}x, HTTP throughput "
            f"{prod_sat.http_rate / base_sat.http_rate:.2f}x, p99 "
            f"{prod_sat.lat_p99 / base_sat.lat_p99:.1f}x"
        )
    if prod_pace and base_pace:
        print(
            f"product/baseline paced: p99 {prod_pace.lat_p99 / base_pace.lat_p99:.1f}x, "
            f"p50 {prod_pace.lat_p50 / base_pace.lat_p50:.1f}x"
        )
    # Issue 18's targets, on the same run: web CPU per filing at most 2x the bare insert's,
    # end-to-end throughput at least the baseline's (goal 1.25x), p99 under 100 ms at 50/s.
    # With --repeat, the medians of the pairs.
    if pairs:
        e2e, web = repeats_report(pairs) if len(pairs) > 1 else pair_ratios(*pairs[0])
        what = f"median of {len(pairs)} pairs: " if len(pairs) > 1 else ""
        print(
            f"target web CPU per filing <= 2x the bare insert: {what}{web:.2f}x -> "
            f"{'met' if web <= 2 else 'NOT met'}"
        )
        print(
            f"target end to end >= 1.0x the baseline (goal 1.25x): {what}{e2e:.2f}x -> "
            f"{'met' if e2e >= 1.0 else 'NOT met'}"
        )
    if prod_pace:
        print(
            f"target p99 filed->queued < 100 ms at {args.rate:g}/s: {prod_pace.lat_p99:.0f} ms "
            f"-> {'met' if prod_pace.lat_p99 < 100 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
