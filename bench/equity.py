"""Benchmark: the equity dashboard over 1,000,000 incidents, from the rollups and directly.

Seeds a database with bench/replay.py's loader (a district of 200 schools, 200,000 students,
1,000,000 routed incidents over school year 2025-26 with their items, outcomes and
hand-offs; COPY bypasses the services, so the rollups are then built with
``manage.py rollups_rebuild``, which is timed). Then, in a fresh process:

  - the figures' SQL (reports.figures.equity_figures) with the counts read directly from the
    incidents (before) and from the rollups (after), cold then warm, and whether they agree;
  - GET /reports/equity/ for the district admin over the whole year, before (the view made to
    read directly) and after, twice each; the CSV; GET /reports/deflection/ (not rollup-based).

Prints figures; asserts nothing. The machine may be shared: the load average is printed.

    .venv/bin/python bench/equity.py [--incidents 1000000] [--database-url ...]
        [--keep] [--skip-load]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from replay import (  # noqa: E402 - bench/ is not a package: replay.py is found by path
    ROOT,
    YEAR_END,
    YEAR_START,
    django_setup,
    drop_database,
    load,
    recreate_database,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/triage_equity_bench"


def rebuild(database_url: str) -> dict:
    django_setup(database_url)
    from incidents.models import IncidentRollup, StudentReferralRollup
    from incidents.services.rollups import rollups_rebuild
    from schools.models import District

    began = time.monotonic()
    for district in District.objects.all():
        rollups_rebuild(district=district)
    return {
        "rebuild_s": round(time.monotonic() - began, 1),
        "incident_rows": IncidentRollup.objects.count(),
        "student_rows": StudentReferralRollup.objects.count(),
    }


def _timed(out: dict, name: str, call) -> object:
    began = time.monotonic()
    result = call()
    out[name] = round(time.monotonic() - began, 3)
    return result


def measure(database_url: str) -> dict:
    # The page itself, not the second-factor prompt a district admin gets without one.
    os.environ["DJANGO_MFA_REQUIRED_ROLES"] = ""
    django_setup(database_url)
    from django.test import Client

    from reports import figures, views
    from reports.counts import DIRECT, ROLLUPS
    from schools.models import School, User

    admin = User.objects.get(username="district_admin")
    schools = tuple(School.objects.order_by("name"))
    flt = figures.EquityFilter(
        district=schools[0].district, schools=schools, start=YEAR_START, end=YEAR_END
    )
    out: dict = {}
    shown = {}
    for source in (DIRECT, ROLLUPS):
        for attempt in ("cold", "warm"):
            result = _timed(
                out,
                f"figures_{source.name}_{attempt}_s",
                lambda source=source: figures.equity_figures(flt, source=source),
            )
        shown[source.name] = (
            result.display,
            result.total.display,
            [row.display for row in result.by_disability + result.by_race_sex],
            [row.display for row in result.by_school],
        )
    out["agree"] = shown["direct"] == shown["rollups"]
    out["incidents"] = result.incidents
    out["students_referred"] = result.total.students
    client = Client()
    client.force_login(admin)
    get = functools.partial(client.get, HTTP_HOST="127.0.0.1")
    direct = functools.partial(figures.equity_figures, source=DIRECT)
    with mock.patch.object(views, "equity_figures", direct):
        for attempt in ("first", "second"):
            _timed(out, f"page_direct_{attempt}_s", lambda: get("/reports/equity/", {"year": 2025}))
    for attempt in ("first", "second"):
        response = _timed(
            out, f"page_rollups_{attempt}_s", lambda: get("/reports/equity/", {"year": 2025})
        )
    out["page_status"] = response.status_code
    _timed(out, "csv_rollups_s", lambda: get("/reports/equity.csv", {"year": 2025}))
    for attempt in ("first", "second"):
        response = _timed(
            out, f"deflection_{attempt}_s", lambda: get("/reports/deflection/", {"year": 2025})
        )
    out["deflection_status"] = response.status_code
    return out


def run_child(what: str, database_url: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", what, "--database-url", database_url],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--skip-load", action="store_true", help="reuse a kept database")
    parser.add_argument("--child", choices=["rebuild", "measure"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (rebuild if args.child == "rebuild" else measure)(args.database_url)
        print(json.dumps(result))
        return

    if not args.skip_load:
        recreate_database(args.database_url)
        load(args.database_url, args.incidents, 200, 1000)
    try:
        built = run_child("rebuild", args.database_url)
        print(
            f"rollups_rebuild: {built['rebuild_s']} s -> {built['incident_rows']:,} incident "
            f"rows, {built['student_rows']:,} student rows"
        )
        m = run_child("measure", args.database_url)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(
            f"equity figures over {m['incidents']:,} incidents ({m['students_referred']:,} "
            f"students referred), agree: {m['agree']}"
        )
        for name in ("direct", "rollups"):
            print(
                f"  {name:>7}: figures {m[f'figures_{name}_cold_s']:.3f} s cold, "
                f"{m[f'figures_{name}_warm_s']:.3f} s warm; GET /reports/equity/ "
                f"{m[f'page_{name}_first_s']:.3f} s, {m[f'page_{name}_second_s']:.3f} s"
            )
        print(
            f"  CSV (rollups) {m['csv_rollups_s']:.3f} s; GET /reports/deflection/ "
            f"{m['deflection_first_s']:.2f} s, {m['deflection_second_s']:.2f} s "
            f"(HTTP {m['page_status']}, {m['deflection_status']})"
        )
    finally:
        if not args.keep:
            drop_database(args.database_url)


if __name__ == "__main__":
    main()
