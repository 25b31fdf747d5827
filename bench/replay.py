"""Benchmark: what-if replay of a draft over 1,000,000 routed incidents, and the equity dashboard.

Creates its own PostgreSQL database (default triage_replay_bench, dropped and re-created),
migrates it, and bulk-loads with COPY: a district of 200 schools, a roster of 200,000
students (IEP ~13%, 504 only ~3%, BIP, CRDC race/ethnicity, sex, English learners), and
1,000,000 incidents routed by the published default policy over school year 2025-26, each
with its facts snapshot, its subject (and some target) students, its routing queue item
(acknowledged and resolved with outcomes, arrests included), notification items, the
filed/routed timeline events and some hand-offs. Then, each in a fresh process so that peak
RSS is the measured work's own:

  1. replay: a draft that changes one rule (danger-to-others: sro -> co_responder) replayed
     over the whole year: first in this one process without a worker (the chunk group runs
     eagerly, one chunk after another; prints peak RSS), then as the product sends it, run by
     a real ``celery worker -Q analysis -c N`` (prefork) for N in --workers (default 1,2,4)
     against the Redis of --broker-url (default $CELERY_BROKER_URL), timed from the send to
     the run seen done (planning, every chunk, the merge); prints seconds and incidents/s.
     Each chunk reads only the facts the draft reads (PostgreSQL picks them out of the
     document) and decides each distinct set of answers once per worker process: the facts
     here come from pools of 20,000 per school type, so the one-process figure is followed
     by how many distinct sets the data holds (independent draws from the same generator
     give ~100,000 over 1,000,000 rows, ~23,000 per chunk of 100,000);
  2. dashboard: reports.selectors.equity_figures (the SQL) and a full GET /reports/equity/
     (SQL + render) for the district admin over the whole year, cold then warm; then
     GET /reports/crdc.csv (suppressed, and suppress=0) and GET /reports/deflection/.

Prints figures; asserts nothing.

    .venv/bin/python bench/replay.py [--incidents 1000000] [--schools 200]
        [--students-per-school 1000] [--database-url postgres://postgres@127.0.0.1:5432/...]
        [--keep] [--skip-load] [--broker-url redis://127.0.0.1:PORT/N] [--workers 1,2,4]
        [--no-dashboard]

A kept database (--keep) is reused with --skip-load: seeding 1,000,000 incidents takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/triage_replay_bench"
YEAR_START, YEAR_END = date(2025, 8, 1), date(2026, 7, 31)


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")
    os.environ["DATABASE_CONN_MAX_AGE"] = "0"
    import django

    django.setup()


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux keeps ru_maxrss across exec (a child started by a big
    parent inherits its figure), so VmHWM, reset by exec, is read first."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------- database


def recreate_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------- generation

CATEGORIES = {
    "disruption": 22,
    "physical_aggression": 18,
    "bullying_harassment": 10,
    "substance_use": 8,
    "threat": 6,
    "emotional_crisis": 7,
    "self_harm": 3,
    "theft": 5,
    "vandalism": 5,
    "drug_distribution": 2,
    "sexual_misconduct": 1,
    "abuse_disclosure": 2,
    "medical": 3,
    "weapon": 1.5,
    "intruder": 0.2,
    "other": 6,
}
LOCATIONS = ["classroom", "hallway", "cafeteria", "restroom", "gym", "playground", "bus", "other"]
WEAPONS = {"none": 95, "object_used_as_weapon": 3, "weapon_possessed": 1.6, "firearm": 0.4}
INJURIES = {"none": 80, "first_aid": 14, "medical_attention": 5, "serious": 1}
THREATS = {"none": 85, "to_self": 4, "to_others": 9, "to_kill_or_seriously_injure": 2}
DANGER = {"none": 90, "to_self": 4, "to_others": 6}
STATES = {"calm": 35, "calming_down": 25, "upset": 28, "dysregulated": 12}
WITH_NOW = {
    "nobody": 10,
    "teacher": 50,
    "counselor": 10,
    "school_psychologist": 2,
    "social_worker": 3,
    "nurse": 3,
    "administrator": 17,
    "sro": 5,
}
SCHOOL_TYPES = {"ES": (0, 5, 5, 11), "MS": (6, 8, 11, 14), "HS": (9, 12, 14, 18)}
RACES = {"HI": 28, "AM": 1, "AS": 6, "HP": 0.5, "BL": 15, "WH": 44, "TR": 5.5}
ACK_MEDIAN_SECONDS = {"sro": 60, "co_responder": 180, "administrator": 600, "counselor": 900}


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def facts_pool(rng: random.Random, school_type: str, size: int) -> list[dict]:
    low, high, age_low, age_high = SCHOOL_TYPES[school_type]
    pool = []
    for _ in range(size):
        category = pick(rng, CATEGORIES)
        weapon = pick(rng, WEAPONS) if category in {"weapon", "physical_aggression"} else "none"
        if category == "weapon" and weapon == "none":
            weapon = "weapon_possessed"
        flags = rng.random()
        iep, s504 = flags < 0.16, 0.16 <= flags < 0.20
        bip = iep and rng.random() < 0.3 or rng.random() < 0.02
        hour = rng.choices(range(7, 18), weights=[2, 8, 10, 10, 9, 12, 10, 9, 8, 3, 1])[0]
        facts = {
            "category": category,
            "location": rng.choice(LOCATIONS),
            "weapon": weapon,
            "injury": pick(rng, INJURIES),
            "threat": pick(rng, THREATS)
            if category in {"threat", "physical_aggression"}
            else "none",
            "danger_now": pick(rng, DANGER),
            "student_state": pick(rng, STATES),
            "with_now": pick(rng, WITH_NOW),
            "any_iep": iep,
            "any_504": s504,
            "any_bip": bip,
            "youngest_subject_age": rng.randint(age_low, age_high),
            "school_grade_low": low,
            "school_grade_high": high,
            "subject_prior_incidents": min(int(rng.expovariate(0.6)), 20),
            "hour_of_day": hour,
            "within_school_hours": 8 <= hour < 16,
            "student_count": rng.choice([1, 1, 1, 2, 2, 3]),
        }
        facts["any_disability"] = iep or s504 or bip
        pool.append(facts)
    return pool


INCIDENT_FIELDS = [
    "id",
    "school",
    "filed_by",
    "filed_at",
    "occurred_at",
    "location",
    "category",
    "narrative",
    "weapon",
    "injury",
    "threat",
    "threat_words",
    "danger_now",
    "student_state",
    "with_now",
    "status",
    "idempotency_key",
    "idempotency_fingerprint",
    "route",
    "routed_at",
    "ruleset",
    "ruleset_version",
    "rule_id",
    "rule_name",
    "decision",
    "facts",
    "dispatch_attempts",
]
INVOLVEMENT_FIELDS = ["incident", "student", "name", "role"]
ITEM_FIELDS = [
    "incident",
    "queue",
    "route",
    "origin",
    "urgency",
    "state",
    "queued_at",
    "acknowledged_at",
    "closed_at",
    "escalation_level",
    "delivery_attempts",
    "outcome",
    "summary",
]
EVENT_FIELDS = ["incident", "kind", "at", "data", "private"]
STUDENT_FIELDS = [
    "id",
    "district",
    "school",
    "student_id",
    "first_name",
    "last_name",
    "birth_date",
    "grade",
    "sex",
    "race_ethnicity",
    "english_learner",
    "iep",
    "section_504",
    "bip",
    "plan_contact",
    "on_roster",
    "updated_at",
]
URGENCY = {"sro": 0, "co_responder": 1, "counselor": 2, "administrator": 3}
POLICE_SIDE_OUTCOMES = {
    "referred_to_law_enforcement": 20,
    "citation": 6,
    "arrest": 4,
    "counseling_provided": 30,
    "parent_contacted": 25,
    "safety_plan": 15,
}
SCHOOL_SIDE_OUTCOMES = {
    "counseling_provided": 30,
    "parent_contacted": 30,
    "discipline_assigned": 25,
    "restorative_conference": 14,
    "referred_to_law_enforcement": 0.8,
    "arrest": 0.2,
}
SPAN_START, SPAN_END = datetime(2025, 8, 15, 13, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)


def copy_rows(model, fields: list[str], rows) -> None:
    from django.db import connection

    columns = [model._meta.get_field(f).column for f in fields]
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


@dataclass
class District:
    """What the load's steps share: the district, its schools (with their type), teachers,
    routing queues and published version."""

    district: object
    schools: list[tuple[object, str]]
    teachers: list[object]
    queue_ids: dict[tuple[int, str], int]
    published: object
    admin: object


def make_district(schools: int) -> District:
    from incidents.models import ResponderQueue
    from policies.services import ruleset_ensure_default
    from schools.models import District as DistrictModel
    from schools.models import Membership, School, User

    district = DistrictModel.objects.create(name="Bench Unified", slug="bench")
    types = ["ES"] * (schools // 2) + ["MS"] * (schools // 4)
    types += ["HS"] * (schools - len(types))
    school_rows = School.objects.bulk_create(
        [
            School(
                district=district,
                code=f"S{i:03d}-{t}",
                name=f"School {i:03d} {t}",
                grade_low=SCHOOL_TYPES[t][0],
                grade_high=SCHOOL_TYPES[t][1],
            )
            for i, t in enumerate(types)
        ]
    )
    admin = User.objects.create_user("district_admin", password="demo")
    Membership.objects.create(user=admin, school=school_rows[0], role="district_admin")
    teachers = User.objects.bulk_create([User(username=f"teacher{i}") for i in range(schools)])
    ResponderQueue.objects.bulk_create(
        [ResponderQueue(school=s, route=r) for s in school_rows for r in ACK_MEDIAN_SECONDS]
    )
    return District(
        district=district,
        schools=list(zip(school_rows, types, strict=True)),
        teachers=teachers,
        queue_ids={(q.school_id, q.route): q.pk for q in ResponderQueue.objects.all()},
        published=ruleset_ensure_default(district=district, by=admin),
        admin=admin,
    )


def student_row(rng: random.Random, pk: int, district_id: int, school_id: int, kind: str):
    """(row, roster bucket) of one student."""
    low, high = SCHOOL_TYPES[kind][:2]
    r = rng.random()
    iep, s504 = r < 0.13, 0.13 <= r < 0.16
    bip = (iep and rng.random() < 0.25) or rng.random() < 0.01
    grade = rng.randint(low, high)
    row = (
        pk,
        district_id,
        school_id,
        f"B{pk:07d}",
        "Student",
        f"Number{pk}",
        date(2025 - grade - 6, rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
        grade,
        rng.choices("MFX", weights=[50, 49, 1])[0],
        pick(rng, RACES),
        rng.random() < 0.11,
        iep,
        s504,
        bip,
        "",
        True,
        datetime.now(UTC).isoformat(),
    )
    return row, "iep" if iep else "504" if s504 else "bip" if bip else "none"


def load_roster(rng: random.Random, bench: District, per_school: int) -> dict:
    """{school id: {"iep"/"504"/"bip"/"none": [student ids]}}, the students COPYed."""
    from schools.models import Student

    roster: dict[int, dict[str, list[int]]] = {}
    rows = []
    for school, kind in bench.schools:
        buckets: dict[str, list[int]] = {"iep": [], "504": [], "bip": [], "none": []}
        for _ in range(per_school):
            row, bucket = student_row(rng, len(rows) + 1, bench.district.pk, school.pk, kind)
            rows.append(row)
            buckets[bucket].append(row[0])
        roster[school.pk] = buckets
    copy_rows(Student, STUDENT_FIELDS, rows)
    print(f"roster: {len(bench.schools)} schools, {len(rows):,} students", flush=True)
    return roster


def decided_pools(rng: random.Random, published) -> dict[str, list[tuple]]:
    """Facts pools, decided once each by the published version (that is how they were routed)."""
    from policies.selectors import compiled_policy

    decide = compiled_policy(published).decide
    pools = {}
    for kind in SCHOOL_TYPES:
        entries = []
        for facts in facts_pool(rng, kind, 20_000):
            d = decide(facts)
            decision = {
                "route": d.route,
                "also_notify": list(d.also_notify),
                "rule_id": d.rule_id,
                "rule_name": d.rule_name,
            }
            entries.append(
                (
                    facts,
                    json.dumps(facts),
                    d.route,
                    json.dumps(decision),
                    d.rule_id or "",
                    d.rule_name or "",
                    d.also_notify,
                )
            )
        pools[kind] = entries
    return pools


class Batch:
    """The rows of up to 50,000 incidents, COPYed together."""

    def __init__(self) -> None:
        self.incidents, self.involvements, self.items, self.events = [], [], [], []

    def flush(self) -> None:
        from incidents.models import Incident, IncidentStudent, QueueItem, TimelineEvent

        copy_rows(Incident, INCIDENT_FIELDS, self.incidents)
        copy_rows(IncidentStudent, INVOLVEMENT_FIELDS, self.involvements)
        copy_rows(QueueItem, ITEM_FIELDS, self.items)
        copy_rows(TimelineEvent, EVENT_FIELDS, self.events)
        for rows in (self.incidents, self.involvements, self.items, self.events):
            rows.clear()


def item_row(pk, queue_id, route, origin, state, queued, acked=None, closed=None, outcome=""):
    return (pk, queue_id, route, origin, URGENCY[route], state, queued, acked, closed, 0, 0) + (
        outcome,
        "",
    )


def add_involvements(rng: random.Random, batch: Batch, pk: int, buckets: dict, facts: dict):
    """Its subject (and some target) students, from the roster bucket its facts say."""
    key = next(
        (
            k
            for k, flag in (("iep", "any_iep"), ("504", "any_504"), ("bip", "any_bip"))
            if facts[flag]
        ),
        "none",
    )
    chosen = {rng.choice(buckets[key] or buckets["none"])}
    if rng.random() < 0.15:
        chosen.add(rng.choice(buckets["none"]))
    batch.involvements.extend((pk, student, "", "subject") for student in chosen)
    if rng.random() < 0.3:
        target = rng.choice(buckets["none"])
        if target not in chosen:
            batch.involvements.append((pk, target, "", "target"))


def add_items_and_events(rng, batch: Batch, bench: District, pk, school_id, entry, routed):
    """The routing queue item (most acknowledged and resolved, some still open), the
    notifications, the filed/routed events and some hand-offs."""
    route, notify = entry[2], entry[6]
    routed_text = routed.isoformat()
    r = rng.random()
    acked = routed + timedelta(seconds=rng.lognormvariate(0, 0.8) * ACK_MEDIAN_SECONDS[route])
    outcomes = POLICE_SIDE_OUTCOMES if route in ("sro", "co_responder") else SCHOOL_SIDE_OUTCOMES
    outcome = pick(rng, outcomes)
    state = "resolved" if r < 0.85 else "acknowledged" if r < 0.95 else "queued"
    batch.items.append(
        item_row(
            pk,
            bench.queue_ids[school_id, route],
            route,
            "routing",
            state,
            routed_text,
            acked.isoformat() if state != "queued" else None,
            (acked + timedelta(hours=2)).isoformat() if state == "resolved" else None,
            outcome if state == "resolved" else "",
        )
    )
    batch.items.extend(
        item_row(pk, bench.queue_ids[school_id, also], also, "notify", "resolved", routed_text)
        for also in notify
    )
    batch.events.append((pk, "routed", routed_text, json.dumps({"route": route}), False))
    if rng.random() < 0.02:
        # As the hand-off service does: an item in the target queue (the referral
        # definition counts a hand-off to the SRO or the co-responders).
        to = rng.choice([x for x in URGENCY if x != route])
        data = json.dumps({"from": route, "to": to, "reason": "bench"})
        batch.events.append((pk, "handed_off", acked.isoformat(), data, False))
        batch.items.append(
            item_row(pk, bench.queue_ids[school_id, to], to, "handoff", "queued", acked.isoformat())
        )


def add_incident(rng: random.Random, batch: Batch, bench: District, roster, pools, pk: int):
    school, kind = bench.schools[rng.randrange(len(bench.schools))]
    entry = rng.choice(pools[kind])
    facts, facts_text, route, decision_text, rule_id, rule_name, _ = entry
    occurred = SPAN_START + timedelta(
        seconds=rng.random() * (SPAN_END - SPAN_START).total_seconds()
    )
    filed = occurred + timedelta(seconds=rng.randint(30, 900))
    routed = filed + timedelta(seconds=1)
    batch.incidents.append(
        (
            pk,
            school.pk,
            bench.teachers[rng.randrange(len(bench.teachers))].pk,
            filed.isoformat(),
            occurred.isoformat(),
            facts["location"],
            facts["category"],
            "Generated for the replay benchmark.",
            facts["weapon"],
            facts["injury"],
            facts["threat"],
            "",
            facts["danger_now"],
            facts["student_state"],
            facts["with_now"],
            "resolved",
            "",
            "",
            route,
            routed.isoformat(),
            bench.published.pk,
            1,
            rule_id,
            rule_name,
            decision_text,
            facts_text,
            1,
        )
    )
    add_involvements(rng, batch, pk, roster[school.pk], facts)
    batch.events.append((pk, "filed", filed.isoformat(), "{}", False))
    add_items_and_events(rng, batch, bench, pk, school.pk, entry, routed)


def finish_load(database_url: str, incidents: int, began: float) -> None:
    import psycopg
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in (
            "SELECT setval(pg_get_serial_sequence('incidents_incident', 'id'), "
            "(SELECT max(id) FROM incidents_incident))",
            "SELECT setval(pg_get_serial_sequence('schools_student', 'id'), "
            "(SELECT max(id) FROM schools_student))",
        ):
            cursor.execute(sql)
    connection.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(
        f"loaded {incidents:,} incidents in {time.monotonic() - began:.1f} s "
        f"(COPY, then VACUUM ANALYZE)",
        flush=True,
    )


def create_draft(bench: District) -> None:
    """A draft that changes one rule: others in danger now -> co-responders instead of the SRO."""
    from policies import engine
    from policies.models import RuleSet

    spec = bench.published.spec()
    for rule in spec["rules"]:
        if rule["id"] == "danger-to-others":
            rule["route"] = "co_responder"
            rule["also_notify"] = []
    engine.compile_ruleset(spec)  # the draft is valid
    RuleSet.objects.create(
        district=bench.district,
        version=2,
        status="draft",
        rules=spec["rules"],
        default_route=spec["default_route"],
        guardrails=spec["guardrails"],
        based_on=1,
        created_by=bench.admin,
        note="bench: danger-to-others -> co_responder",
    )


def load(database_url: str, incidents: int, schools: int, per_school: int) -> None:
    django_setup(database_url)
    from django.core.management import call_command

    began = time.monotonic()
    call_command("migrate", verbosity=0)
    rng = random.Random(20251)
    bench = make_district(schools)
    roster = load_roster(rng, bench, per_school)
    pools = decided_pools(rng, bench.published)
    batch = Batch()
    for pk in range(1, incidents + 1):
        add_incident(rng, batch, bench, roster, pools, pk)
        if pk % 50_000 == 0:
            batch.flush()
            print(f"  loaded {pk:,} incidents ({time.monotonic() - began:.0f} s)", flush=True)
    batch.flush()
    finish_load(database_url, incidents, began)
    create_draft(bench)


# ---------------------------------------------------------------------------- measurements


def replay_figures(run, seconds: float) -> dict:
    result = run.result or {}
    return {
        "status": run.status,
        "incidents": run.processed,
        "seconds": round(seconds, 2),
        "per_second": round(run.processed / seconds) if seconds else None,
        "changed": result.get("changed"),
        "transitions": [(t["from"], t["to"], t["count"]) for t in result.get("transitions", [])],
        "sro_with_disability": result.get("by_disability", {}).get("with", {}).get("sro"),
        "sro_without_disability": result.get("by_disability", {}).get("without", {}).get("sro"),
    }


def new_run():
    from policies.models import RuleSet
    from reports.models import ReplayRun
    from schools.models import User

    draft = RuleSet.objects.get(version=2)
    # A run left active by an interrupted benchmark would refuse this one.
    ReplayRun.objects.filter(ruleset=draft, status__in=("queued", "running")).update(
        status="cancelled"
    )
    return ReplayRun.objects.create(
        ruleset=draft,
        requested_by=User.objects.get(username="district_admin"),
        period_start=YEAR_START,
        period_end=YEAR_END,
    )


def measure_replay(database_url: str) -> None:
    """In this one process, without a worker: the chunk group runs eagerly, one chunk after
    another (as ``make run`` without a worker would, and as the tests do)."""
    django_setup(database_url)
    from reports import replay
    from reports.models import ReplayRun
    from triage.celery import app

    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    rss_before = peak_rss_mb()
    run = new_run()
    began = time.monotonic()
    replay.replay_execute(run_id=run.pk)  # the chunks are sent (run here) when the plan commits
    seconds = time.monotonic() - began
    run = ReplayRun.objects.get(pk=run.pk)
    figures = replay_figures(run, seconds)
    figures.update(peak_rss_mb_before=round(rss_before, 1), peak_rss_mb=round(peak_rss_mb(), 1))
    figures["projections"] = distinct_projections(run)
    print(json.dumps(figures))


def distinct_projections(run) -> int:
    """How many distinct sets of answers to the facts the draft reads the replayed incidents
    hold: the most decisions a worker's memo makes (counted after the timing)."""
    from django.db.models import Count, Func
    from django.db.models.fields.json import KeyTransform

    from incidents.models import Incident
    from policies import engine

    names = engine.compile_ruleset(run.spec).facts_read
    picked = Func(*(KeyTransform(name, "facts") for name in names), function="jsonb_build_array")
    return (
        Incident.objects.filter(route__isnull=False, facts__isnull=False)
        .annotate(picked=picked)
        .aggregate(n=Count("picked", distinct=True))["n"]
    )


def start_worker(database_url: str, broker_url: str, processes: int, log_path: str):
    """A real ``celery worker -Q analysis -c N`` (prefork), and wait until it answers."""
    from celery import Celery

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "REDIS_URL": broker_url,
        "DATABASE_CONN_MAX_AGE": "0",
    }
    name = f"replay-bench-{processes}-{os.getpid()}@%h"
    command = [sys.executable, "-m", "celery", "-A", "triage", "worker", "-Q", "analysis"]
    command += ["-c", str(processes), "-P", "prefork", "-n", name, "-l", "warning"]
    command += ["--without-gossip", "--without-mingle"]
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    probe = Celery("probe", broker=broker_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}): see {log_path}")
        if probe.control.ping(timeout=1.0):
            return worker
    stop_worker(worker)
    raise RuntimeError(f"the worker did not answer within 120 s: see {log_path}")


def stop_worker(worker) -> None:
    worker.terminate()  # warm shutdown of the process this script started
    try:
        worker.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def measure_workers(database_url: str, broker_url: str, processes: int) -> None:
    """The replay sent as the product sends it, run by a real worker with N processes; timed
    from the send to the run seen done (its planning, every chunk and the merge)."""
    django_setup(database_url)
    from reports import replay
    from reports.models import ReplayRun

    log_path = os.path.join("/tmp", f"replay-bench-worker-{processes}.log")
    worker = start_worker(database_url, broker_url, processes, log_path)
    try:
        run = new_run()
        began = time.monotonic()
        replay.replay_send(run_id=run.pk)
        while ReplayRun.objects.filter(pk=run.pk, status__in=("queued", "running")).exists():
            if time.monotonic() - began > 900:
                break
            time.sleep(0.05)
        seconds = time.monotonic() - began
    finally:
        stop_worker(worker)
    run = ReplayRun.objects.get(pk=run.pk)
    figures = replay_figures(run, seconds)
    figures["chunks"] = -(-run.total // replay.CHUNK_SIZE)
    print(json.dumps(figures))


def measure_dashboard(database_url: str) -> None:
    django_setup(database_url)
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import override_settings

    from reports import figures as selectors
    from schools.models import School, User

    admin = User.objects.get(username="district_admin")
    schools = tuple(School.objects.order_by("name"))
    flt = selectors.EquityFilter(
        district=schools[0].district, schools=schools, start=YEAR_START, end=YEAR_END
    )
    out = {}
    for attempt in ("cold", "warm"):
        began = time.monotonic()
        figures = selectors.equity_figures(flt)
        out[f"figures_{attempt}_s"] = round(time.monotonic() - began, 3)
    out["incidents"] = figures.incidents
    out["referred_incidents"] = figures.referred_incidents
    out["students_referred"] = figures.total.students
    client = Client()
    client.force_login(admin)
    with override_settings(DEBUG=True):
        for attempt in ("first", "second"):
            reset_queries()
            began = time.monotonic()
            response = client.get("/reports/equity/", {"year": 2025}, HTTP_HOST="127.0.0.1")
            out[f"page_{attempt}_s"] = round(time.monotonic() - began, 3)
            out[f"page_{attempt}_queries"] = len(connection.queries)
            out["page_status"] = response.status_code
            out["page_kb"] = round(len(response.content) / 1024)
        slow = sorted(connection.queries, key=lambda q: -float(q["time"]))[:4]
        out["slowest_queries_s"] = [float(q["time"]) for q in slow]
    began = time.monotonic()
    response = client.get("/reports/equity.csv", {"year": 2025}, HTTP_HOST="127.0.0.1")
    out["csv_s"] = round(time.monotonic() - began, 3)
    # The CRDC file (suppressed, then the exact one, which also writes an access-log entry),
    # and the deflection view, each twice.
    for name, url, query in (
        ("crdc", "/reports/crdc.csv", {"year": 2025}),
        ("crdc_exact", "/reports/crdc.csv", {"year": 2025, "suppress": 0}),
        ("deflection", "/reports/deflection/", {"year": 2025}),
    ):
        for attempt in ("first", "second"):
            began = time.monotonic()
            response = client.get(url, query, HTTP_HOST="127.0.0.1")
            out[f"{name}_{attempt}_s"] = round(time.monotonic() - began, 3)
        out[f"{name}_status"] = response.status_code
        if name.startswith("crdc"):
            out[f"{name}_rows"] = response.content.count(b"\n") - 1
    print(json.dumps(out))


def run_child(what: str, database_url: str, *extra: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--measure", what, "--database-url", database_url, *extra],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def print_replay(label: str, replay: dict) -> None:
    print(
        f"replay, {label}: {replay['incidents']:,} incidents in {replay['seconds']:.1f} s = "
        f"{replay['per_second']:,} incidents/s; status {replay['status']}"
        + (
            f"; peak RSS {replay['peak_rss_mb']:.0f} MB (after start-up "
            f"{replay['peak_rss_mb_before']:.0f} MB)"
            if "peak_rss_mb" in replay
            else f" ({replay['chunks']} chunks)"
        )
    )
    if "projections" in replay:
        print(
            f"  {replay['projections']:,} distinct sets of answers to the facts the draft reads "
            "(decided once each per worker process, the other rows from its memo)"
        )
    print(
        f"  draft changes {replay['changed']:,} routes: {replay['transitions']}; "
        f"SRO with disabilities {replay['sro_with_disability']}, "
        f"without {replay['sro_without_disability']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--schools", type=int, default=200)
    parser.add_argument("--students-per-school", type=int, default=1000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--skip-load", action="store_true", help="reuse a kept database")
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("CELERY_BROKER_URL", ""),
        help="Redis for the workers (default: $CELERY_BROKER_URL); none: no worker figures",
    )
    parser.add_argument(
        "--workers", default="1,2,4", help="worker process counts to time (comma-separated)"
    )
    parser.add_argument("--no-dashboard", action="store_true", help="time the replay only")
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument(
        "--measure", choices=["replay", "workers", "dashboard"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.measure == "replay":
        return measure_replay(args.database_url)
    if args.measure == "workers":
        return measure_workers(args.database_url, args.broker_url, args.processes)
    if args.measure == "dashboard":
        return measure_dashboard(args.database_url)

    if not args.skip_load:
        recreate_database(args.database_url)
        load(args.database_url, args.incidents, args.schools, args.students_per_school)
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        print_replay(
            "one process, no worker (chunks one after another)",
            run_child("replay", args.database_url),
        )
        if args.broker_url.startswith("redis"):
            for processes in (int(n) for n in args.workers.split(",")):
                figures = run_child(
                    "workers",
                    args.database_url,
                    "--broker-url",
                    args.broker_url,
                    "--processes",
                    str(processes),
                )
                print_replay(f"celery worker -Q analysis -c {processes}", figures)
        else:
            print("no Redis broker (--broker-url): no worker figures")
        print(f"load average afterwards {os.getloadavg()[0]:.1f}")
        if args.no_dashboard:
            return
        dashboard = run_child("dashboard", args.database_url)
        print(
            f"dashboard over {dashboard['incidents']:,} incidents "
            f"({dashboard['referred_incidents']:,} referred, "
            f"{dashboard['students_referred']:,} students referred): "
            f"figures (SQL) {dashboard['figures_cold_s']:.2f} s cold, "
            f"{dashboard['figures_warm_s']:.2f} s warm; "
            f"GET /reports/equity/ {dashboard['page_first_s']:.2f} s, "
            f"{dashboard['page_second_s']:.2f} s ({dashboard['page_second_queries']} queries, "
            f"slowest {dashboard['slowest_queries_s']} s, {dashboard['page_kb']} KB, "
            f"HTTP {dashboard['page_status']}); CSV {dashboard['csv_s']:.2f} s"
        )
        print(
            f"GET /reports/crdc.csv: {dashboard['crdc_first_s']:.2f} s, "
            f"{dashboard['crdc_second_s']:.2f} s ({dashboard['crdc_rows']} schools, "
            f"HTTP {dashboard['crdc_status']}); "
            f"suppress=0 {dashboard['crdc_exact_first_s']:.2f} s, "
            f"{dashboard['crdc_exact_second_s']:.2f} s (HTTP {dashboard['crdc_exact_status']}); "
            f"GET /reports/deflection/ {dashboard['deflection_first_s']:.2f} s, "
            f"{dashboard['deflection_second_s']:.2f} s (HTTP {dashboard['deflection_status']})"
        )
    finally:
        if not args.keep:
            drop_database(args.database_url)


if __name__ == "__main__":
    main()
