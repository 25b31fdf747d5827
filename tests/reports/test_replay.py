"""What-if replay: the result on a handful of incidents, progress, cancellation, the task."""

import json
import random
from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import TestCase
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import Incident
from incidents.services import InvolvedStudent
from policies import engine
from policies import selectors as selectors_policies
from policies import services as services_policies
from policies.defaults import default_policy
from policies.models import RuleSet
from policies.registry import FACTS
from policies.services import ruleset_create_draft, ruleset_ensure_default, ruleset_update
from reports import replay, replay_selectors, tasks
from reports.models import ReplayChunk, ReplayRun
from reports.replay_tally import EXAMPLES_PER_CHANGE, ReplayTally, decision_memo
from schools.models import Role
from schools.selectors import school_ids_for
from tests.factories import SchoolFactory, StudentFactory, user_with_role
from triage.celery import QUEUE_NAMES, app

START, END = "2020-08-01", "2040-07-31"
START_DATE, END_DATE = date(2020, 8, 1), date(2040, 7, 31)


@pytest.fixture
def admin(school):
    return user_with_role(Role.DISTRICT_ADMIN, school, username="dadmin")


@pytest.fixture
def draft(district, admin):
    """Version 2: others in danger now go to the co-responders instead of the SRO."""
    ruleset_ensure_default(district=district, by=admin)
    draft = ruleset_create_draft(user=admin)
    spec = draft.spec()
    for rule in spec["rules"]:
        if rule["id"] == "danger-to-others":
            rule["route"], rule["also_notify"] = "co_responder", []
    ruleset_update(user=admin, version=draft.version, spec=spec)
    return RuleSet.objects.get(pk=draft.pk)


def file_and_route(school, **answers):
    teacher = user_with_role(Role.TEACHER, school, username="teach")
    students = [
        InvolvedStudent(role=role, student=student) for role, student in answers.pop("students")
    ]
    incident, _ = incident_services.incident_file(
        reporter=teacher, school=school, narrative="n", students=students, **answers
    )
    return incident_services.incident_route(incident_id=incident.pk)


@pytest.fixture
def history(school, draft):
    plain, plain2, iep, only_504 = (
        StudentFactory(school=school),
        StudentFactory(school=school),
        StudentFactory(school=school, iep=True),
        StudentFactory(school=school, section_504=True),
    )
    danger = {"category": "physical_aggression", "danger_now": "to_others"}
    return {
        # v1: danger-to-others -> sro; v2 -> co_responder (the one change)
        "plain_a": file_and_route(school, students=[("subject", plain)], **danger),
        "plain_c": file_and_route(school, students=[("subject", plain2)], **danger),
        # The engine sees every student involved: a witness's IEP makes it co_responder in
        # both versions. The reports group incidents by their subjects: "without".
        "plain_b": file_and_route(
            school, students=[("subject", plain), ("witness", iep)], **danger
        ),
        # v1 and v2: danger-with-mental-health (a disability plan) -> co_responder
        "iep": file_and_route(school, students=[("subject", iep)], **danger),
        "504": file_and_route(school, students=[("subject", only_504)], **danger),
        # unchanged: a firearm -> sro; a crisis -> counselor
        "firearm": file_and_route(
            school, category="weapon", weapon="firearm", students=[("subject", plain)]
        ),
        "crisis": file_and_route(
            school, category="emotional_crisis", students=[("subject", only_504)]
        ),
    }


@pytest.fixture(autouse=True)
def eager_celery():
    """No worker: the run's chunk group runs in-process, one chunk after another."""
    saved = {name: app.conf[name] for name in ("task_always_eager", "task_eager_propagates")}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(saved)


def execute(run_id: int, **kwargs) -> ReplayRun:
    """Run the replay as its task does, then its chunks (sent after commit), to the end."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        replay.replay_execute(run_id=run_id, **kwargs)
    return ReplayRun.objects.get(pk=run_id)


def start_run(admin, draft, **kwargs) -> ReplayRun:
    return ReplayRun.objects.create(
        ruleset=draft, requested_by=admin, period_start=START, period_end=END, **kwargs
    )


def test_the_replay_finds_the_one_changed_rule(admin, draft, history):
    assert [history[k].route for k in ("plain_a", "plain_c", "plain_b", "iep", "504")] == [
        "sro",
        "sro",
        "co_responder",
        "co_responder",
        "co_responder",
    ]
    run = start_run(admin, draft)

    run = execute(run_id=run.pk, chunk_size=2)

    assert run.status == "done"
    assert (run.processed, run.total) == (7, 7)
    result = run.result
    assert (result["total"], result["changed"]) == (7, 2)
    assert result["transitions"] == [
        {
            "from": "sro",
            "to": "co_responder",
            "count": 2,
            "examples": [history["plain_a"].pk, history["plain_c"].pk],
        }
    ]
    matrix = {row["from"]: row["to"] for row in result["matrix"]}
    assert matrix["sro"] == {"counselor": 0, "administrator": 0, "co_responder": 2, "sro": 1}
    assert matrix["co_responder"]["co_responder"] == 3
    assert matrix["counselor"]["counselor"] == 1
    split = result["by_disability"]
    # Without disabilities (by subjects; the witness's IEP does not count): 2 SRO -> 0.
    assert split["without"]["incidents"] == 4
    assert split["without"]["sro"] == {"before": 3, "after": 1, "change": -2}
    assert split["without"]["co_responder"] == {"before": 1, "after": 3, "change": 2}
    assert split["without"]["referral"] == {"before": 4, "after": 4, "change": 0}
    assert split["with"]["incidents"] == 3
    assert split["with"]["sro"] == {"before": 0, "after": 0, "change": 0}
    assert split["with"]["co_responder"] == {"before": 2, "after": 2, "change": 0}
    assert split["idea"]["incidents"] == 1
    assert split["504"]["incidents"] == 2


def test_the_result_is_kept_with_the_draft_without_touching_it(admin, draft, history):
    edited_at = draft.updated_at
    run = execute(run_id=start_run(admin, draft).pk)

    draft.refresh_from_db()
    assert draft.analysis["replay"]["run"] == run.pk
    assert draft.analysis["replay"]["changed"] == 2
    assert draft.analysis["replay"]["requested_by"] == "dadmin"
    assert draft.updated_at == edited_at


def test_the_period_limits_the_incidents(admin, draft, history):
    run = ReplayRun.objects.create(
        ruleset=draft, requested_by=admin, period_start="2020-08-01", period_end="2021-07-31"
    )
    run = execute(run_id=run.pk)
    assert (run.status, run.total, run.result["total"]) == ("done", 0, 0)


def test_a_cancel_stops_the_run_at_the_next_chunk(admin, draft, history, monkeypatch):
    run = start_run(admin, draft)
    original = ReplayTally.add

    def add_then_cancel(self, *args):
        original(self, *args)
        replay.replay_cancel(user=admin, run_id=run.pk)

    monkeypatch.setattr(ReplayTally, "add", add_then_cancel)

    run = execute(run_id=run.pk, chunk_size=2)

    run.refresh_from_db()
    assert (run.status, run.processed, run.result) == ("cancelled", 2, None)
    assert run.finished_at is not None
    draft.refresh_from_db()
    assert draft.analysis is None


def test_a_queued_run_is_cancelled_at_once_and_never_runs(admin, draft, history):
    run = start_run(admin, draft)
    replay.replay_cancel(user=admin, run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled"

    assert execute(run_id=run.pk).status == "cancelled"
    run.refresh_from_db()
    assert run.processed == 0


def test_a_finished_run_is_not_run_again(admin, draft, history):
    run = execute(run_id=start_run(admin, draft).pk)
    finished_at = run.finished_at
    execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.finished_at == finished_at


def test_a_failure_is_recorded(admin, draft, history, monkeypatch):
    def boom(*args):
        raise RuntimeError("facts missing")

    monkeypatch.setattr(ReplayTally, "add", boom)
    run = execute(run_id=start_run(admin, draft).pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == "The replay stopped on an error (RuntimeError); try again."


def test_start_sends_the_task_to_the_analysis_queue_after_commit(
    admin, draft, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        tasks.replay_run_task, "apply_async", lambda args, **options: sent.append((args, options))
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = replay.replay_start(user=admin, version=draft.version, start=START_DATE, end=END_DATE)
        assert sent == []
    for callback in callbacks:
        callback()
    assert sent == [([run.pk], {"queue": "analysis", "routing_key": "analysis"})]
    assert (run.status, run.period_start, run.period_end) == ("queued", START_DATE, END_DATE)

    with pytest.raises(ValidationError, match="already running"):
        replay.replay_start(user=admin, version=draft.version, start=START_DATE, end=END_DATE)


def test_start_is_for_the_district_admin_of_that_district_only(admin, draft, school):
    with pytest.raises(ValidationError):
        replay.replay_start(user=admin, version=draft.version, start=END_DATE, end=START_DATE)
    principal = user_with_role(Role.ADMINISTRATOR, school)
    with pytest.raises(PermissionDenied):
        replay.replay_start(user=principal, version=draft.version, start=START_DATE, end=END_DATE)
    elsewhere = user_with_role(Role.DISTRICT_ADMIN, SchoolFactory(code="FAR-HS"))
    with pytest.raises(Http404):
        replay.replay_start(user=elsewhere, version=draft.version, start=START_DATE, end=END_DATE)
    assert ReplayRun.objects.count() == 0


def test_the_replay_task_is_mapped_to_the_analysis_queue():
    assert "analysis" in QUEUE_NAMES
    assert app.amqp.router.route({}, "reports.tasks.replay_run_task")["queue"].name == "analysis"
    product_tasks = sorted(name for name in app.tasks if name.startswith("reports."))
    assert product_tasks == [
        "reports.tasks.replay_chunk_task",
        "reports.tasks.replay_end_stalled",
        "reports.tasks.replay_run_task",
    ]
    for name in product_tasks:
        assert app.amqp.router.route({}, name)["queue"].name in QUEUE_NAMES


def test_the_task_runs_the_service(admin, draft, history):
    run = start_run(admin, draft)
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.replay_run_task.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.status == "done"


# --- pages ---------------------------------------------------------------------------------


def test_the_replay_page_starts_a_run_and_reports_progress(
    client, admin, draft, history, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks.replay_run_task, "apply_async", lambda args, **options: None)
    client.force_login(admin)
    page = client.get(f"/reports/replay/{draft.version}/")
    assert page.status_code == 200
    assert page.context["form"].initial["start"].month == 8

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/reports/replay/{draft.version}/", {"start": START, "end": END})
    assert response.status_code == 302
    run = ReplayRun.objects.get()
    progress = client.get(f"/reports/replay/runs/{run.pk}/").json()
    assert (progress["status"], progress["processed"], progress["percent"]) == ("queued", 0, 0)
    assert "<progress" in client.get(f"/reports/replay/{draft.version}/").content.decode()

    execute(run_id=run.pk)
    progress = client.get(f"/reports/replay/runs/{run.pk}/").json()
    assert (progress["status"], progress["processed"], progress["total"]) == ("done", 7, 7)
    assert "2 of 7 incidents (28.6%) would change route" in progress["result_html"]
    html = client.get(f"/reports/replay/{draft.version}/").content.decode()
    assert f'href="/incidents/{history["plain_a"].pk}/"' in html


def test_the_cancel_button_cancels(client, admin, draft):
    run = start_run(admin, draft)
    client.force_login(admin)
    response = client.post(f"/reports/replay/runs/{run.pk}/cancel/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"


@pytest.mark.parametrize(
    "role", [Role.TEACHER, Role.COUNSELOR, Role.CLINICIAN, Role.SRO, Role.ADMINISTRATOR]
)
def test_replay_pages_are_for_district_admins_only(client, admin, draft, school, role):
    run = start_run(admin, draft)
    client.force_login(user_with_role(role, school))
    assert client.get(f"/reports/replay/{draft.version}/").status_code == 403
    assert (
        client.post(f"/reports/replay/{draft.version}/", {"start": START, "end": END}).status_code
        == 403
    )
    assert client.get(f"/reports/replay/runs/{run.pk}/").status_code == 403
    assert client.post(f"/reports/replay/runs/{run.pk}/cancel/").status_code == 403
    run.refresh_from_db()
    assert (run.status, run.cancel_requested, ReplayRun.objects.count()) == ("queued", False, 1)


def test_another_districts_run_is_not_found(client, admin, draft):
    run = start_run(admin, draft)
    elsewhere = user_with_role(Role.DISTRICT_ADMIN, SchoolFactory(code="FAR-HS"))
    client.force_login(elsewhere)
    assert client.get(f"/reports/replay/runs/{run.pk}/").status_code == 404
    assert client.get(f"/reports/replay/{draft.version}/").status_code == 404


# --- stalled runs and redelivered messages ------------------------------------------------


def silent_for(seconds: int) -> datetime:
    return timezone.now() - timedelta(seconds=seconds)


def test_a_stalled_run_is_ended_by_the_sweep_so_a_new_replay_can_start(
    admin, draft, history, settings, monkeypatch
):
    monkeypatch.setattr(tasks.replay_run_task, "apply_async", lambda args, **options: None)
    settings.REPLAY_STALLED_SECONDS = 300
    published = RuleSet.objects.get(district=draft.district, version=1)
    other_draft = ruleset_create_draft(user=admin)
    dead_worker = start_run(admin, draft, status="running", attempt=1, heartbeat_at=silent_for(301))
    lost_message = ReplayRun.objects.create(
        ruleset=published, requested_by=admin, period_start=START, period_end=END
    )
    ReplayRun.objects.filter(pk=lost_message.pk).update(created_at=silent_for(301))
    busy = start_run(admin, other_draft, status="running", attempt=1, heartbeat_at=silent_for(299))
    with pytest.raises(ValidationError, match="already running"):
        replay.replay_start(user=admin, version=draft.version, start=START_DATE, end=END_DATE)

    assert tasks.replay_end_stalled.apply().get() == 2

    dead_worker.refresh_from_db()
    assert (dead_worker.status, dead_worker.error) == (
        "failed",
        "This replay stopped making progress (nothing from its worker for 5 minutes), so it "
        "was ended to let a new replay start; start it again.",
    )
    assert dead_worker.finished_at is not None
    lost_message.refresh_from_db()
    assert (lost_message.status, lost_message.error) == (
        "failed",
        "No worker started this replay within 5 minutes, so it was ended to let a new replay "
        "start; start it again.",
    )
    busy.refresh_from_db()
    assert (busy.status, busy.error, busy.finished_at) == ("running", "", None)
    again = replay.replay_start(user=admin, version=draft.version, start=START_DATE, end=END_DATE)
    assert again.status == "queued"


def test_the_stalled_run_sweep_runs_on_the_maintenance_queue_every_minute():
    route = app.amqp.router.route({}, "reports.tasks.replay_end_stalled")
    assert route["queue"].name == "maintenance"
    assert app.conf.beat_schedule["end-stalled-replays"] == {
        "task": "reports.tasks.replay_end_stalled",
        "schedule": 60.0,
    }


def test_a_second_delivery_while_the_run_is_running_does_nothing(
    admin, draft, history, monkeypatch
):
    run = start_run(admin, draft)
    original = ReplayTally.add
    redelivered = []

    def add_then_redeliver(self, *args):
        original(self, *args)
        if not redelivered:
            redelivered.append(None)
            redelivered[0] = replay.replay_execute(run_id=run.pk, chunk_size=2)

    monkeypatch.setattr(ReplayTally, "add", add_then_redeliver)

    run = execute(run_id=run.pk, chunk_size=2)

    (second,) = redelivered
    assert (second.status, second.attempt, second.processed) == ("running", 1, 0)
    run.refresh_from_db()
    assert (run.status, run.attempt, run.processed, run.total) == ("done", 1, 7, 7)
    assert (run.result["total"], run.result["changed"]) == (7, 2)


def test_a_run_whose_worker_died_is_taken_over_and_the_old_worker_writes_nothing(
    admin, draft, history, monkeypatch, settings
):
    settings.REPLAY_STALLED_SECONDS = 300
    run = start_run(admin, draft)
    original = ReplayTally.add
    taken_over = []

    def add_then_go_silent(self, *args):
        original(self, *args)
        if not taken_over:
            taken_over.append(None)
            # The first worker hangs past the stall limit; its message is delivered again.
            ReplayRun.objects.filter(pk=run.pk).update(heartbeat_at=silent_for(301))
            taken_over[0] = replay.replay_execute(run_id=run.pk, chunk_size=3)

    monkeypatch.setattr(ReplayTally, "add", add_then_go_silent)

    first = execute(run_id=run.pk, chunk_size=2)

    (second,) = taken_over
    # The second delivery took the run over and sent its own chunks; they finish it.
    assert (second.status, second.attempt, second.processed) == ("running", 2, 0)
    assert (first.status, first.attempt) == ("done", 2)
    run.refresh_from_db()
    assert (run.status, run.attempt, run.processed) == ("done", 2, 7)
    draft.refresh_from_db()
    assert draft.analysis["replay"]["run"] == run.pk


def test_a_slow_worker_ended_by_the_sweep_stops_without_writing(
    admin, draft, history, monkeypatch, settings
):
    settings.REPLAY_STALLED_SECONDS = 300
    run = start_run(admin, draft)
    original = ReplayTally.add

    def add_then_sweep(self, *args):
        original(self, *args)
        ReplayRun.objects.filter(pk=run.pk).update(heartbeat_at=silent_for(301))
        replay.replay_runs_end_stalled()

    monkeypatch.setattr(ReplayTally, "add", add_then_sweep)

    execute(run_id=run.pk, chunk_size=2)

    run.refresh_from_db()
    assert (run.status, run.processed, run.result) == ("failed", 0, None)
    assert run.error.startswith("This replay stopped making progress")
    draft.refresh_from_db()
    assert draft.analysis is None


def test_cancel_ends_a_stalled_run_at_once(admin, draft, history, settings, monkeypatch):
    monkeypatch.setattr(tasks.replay_run_task, "apply_async", lambda args, **options: None)
    settings.REPLAY_STALLED_SECONDS = 300
    fresh = start_run(admin, draft, status="running", attempt=1, heartbeat_at=silent_for(299))
    replay.replay_cancel(user=admin, run_id=fresh.pk)
    fresh.refresh_from_db()
    assert (fresh.status, fresh.cancel_requested, fresh.finished_at) == ("running", True, None)
    ReplayRun.objects.filter(pk=fresh.pk).update(heartbeat_at=silent_for(301))

    run = replay.replay_cancel(user=admin, run_id=fresh.pk)

    assert run.status == "cancelled"
    run.refresh_from_db()
    assert (run.status, run.cancel_requested) == ("cancelled", True)
    assert run.finished_at is not None
    assert (
        replay.replay_start(
            user=admin, version=draft.version, start=START_DATE, end=END_DATE
        ).status
        == "queued"
    )


# --- a kept result after the draft is edited -----------------------------------------------

OUT_OF_DATE = "<strong>Out of date</strong> — the draft was edited after this replay; run it again"


def send_danger_to(admin, draft, route: str) -> None:
    spec = RuleSet.objects.get(pk=draft.pk).spec()
    for rule in spec["rules"]:
        if rule["id"] == "danger-to-others":
            rule["route"] = route
    ruleset_update(user=admin, version=draft.version, spec=spec)


def test_a_result_is_out_of_date_once_the_draft_is_edited(client, admin, draft, history):
    run = execute(run_id=start_run(admin, draft).pk)
    assert run.spec_digest == draft.spec_digest()
    client.force_login(admin)
    html = client.get(f"/reports/replay/{draft.version}/").content.decode()
    assert "2 of 7 incidents (28.6%) would change route" in html
    assert "Out of date" not in html
    # Saving the draft unchanged changes nothing that a replay sees.
    services_policies.ruleset_save_draft(user=admin, version=draft.version, spec=draft.spec())
    assert "Out of date" not in client.get(f"/reports/replay/{draft.version}/").content.decode()

    send_danger_to(admin, draft, "sro")

    html = client.get(f"/reports/replay/{draft.version}/").content.decode()
    assert OUT_OF_DATE in html
    assert 'aria-describedby="result-out-of-date"' in html
    assert OUT_OF_DATE in client.get(f"/reports/replay/runs/{run.pk}/").json()["result_html"]
    draft.refresh_from_db()
    assert (draft.analysis["replay"]["run"], draft.analysis["replay"]["stale"]) == (run.pk, True)

    send_danger_to(admin, draft, "co_responder")  # back to the very spec that was replayed

    assert "Out of date" not in client.get(f"/reports/replay/{draft.version}/").content.decode()
    draft.refresh_from_db()
    assert draft.analysis["replay"]["stale"] is False


def test_a_draft_edited_during_its_replay_gets_an_out_of_date_result(
    client, admin, draft, history, monkeypatch
):
    run = start_run(admin, draft)
    original = ReplayTally.add
    edited = []

    def add_then_edit(self, *args):
        original(self, *args)
        if not edited:
            edited.append(True)
            send_danger_to(admin, draft, "sro")

    monkeypatch.setattr(ReplayTally, "add", add_then_edit)
    execute(run_id=run.pk, chunk_size=2)

    client.force_login(admin)
    assert OUT_OF_DATE in client.get(f"/reports/replay/{draft.version}/").content.decode()
    assert "Out of date" in client.get("/rules/").content.decode()


def test_the_rule_editor_shows_the_kept_replay_while_it_is_current(client, admin, draft, history):
    client.force_login(admin)
    assert "What-if replay:" not in client.get(f"/rules/{draft.version}/edit/").content.decode()
    run = execute(run_id=start_run(admin, draft).pk)
    summary = (
        f': 2 of 7 incidents would change route. <a href="/reports/replay/{draft.version}/#result">'
        f"See replay #{run.pk}</a>"
    )
    replayed_at = f'Replayed <time datetime="{timezone.localtime(run.finished_at).isoformat()}">'

    for url in ("/rules/", f"/rules/{draft.version}/edit/", f"/rules/{draft.version}/"):
        html = client.get(url).content.decode()
        assert replayed_at in html, url
        assert summary in html, url
        assert "Out of date" not in html, url

    send_danger_to(admin, draft, "sro")

    for url in ("/rules/", f"/rules/{draft.version}/edit/", f"/rules/{draft.version}/"):
        html = client.get(url).content.decode()
        assert summary not in html, url
        assert (
            "<strong>Out of date</strong> — the draft was edited after the replay of <time"
        ) in html, url
        assert f'<a href="/reports/replay/{draft.version}/">run it again</a>' in html, url


def test_thousands_are_grouped_in_the_kept_summary(draft):
    kept = RuleSet.objects.get(pk=draft.pk)
    kept.analysis = {
        "replay": {
            "run": 1,
            "finished_at": "2026-05-04T10:00:00+00:00",
            "changed": 41,
            "total": 7000,
            "spec_digest": kept.spec_digest(),
        }
    }
    assert selectors_policies.ruleset_kept_replay(kept).summary == (
        "41 of 7,000 incidents would change route"
    )
    assert selectors_policies.ruleset_kept_replay(kept).current is True
    del kept.analysis["replay"]["spec_digest"]  # kept before digests were recorded
    assert selectors_policies.ruleset_kept_replay(kept).current is False


@pytest.mark.parametrize("end", ["9999-12-31", "1899-12-31"])
def test_a_replay_period_out_of_sane_years_is_refused_and_nothing_starts(client, admin, draft, end):
    client.force_login(admin)
    response = client.post(f"/reports/replay/{draft.version}/", {"start": START, "end": end})
    assert response.status_code == 200
    assert "Pick a date between 1 January 2000 and 31 December 2100." in response.content.decode()
    assert not ReplayRun.objects.exists()


@pytest.mark.parametrize("url", ["/reports/equity/", "/reports/equity.csv", "/reports/deflection/"])
def test_report_periods_out_of_sane_years_are_refused_not_a_500(client, admin, draft, url):
    client.force_login(admin)
    response = client.get(url, {"start": "2025-08-01", "end": "9999-12-31"})
    assert response.status_code in {200, 400}
    if url.endswith("/"):
        assert (
            "Pick a date between 1 January 2000 and 31 December 2100." in response.content.decode()
        )


# --- the replay in chunks (a Celery group), against one pass over every row ----------------

ANSWERS = {
    "category": ["physical_aggression", "disruption", "threat", "emotional_crisis", "weapon"],
    "weapon": ["none"] * 6 + ["object_used_as_weapon", "firearm", "unknown"],
    "danger_now": ["to_others"] * 4 + ["none", "to_self", "unknown"],
    "threat": ["none"] * 4 + ["to_others", "to_kill_or_seriously_injure", "unknown"],
    "injury": ["none", "first_aid", "serious"],
}
NOT_COMPARED = ("seconds", "per_second", "version", "period")


@pytest.fixture
def random_history(school, draft):
    """40 incidents with random answers and subjects (no, IEP or 504 plans), seeded."""
    rng = random.Random(18)
    students = [
        StudentFactory(school=school, iep=kind == "iep", section_504=kind == "504")
        for kind in ("none", "none", "none", "none", "none", "iep", "504", "iep")
    ]
    incidents = []
    for _ in range(40):
        answers = {name: rng.choice(values) for name, values in ANSWERS.items()}
        subjects = rng.sample(students, rng.randint(1, 2))
        incidents.append(
            file_and_route(school, students=[("subject", s) for s in subjects], **answers)
        )
    return incidents


def one_pass_result(admin, draft) -> dict:
    """What the replay computed before it was split: one tally over every row, in id order."""
    decide = engine.compile_ruleset(draft.spec()).decide
    rows = [
        (pk, school_id, route, bool(notify) and "sro" in notify, facts)
        for pk, school_id, route, facts, notify in replay_selectors.replay_source(
            district=draft.district, start=START_DATE, end=END_DATE
        )
    ]
    tally = ReplayTally(school_ids_for(admin))
    groups = replay_selectors.replay_disability_groups(rows[0][0], rows[-1][0])
    tally.add(rows, groups, lambda facts: (decide(facts).route, "sro" in decide(facts).also_notify))
    return tally.result(replay_selectors.incident_ids_visible(admin, tally.example_ids()))


def compared(result: dict) -> dict:
    return {key: value for key, value in result.items() if key not in NOT_COMPARED}


@pytest.mark.parametrize("chunk_size", [1, 7, 1000, 41])
def test_the_chunked_result_is_the_one_pass_result(admin, draft, random_history, chunk_size):
    expected = one_pass_result(admin, draft)
    assert expected["total"] == 40
    assert expected["changed"] > EXAMPLES_PER_CHANGE  # examples come from several chunks

    run = execute(start_run(admin, draft).pk, chunk_size=chunk_size)

    assert (run.status, run.processed, run.total) == ("done", 40, 40)
    assert compared(run.result) == expected
    assert not ReplayChunk.objects.exists()  # the partials are gone once merged
    draft.refresh_from_db()
    assert compared(draft.analysis["replay"]) == {
        **expected,
        "run": run.pk,
        "finished_at": run.finished_at.isoformat(),
        "requested_by": "dadmin",
        "spec_digest": draft.spec_digest(),
    }


def plan(admin, draft, chunk_size: int, run: ReplayRun | None = None) -> tuple[ReplayRun, list]:
    """The run's task alone: it takes the run and plans its chunks; the group is not sent."""
    run = run or start_run(admin, draft)
    with TestCase.captureOnCommitCallbacks(execute=False) as sends:
        replay.replay_execute(run_id=run.pk, chunk_size=chunk_size)
    return ReplayRun.objects.get(pk=run.pk), sends


def test_a_cancel_mid_way_skips_the_remaining_chunks(admin, draft, random_history, monkeypatch):
    run = start_run(admin, draft)
    counted = []
    original = ReplayTally.add

    def add_and_cancel_after_two(self, *args):
        original(self, *args)
        counted.append(self.total)
        if len(counted) == 2:
            replay.replay_cancel(user=admin, run_id=run.pk)

    monkeypatch.setattr(ReplayTally, "add", add_and_cancel_after_two)

    run = execute(run.pk, chunk_size=10)

    assert counted == [10, 10]  # chunks 3 and 4 were skipped, not counted
    assert (run.status, run.processed, run.total, run.result) == ("cancelled", 20, 40, None)
    assert not ReplayChunk.objects.exists()
    draft.refresh_from_db()
    assert draft.analysis is None


def test_a_chunk_delivered_twice_is_counted_once(admin, draft, random_history):
    run, _ = plan(admin, draft, chunk_size=15)
    assert (run.status, run.total, ReplayChunk.objects.filter(run=run).count()) == (
        "running",
        40,
        3,
    )
    for index in (0, 0, 1, 1, 2):
        replay.replay_chunk_execute(run_id=run.pk, attempt=1, index=index)
    run.refresh_from_db()
    assert (run.status, run.processed) == ("done", 40)
    assert compared(run.result) == one_pass_result(admin, draft)
    finished_at = run.finished_at

    replay.replay_chunk_execute(run_id=run.pk, attempt=1, index=2)  # after the end, too

    run.refresh_from_db()
    assert (run.status, run.processed, run.finished_at) == ("done", 40, finished_at)


def test_a_stale_attempts_chunks_write_nothing(admin, draft, random_history, settings):
    settings.REPLAY_STALLED_SECONDS = 300
    first, first_sends = plan(admin, draft, chunk_size=15)
    replay.replay_chunk_execute(run_id=first.pk, attempt=1, index=0)
    assert ReplayRun.objects.get(pk=first.pk).processed == 15
    # Its workers die; the run's message is delivered again and takes the run over.
    ReplayRun.objects.filter(pk=first.pk).update(heartbeat_at=silent_for(301))
    second, second_sends = plan(admin, draft, chunk_size=25, run=first)
    assert (second.status, second.attempt, second.processed, second.total) == (
        "running",
        2,
        0,
        40,
    )

    for index in (1, 2):  # the first attempt's late chunks
        replay.replay_chunk_execute(run_id=first.pk, attempt=1, index=index)

    run = ReplayRun.objects.get(pk=first.pk)
    assert (run.status, run.processed) == ("running", 0)
    assert set(ReplayChunk.objects.values_list("attempt", "index", "done_at")) == {
        (2, 0, None),
        (2, 1, None),
    }
    for send in second_sends:
        send()  # the second attempt's group (eager: its chunks run here)
    run.refresh_from_db()
    assert (run.status, run.attempt, run.processed) == ("done", 2, 40)
    assert compared(run.result) == one_pass_result(admin, draft)


def test_a_replay_of_nothing_is_done_at_once(admin, draft):
    run = execute(start_run(admin, draft).pk)
    assert (run.status, run.processed, run.total, run.result["total"]) == ("done", 0, 0, 0)


# --- the PostgreSQL path: the facts the version reads, decided once per distinct answers -----


def odd_facts(rng: random.Random) -> dict:
    """A facts document as history may hold it: registry values, "unknown", nulls, missing
    answers, and values of the wrong type."""
    facts = {}
    for name, fact in FACTS.items():
        pick = rng.random()
        if pick < 0.08:
            continue
        if pick < 0.14:
            facts[name] = None
        elif pick < 0.18:
            facts[name] = rng.choice(["12", 12.0, 12.5, True, 0, "unknown", 'é"\\'])
        elif fact.type == "bool":
            facts[name] = rng.random() < 0.5
        elif fact.type == "int":
            facts[name] = rng.randint(3, 19)
        else:
            facts[name] = rng.choice([*fact.values, "unknown"])
    return facts


def odd_decision(rng: random.Random, route: str) -> dict:
    decision = {"route": route}
    notify = rng.choice([["sro"], ["counselor", "sro"], ["counselor"], [], None, "missing"])
    if notify != "missing":
        decision["also_notify"] = notify
    return decision


def chunk_rows(draft, incidents, facts):
    pks = [incident.pk for incident in incidents]
    return list(
        replay_selectors.replay_chunk_rows(
            district=draft.district,
            start=START_DATE,
            end=END_DATE,
            first_pk=min(pks),
            last_pk=max(pks),
            facts=facts,
        )
    )


@pytest.mark.skipif(
    not replay_selectors.replay_projects_facts(), reason="PostgreSQL picks the facts"
)
def test_the_picked_facts_decide_as_the_whole_document(draft, random_history):
    rng = random.Random(1818)
    policy = engine.compile_ruleset(draft.spec())
    decide_calls = []

    def counted_decide(facts):
        decide_calls.append(facts)
        return policy.decide(facts)

    memo = decision_memo(counted_decide, policy.facts_read)
    rows_seen = 0
    for _ in range(6):
        for incident in random_history:
            Incident.objects.filter(pk=incident.pk).update(
                facts=odd_facts(rng), decision=odd_decision(rng, incident.route)
            )
        documents = chunk_rows(draft, random_history, None)
        picked = chunk_rows(draft, random_history, policy.facts_read)

        assert [row[:4] for row in picked] == [row[:4] for row in documents]
        for (pk, _school, _route, _sro, projection), document in zip(
            picked, documents, strict=True
        ):
            decision = policy.decide(document[4])
            assert memo(projection) == (decision.route, "sro" in decision.also_notify), pk
        rows_seen += len(picked)
    assert rows_seen == 240
    assert {row[3] for row in documents} == {True, False}
    # Every distinct projection was decided once (the memo was used), and no two decided
    # projections were the same text.
    assert len(decide_calls) == len({json.dumps(facts) for facts in decide_calls})


def test_the_memo_keeps_at_most_its_limit_and_still_decides_every_row():
    policy = engine.compile_ruleset(default_policy())
    decided_count = []

    def counted_decide(facts):
        decided_count.append(1)
        return policy.decide(facts)

    names = policy.facts_read
    calm = json.dumps([None] * len(names))
    armed = json.dumps(["firearm" if name == "weapon" else None for name in names])
    crisis = json.dumps(["emotional_crisis" if name == "category" else None for name in names])
    memo = decision_memo(counted_decide, names, limit=2)

    outcomes = [memo(p) for p in (calm, armed, crisis, calm, armed, crisis, crisis)]

    assert outcomes[:3] == outcomes[3:6]
    assert outcomes[0][0] != outcomes[1][0] == "sro"
    assert outcomes[1][1] is False  # the SRO is the route, not notified besides
    assert len(decided_count) == 5  # calm and armed kept; crisis decided each time


def test_the_whole_document_path_gives_the_one_pass_result(
    admin, draft, random_history, monkeypatch
):
    """SQLite (the embedded default) reads whole documents: the same result."""
    monkeypatch.setattr(replay_selectors, "replay_projects_facts", lambda: False)
    expected = one_pass_result(admin, draft)

    run = execute(start_run(admin, draft).pk, chunk_size=9)

    assert (run.status, run.processed) == ("done", 40)
    assert compared(run.result) == expected


def test_a_version_edited_between_runs_is_not_decided_from_the_last_runs_memo(
    admin, draft, random_history
):
    first = execute(start_run(admin, draft).pk, chunk_size=7)
    assert compared(first.result) == one_pass_result(admin, draft)
    spec = draft.spec()
    for rule in spec["rules"]:
        if rule["id"] == "danger-to-others":
            rule["route"] = "counselor"
    ruleset_update(user=admin, version=draft.version, spec=spec)
    draft.refresh_from_db()

    second = execute(start_run(admin, draft).pk, chunk_size=7)

    assert compared(second.result) == one_pass_result(admin, draft)
    assert compared(second.result) != compared(first.result)
