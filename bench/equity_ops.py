"""Benchmark: the equity page's operational figures (hand-offs by direction, median times to
acknowledge), read directly (before: ``counts.DIRECT``) and through their rollups (after:
``counts.ROLLUPS``), on a database seeded and rebuilt by bench/equity.py (``--keep``).

For each period and choice of schools: wall and CPU (this process) milliseconds of three warm
runs, and whether both give the same figures. Prints; asserts nothing. The machine may be
shared: the load average is printed with each line.

    .venv/bin/python bench/equity_ops.py [--database-url ...]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from datetime import date

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from replay import django_setup  # noqa: E402 - bench/ is not a package: replay.py is found by path

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/triage_equity_bench"
PERIODS = {
    "school year": (date(2025, 8, 1), date(2026, 7, 31)),
    "Aug 1 - Mar 17": (date(2025, 8, 1), date(2026, 3, 17)),
    "Oct 5 - Dec 20": (date(2025, 10, 5), date(2025, 12, 20)),
}


def _runs(call, times: int = 3) -> tuple[object, list[float], list[float]]:
    call()  # warm
    walls, cpus = [], []
    for _ in range(times):
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return result, walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    django_setup(args.database_url)
    from reports.counts import DIRECT, ROLLUPS
    from reports.scope import EquityFilter
    from schools.models import School

    schools = tuple(School.objects.order_by("name"))
    choices = {"all schools": schools, "150 schools": schools[:150], "1 school": schools[7:8]}
    print(f"{os.cpu_count()} cores; ms of 3 warm runs: wall (CPU of this process)")
    for period, (start, end) in PERIODS.items():
        for chosen, picked in choices.items():
            flt = EquityFilter(district=schools[0].district, schools=picked, start=start, end=end)
            for figure in ("overrides", "ack_median_rows"):
                shown = {}
                line = f"{period:>15}, {chosen:>11}, {figure:>15}:"
                for source in (DIRECT, ROLLUPS):
                    result, walls, cpus = _runs(functools.partial(getattr(source, figure), flt))
                    shown[source.name] = result
                    line += f"  {source.name} {min(walls):6.1f} ({min(cpus):5.1f})"
                same = shown["direct"] == shown["rollups"]
                print(f"{line}  same: {same}  load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
