"""WSGI entry point for ``bench/pipeline.py --profile``: the product under cProfile.

py-spy is not in the venv, so the web process profiles itself: a ``cProfile.Profile`` switched
on around each request while the file ``$TRIAGE_BENCH_PROFILE_DIR/on`` exists (the benchmark
creates it for the measured run only, so imports and the warm-up are not counted). Since
Python 3.12 cProfile runs on sys.monitoring, one profiler per interpreter, so the benchmark
serves a profiled run with one request thread per process (``--threads 1``). Each process
writes its statistics to ``web-<pid>-<thread>.prof`` in that folder at most once a second and
at exit; the benchmark merges them with pstats.

cProfile's own cost inflates Python-heavy code, so figures from a profiled run are for
finding where the time goes, not for comparing with the baseline.
"""

import atexit
import cProfile
import os
import threading
import time

from triage.wsgi import application as product_application

PROFILE_DIR = os.environ["TRIAGE_BENCH_PROFILE_DIR"]
SWITCH = os.path.join(PROFILE_DIR, "on")
DUMP_EVERY = 1.0  # seconds

_local = threading.local()
_all: list[tuple[cProfile.Profile, str]] = []
_all_lock = threading.Lock()


def _thread_profile() -> tuple[cProfile.Profile, str]:
    entry = getattr(_local, "entry", None)
    if entry is None:
        path = os.path.join(PROFILE_DIR, f"web-{os.getpid()}-{threading.get_ident()}.prof")
        # CPU time, not wall time: waits on PostgreSQL or Redis (and on other work sharing
        # the machine) are not the web process's cost. The process's, not the thread's: the
        # profiler also sees gunicorn's main thread, and thread clocks would run backwards.
        entry = (cProfile.Profile(time.process_time), path)
        _local.entry, _local.dumped = entry, time.monotonic()
        with _all_lock:
            _all.append(entry)
    return entry


def _dump(profile: cProfile.Profile, path: str) -> None:
    try:
        profile.dump_stats(path)
    except (OSError, TypeError):  # a profile with nothing recorded yet
        pass


@atexit.register
def _dump_all() -> None:
    with _all_lock:
        for profile, path in _all:
            _dump(profile, path)


def application(environ, start_response):
    if not os.path.exists(SWITCH):
        return product_application(environ, start_response)
    profile, path = _thread_profile()
    profile.enable()
    try:
        # Django's responses are lists: the whole request runs inside this call.
        return product_application(environ, start_response)
    finally:
        profile.disable()
        now = time.monotonic()
        if now - _local.dumped >= DUMP_EVERY:
            _local.dumped = now
            _dump(profile, path)
