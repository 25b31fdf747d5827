"""Benchmark: a OneRoster set of 50,000 students (50 schools) imported, then imported again.

Creates its own PostgreSQL database (default triage_oneroster_bench, dropped and re-created),
migrates it, writes the set (orgs, users, demographics) to a temporary folder and times
``schools.oneroster``: reading the files, the first import (everything created) and a second
run of the same set (nothing changes). Prints figures; asserts nothing.

    .venv/bin/python bench/oneroster.py [--students 50000] [--schools 50]
        [--database-url postgres://postgres@127.0.0.1:5432/triage_oneroster_bench] [--keep]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/triage_oneroster_bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=50_000)
    parser.add_argument("--schools", type=int, default=50)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    from bench.replay import drop_database, recreate_database

    recreate_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DATABASE_CONN_MAX_AGE"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from schools.models import District, Student
    from schools.oneroster import oneroster_import, oneroster_set_read
    from tests.schools.oneroster_data import write_large_set

    call_command("migrate", verbosity=0)
    district = District.objects.create(name="Bench district", slug="bench")
    try:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            write_large_set(Path(folder), students=args.students, schools=args.schools)
            print(
                f"wrote the set ({args.students:,} students): {time.perf_counter() - started:.1f} s"
            )
            for label in ("first import (all new)", "second run (no change)"):
                started = time.perf_counter()
                roster_set = oneroster_set_read(path=Path(folder))
                result = oneroster_import(roster_set=roster_set, district=district)
                elapsed = time.perf_counter() - started
                print(
                    f"{label}: {elapsed:.1f} s, {args.students / elapsed:,.0f} students/s; "
                    f"students {result.summary['students']}"
                )
        print(f"students stored: {Student.objects.count():,}")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(args.database_url)


if __name__ == "__main__":
    main()
