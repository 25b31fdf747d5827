"""The district admin replays a draft in a real browser and watches its progress bar reach the
result; the replay and equity pages pass axe (WCAG 2.1 AA)."""

import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from incidents import services as incident_services
from policies.services import ruleset_create_draft, ruleset_ensure_default, ruleset_update
from reports import replay
from reports.replay_tally import ReplayTally
from schools.demo import seed_people_and_roster
from schools.models import School, User
from tests.e2e.conftest import assert_accessible, fits_a_phone, sign_in
from tests.reports.helpers import routed_incident
from triage.celery import app

INCIDENTS = 6


@pytest.fixture
def draft(transactional_db):
    district = seed_people_and_roster(students_per_school=5)
    ruleset_ensure_default(district=district)
    admin = User.objects.get(username="district_admin")
    teacher = User.objects.get(username="teacher")
    school = School.objects.get(code="WAS-MS")
    for n in range(INCIDENTS):
        incident, _ = incident_services.incident_file(
            reporter=teacher,
            school=school,
            category="physical_aggression",
            narrative=f"Fight number {n} in the hallway.",
            danger_now="to_others" if n % 2 == 0 else "none",
        )
        incident_services.incident_route(incident_id=incident.pk)
    draft = ruleset_create_draft(user=admin)
    spec = draft.spec()
    for rule in spec["rules"]:
        if rule["id"] == "danger-to-others":
            rule["route"], rule["also_notify"] = "co_responder", []
    ruleset_update(user=admin, version=draft.version, spec=spec)
    return draft


@pytest.fixture
def replay_in_a_thread(monkeypatch):
    """No worker: the run starts in a thread of the test process, one incident a chunk (the
    chunk group runs eagerly, one after another), slowed down so that the page polls real
    intermediate progress."""
    threads = []
    add = ReplayTally.add

    def slow_add(self, *args):
        add(self, *args)
        time.sleep(0.4)

    def send(*, run_id):
        def work():
            try:
                replay.replay_execute(run_id=run_id, chunk_size=1)
            finally:
                connection.close()

        thread = threading.Thread(target=work, daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(ReplayTally, "add", slow_add)
    monkeypatch.setattr(replay, "replay_send", send)
    eager = app.conf.task_always_eager
    app.conf.update(task_always_eager=True)
    yield
    for thread in threads:
        thread.join(timeout=30)
    app.conf.update(task_always_eager=eager)


def test_a_replay_runs_and_its_progress_bar_reaches_the_result(
    page, live_server, draft, replay_in_a_thread
):
    sign_in(page, live_server, "district_admin")
    page.goto(f"{live_server.url}/reports/replay/{draft.version}/")
    expect(
        page.get_by_role("heading", name=f"What-if replay of version {draft.version}")
    ).to_be_visible()
    expect(page.get_by_label("From")).to_have_value(re.compile(r"^\d{4}-08-01$"))
    assert_accessible(page)

    page.get_by_role("button", name="Start replay").click()
    bar = page.locator("#replay-bar")
    expect(bar).to_be_visible()
    # Real progress: part of the way, then all of it.
    page.wait_for_function(
        """() => {
            const bar = document.getElementById("replay-bar");
            const now = Number(bar.getAttribute("aria-valuenow"));
            return now > 0 && now < Number(bar.getAttribute("aria-valuemax"));
        }""",
        timeout=15_000,
    )
    expect(page.get_by_role("heading", name=re.compile(r"Result of replay #\d+"))).to_be_visible(
        timeout=20_000
    )
    expect(bar).to_have_attribute("aria-valuenow", str(INCIDENTS))
    expect(bar).to_have_attribute("aria-valuemax", str(INCIDENTS))
    expect(page.locator("#replay-status")).to_contain_text(f"Done: {INCIDENTS} of {INCIDENTS}")
    expect(page.locator("#result")).to_contain_text(
        f"3 of {INCIDENTS} incidents (50.0%) would change route."
    )
    changes = page.get_by_role("table", name="Route changes, most frequent first")
    expect(changes.get_by_role("row").nth(1)).to_have_text(
        re.compile(
            r"School resource officer\s*Co-responder \(clinician and SRO\)\s*3\s*#\d+, #\d+, #\d+"
        )
    )
    expect(page.get_by_role("button", name="Cancel replay")).to_have_count(0)
    assert_accessible(page)

    # The result is kept: it is there on the next visit too.
    page.reload()
    expect(page.locator("#result")).to_contain_text("would change route")


def test_the_equity_dashboard_is_accessible(page, live_server, draft):
    sign_in(page, live_server, "district_admin")
    page.goto(f"{live_server.url}/reports/equity/")
    expect(
        page.get_by_role("heading", name="Referrals to law enforcement and equity")
    ).to_be_visible()
    expect(page.get_by_role("table", name="Referrals and arrests by disability")).to_be_visible()
    expect(
        page.get_by_role("img", name=re.compile("Risk ratio of referral by disability"))
    ).to_be_visible()
    assert_accessible(page)

    page.get_by_label("School:", exact=True).select_option(label="Washington Middle (WAS-MS)")
    page.get_by_role("button", name="Show figures").click()
    expect(page.locator(".lead")).to_contain_text("Washington Middle")
    assert_accessible(page)


def test_the_deflection_view_is_accessible_and_its_charts_are_coloured_by_css(
    page, live_server, draft
):
    # Enough police contacts at every school that their rates are shown (not suppressed).
    for school in School.objects.filter(district=draft.district):
        for _ in range(12):
            routed_incident(school, "sro", when=timezone.now() - timedelta(hours=1))
    sign_in(page, live_server, "district_admin")
    page.goto(f"{live_server.url}/reports/equity/")
    page.get_by_role("link", name="Deflection").click()
    expect(
        page.get_by_role(
            "heading", name="Deflection: police contact and where incidents went instead"
        )
    ).to_be_visible()
    for table in (
        "Police contacts by month",
        "Police contacts by school",
        "Outcomes of incidents that reached the SRO side",
        "Hand-offs toward and away from the SRO, by group",
    ):
        expect(page.get_by_role("table", name=table)).to_be_visible()
    chart = page.get_by_role(
        "img", name=re.compile("Police contacts per 1,000 students, by school")
    )
    expect(chart).to_be_visible()
    # The bar colours come from static/css/reports.css (no inline style under the CSP).
    fill = page.locator("svg.chart rect.route-sro").first.evaluate(
        "el => getComputedStyle(el).fill"
    )
    assert fill == "rgb(164, 22, 26)"
    assert_accessible(page)
    assert fits_a_phone(page)

    page.get_by_label("School:", exact=True).select_option(label="Washington Middle (WAS-MS)")
    page.get_by_role("button", name="Show figures").click()
    expect(page.locator(".lead")).to_contain_text("Washington Middle")
    assert_accessible(page)
