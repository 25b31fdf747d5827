"""After sending (issue 12): what happens next on the incident page, and the reporter told by
email and on "My incidents" when their incident's item is acknowledged and resolved."""

import pytest
from django.test import Client

from incidents import services
from incidents.models import ItemOrigin, QueueItem
from policies.services import ruleset_ensure_default
from schools.demo import seed_people_and_roster
from schools.models import School, User

NARRATIVE = (
    "Jordan was crying in the hallway and said nobody listens to him, then he sat down by "
    "the lockers and would not talk to anyone for ten minutes."
)


@pytest.fixture
def demo(db):
    district = seed_people_and_roster(students_per_school=5)
    ruleset_ensure_default(district=district)
    return district


def person(username: str) -> User:
    return User.objects.get(username=username)


def file_and_route(**answers):
    incident, _ = services.incident_file(
        reporter=person("teacher"),
        school=School.objects.get(code="WAS-MS"),
        narrative=NARRATIVE,
        **answers,
    )
    services.incident_route(incident_id=incident.pk)
    return incident


def routing_item(incident, route):
    return QueueItem.objects.get(incident=incident, route=route, origin=ItemOrigin.ROUTING)


def page(path: str, username: str = "teacher") -> str:
    client = Client()
    client.force_login(person(username))
    return client.get(path).content.decode()


def test_the_incident_page_says_who_was_told_and_how_soon(demo):
    incident, _ = services.incident_file(
        reporter=person("teacher"),
        school=School.objects.get(code="WAS-MS"),
        narrative=NARRATIVE,
        category="emotional_crisis",
    )
    waiting = page(f"/incidents/{incident.pk}/")
    assert "The right responder is being chosen now." in waiting

    services.incident_route(incident_id=incident.pk)
    routed = page(f"/incidents/{incident.pk}/?part=status")
    assert (
        "<strong>What happens next:</strong> A counselor at Washington Middle has been told and "
        "must respond within 15 minutes."
    ) in routed


def test_the_sro_route_says_the_administrator_is_also_told(demo):
    incident = file_and_route(category="weapon", weapon="unknown", danger_now="none")

    html = page(f"/incidents/{incident.pk}/")

    assert (
        "The school resource officer at Washington Middle has been told and must respond within "
        "2 minutes. An administrator is also told."
    ) in html
    assert "<dt>Weapon</dt><dd>Not sure (not answered)</dd>" in html


def test_reporter_is_emailed_when_acknowledged_and_when_resolved(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    incident = file_and_route(category="emotional_crisis")
    item = routing_item(incident, "counselor")
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.queue_item_acknowledge(user=person("counselor"), item_id=item.pk)
        services.queue_item_acknowledge(user=person("counselor"), item_id=item.pk)  # no news
    to_reporter = [m for m in mailoutbox if m.to == ["teacher@demo.invalid"]]
    assert [m.subject for m in to_reporter] == [
        f"[WAS-MS] Your report #{incident.pk}: a responder is on it"
    ]
    assert "The counselor team is on the incident you reported." in to_reporter[0].body
    assert f"/incidents/{incident.pk}/" in to_reporter[0].body
    mine = page("/incidents/mine/")
    assert "A responder is on it" in mine

    with django_capture_on_commit_callbacks(execute=True):
        services.queue_item_resolve(
            user=person("counselor"),
            item_id=item.pk,
            outcome="counseling_provided",
            summary="Jordan met the counselor and went back to class.",
        )
    to_reporter = [m for m in mailoutbox if m.to == ["teacher@demo.invalid"]]
    assert [m.subject for m in to_reporter][1:] == [
        f"[WAS-MS] Your report #{incident.pk}: resolved"
    ]
    body = to_reporter[1].body
    assert "Outcome: Counseling provided." in body
    # Mail carries no student name, narrative or summary: the page has them.
    assert "Jordan" not in body and "counselor and went back" not in body
    mine = page("/incidents/mine/")
    assert (
        '<dt>Outcome</dt><dd><p class="incident-card-outcome"><strong>Counseling provided'
        "</strong>: Jordan met the counselor and went back to class.</p></dd>"
    ) in mine
    assert "Resolved" in mine


def test_reporter_hears_once_when_a_co_response_team_is_on_its_way(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    incident = file_and_route(
        category="fight", danger_now="to_others", student_state="dysregulated"
    )
    item = routing_item(incident, "co_responder")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.queue_item_acknowledge(user=person("clinician"), item_id=item.pk)
        services.queue_item_acknowledge(user=person("sro"), item_id=item.pk)  # second: no news
    to_reporter = [m for m in mailoutbox if m.to == ["teacher@demo.invalid"]]
    assert [m.subject for m in to_reporter] == [
        f"[WAS-MS] Your report #{incident.pk}: a responder is on it"
    ]
    assert "A responder is on it" in page("/incidents/mine/")


def test_notification_items_and_the_reporters_own_actions_send_no_news(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    incident = file_and_route(category="weapon", weapon="firearm", danger_now="none")
    notice = QueueItem.objects.get(incident=incident, origin=ItemOrigin.NOTIFY)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.queue_item_acknowledge(user=person("administrator"), item_id=notice.pk)

    assert [m for m in mailoutbox if "teacher@demo.invalid" in m.to] == []


def test_my_incidents_shows_the_first_words_of_each_narrative(demo):
    file_and_route(category="emotional_crisis")

    html = page("/incidents/mine/")

    assert (
        '<p class="incident-card-words">Jordan was crying in the hallway and said nobody '
        "listens to him, …</p>"
    ) in html
    assert "ten minutes" not in html


def test_the_responder_reads_an_unanswered_weapon_as_not_answered(demo):
    incident = file_and_route(category="weapon", danger_now="none")
    item = routing_item(incident, "sro")

    html = page(f"/queues/items/{item.pk}/", "sro")

    assert "<code>weapon</code> = not answered (not sure)" in html
    assert "<dt>Weapon</dt><dd>Not sure (not answered)</dd>" in html
