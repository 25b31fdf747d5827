"""Benchmark: the filing request's CPU in one thread, the product against the bare insert.

bench/pipeline.py measures the whole stack at saturation, where threads contend and the
machine's speed drifts by a fifth from minute to minute. This measures the same two requests
one at a time, in one process, through the WSGI application (middleware, DRF, the intake
service, PostgreSQL and Redis round trips), so a change to the filing path shows in a minute:

  1. a fresh database made ready as bench/pipeline.py makes it (migrated, the demo district,
     the teacher's API token, the baseline's table) and a redis-server of its own;
  2. --rounds rounds, each running one child process per stack (DJANGO_SETTINGS_MODULE
     triage.settings, and bench.bench_settings: bench/baseline.py's bare INSERT and Celery
     publish), the two in turn, the baseline first every other round; a child files the same
     incident --requests times after a warm-up and reports its CPU (time.process_time);
  3. prints the CPU per request of each stack (median of the rounds, and the range), their
     ratio, and the product's input and output serializers alone.

--without PART (repeatable) adds, in every round, a product child with that part of the
request switched off, and prints what the part costs (its median against the product's):
cProfile inflates Python-heavy code several times, this measures the part itself.
  principal  the token's user, roles and lockout: the first request's answer is reused
  wakeup     the routing wake-up after commit (a Redis SET, a message when none is pending)

No worker runs: routing messages wait in the benchmark's own Redis, stopped at the end. Prints
figures; asserts nothing.

    .venv/bin/python bench/filing.py [--requests 1000] [--rounds 5] [--keep] [--profile]
        [--without principal] [--without wakeup]
        [--database-url postgres://postgres@127.0.0.1:5432/triage_filing_bench]
"""

from __future__ import annotations

import argparse
import atexit
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from pipeline import (  # noqa: E402 - bench/ is not a package: pipeline.py is found by path
    BODY,
    PYTHON,
    ROOT,
    database_drop,
    database_recreate,
    redis_start,
    stack_prepare,
    stop_all,
)

STACKS = {"product": "triage.settings", "baseline": "bench.bench_settings"}
PARTS = ("principal", "wakeup")


def switch_off(part: str) -> None:
    """In a product child: take ``part`` out of the filing request (see --without)."""
    if part == "principal":
        from triage.api import throttles

        answers = {}
        lookup = throttles.principal_by_token

        def reused(key, **kwargs):
            if key not in answers:
                answers[key] = lookup(key, **kwargs)
            return answers[key]

        throttles.principal_by_token = reused
    elif part == "wakeup":
        from incidents.services import routing

        routing.incident_dispatch = lambda **kwargs: True
    else:
        raise ValueError(part)


def child(requests: int, token: str) -> dict:
    """In a child process (its DJANGO_SETTINGS_MODULE set): CPU ms per filing request, and
    for the product its serializers' CPU per call."""
    sys.path.insert(0, ROOT)
    from triage.wsgi import application

    for part in filter(None, os.environ.get("TRIAGE_BENCH_WITHOUT", "").split(",")):
        switch_off(part)

    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def file_one() -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/incidents/",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_ACCEPT": "application/json",
            "HTTP_AUTHORIZATION": f"Token {token}",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(BODY)),
            "wsgi.input": io.BytesIO(BODY),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        for _chunk in application(environ, start_response):
            pass

    for _ in range(max(100, requests // 5)):  # warm-up: imports, prepared statements, pool
        file_one()
    if not statuses[-1].startswith("201"):
        sys.exit(f"filing answered {statuses[-1]}")
    out = {"request": _cpu_ms(file_one, requests)}
    profile_path = os.environ.get("TRIAGE_BENCH_PROFILE")
    if profile_path:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(lambda: [file_one() for _ in range(requests)])
        profiler.dump_stats(profile_path)
    if os.environ["DJANGO_SETTINGS_MODULE"] == STACKS["product"]:
        out.update(_serializers_ms(requests))
    return out


def _cpu_ms(call, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        call()
    return 1000 * (time.process_time() - started) / n


def _serializers_ms(n: int) -> dict:
    """The intake API's input and output serializers alone, on the request's own incident."""
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from incidents.intake_serializers import IncidentInSerializer, IncidentOutSerializer
    from incidents.models import Incident
    from schools.models import User

    request = Request(APIRequestFactory().post("/api/incidents/"))
    request.user = User.objects.get(username="teacher")
    incident = Incident.objects.select_related("school", "filed_by").latest("id")
    incident._prefetched_objects_cache = {"students": []}
    incident.current_route, incident.resolved_items = None, []
    data = json.loads(BODY)
    context = {"request": request}

    def read_in() -> None:
        IncidentInSerializer(data=data, context=context).is_valid(raise_exception=True)

    def write_out() -> None:
        _ = IncidentOutSerializer(incident, context=context).data

    return {"input serializer": _cpu_ms(read_in, n), "output serializer": _cpu_ms(write_out, n)}


def run_child(stack: str, env: dict, requests: int, token: str, profile: str = "") -> dict:
    """``stack``: "product", "baseline" or "product without PART"."""
    stack, _, without = stack.partition(" without ")
    out = subprocess.run(
        [PYTHON, os.path.abspath(__file__), "--child", str(requests)],
        cwd=ROOT,
        env=dict(
            env,
            DJANGO_SETTINGS_MODULE=STACKS[stack],
            TRIAGE_BENCH_TOKEN=token,
            TRIAGE_BENCH_PROFILE=profile,
            TRIAGE_BENCH_WITHOUT=without,
        )
        # As bench/pipeline.py serves the baseline: client-side binding costs its two
        # one-line statements less.
        | ({"DATABASE_PREPARE_THRESHOLD": "0"} if stack == "baseline" else {}),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"{stack} child failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]), os.environ["TRIAGE_BENCH_TOKEN"])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/triage_filing_bench"
    )
    parser.add_argument("--requests", type=int, default=1000, help="filings per child")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the rounds, profile each stack's requests (cProfile) and print the "
        "costliest calls per request",
    )
    parser.add_argument(
        "--without",
        action="append",
        choices=PARTS,
        default=[],
        help="also run the product with this part switched off, and print what it costs",
    )
    args = parser.parse_args()
    stacks = [*STACKS, *(f"product without {part}" for part in args.without)]

    logdir = tempfile.mkdtemp(prefix="triage-filing-bench-")
    atexit.register(stop_all)
    load1 = os.getloadavg()[0]
    if load1 > (os.cpu_count() or 1) / 2:
        print(f"warning: load average {load1:.1f} before starting: figures will be noisy")
    database_recreate(args.database_url)
    try:
        env, token = stack_prepare(args.database_url, redis_start(logdir))
        runs: dict[str, list[dict]] = {stack: [] for stack in stacks}
        for i in range(args.rounds):
            order = stacks if i % 2 == 0 else list(reversed(stacks))
            for stack in order:
                runs[stack].append(run_child(stack, env, args.requests, token))
            print(
                f"round {i + 1}: "
                + ", ".join(f"{s} {runs[s][-1]['request']:.3f} ms" for s in stacks),
                flush=True,
            )
        report(runs, args)
        if args.profile:
            for stack in STACKS:
                path = os.path.join(logdir, f"{stack}.prof")
                run_child(stack, env, args.requests, token, profile=path)
                profile_report(stack, path, args.requests)
    finally:
        if not args.keep:
            database_drop(args.database_url)


def report(runs: dict[str, list[dict]], args) -> None:
    print(
        f"\n== CPU per filing request, in one thread ({args.rounds} rounds of "
        f"{args.requests} requests; median [range])"
    )
    medians = {}
    for stack, results in runs.items():
        for part in results[0]:
            values = [r[part] for r in results]
            medians[stack, part] = statistics.median(values)
            print(
                f"  {stack:26s} {part:18s} {medians[stack, part]:.3f} ms "
                f"[{min(values):.3f}-{max(values):.3f}]"
            )
    ratios = [
        p["request"] / b["request"] for p, b in zip(runs["product"], runs["baseline"], strict=True)
    ]
    print(
        f"  product / baseline: median {statistics.median(ratios):.2f}x "
        f"[{min(ratios):.2f}-{max(ratios):.2f}x] of each round's pair"
    )
    for stack, results in runs.items():
        if " without " in stack:
            # What the part costs: the product's request less the request without it, round
            # by round (the two ran one after the other).
            costs = [
                p["request"] - w["request"] for p, w in zip(runs["product"], results, strict=True)
            ]
            print(
                f"  {stack.partition(' without ')[2]} costs {statistics.median(costs):.3f} ms "
                f"per request [{min(costs):.3f}-{max(costs):.3f}] of each round's pair"
            )


def profile_report(stack: str, path: str, requests: int) -> None:
    """The calls with the most CPU per request, inclusive and own. cProfile's own cost
    inflates Python-heavy code: for finding where the time goes, not for comparing."""
    import pstats

    stats = pstats.Stats(path)
    rows = [
        (
            cumulative,
            own,
            f"{os.path.relpath(file, ROOT) if file.startswith(ROOT) else file}:{line}({name})",
        )
        for (file, line, name), (_, _, own, cumulative, _) in stats.stats.items()
    ]
    for title, index in (("inclusive", 0), ("own", 1)):
        print(f"\n== {stack}: calls with the most {title} CPU per request (cProfile)")
        for row in sorted(rows, key=lambda r: r[index], reverse=True)[:30]:
            print(f"  {1000 * row[0] / requests:7.3f} {1000 * row[1] / requests:7.3f} ms  {row[2]}")


if __name__ == "__main__":
    main()
