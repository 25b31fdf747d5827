"""The queue as a responder reads it: life safety first, the countdown to each deadline, and
"for your information" notifications in their own list that closes itself."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import selectors, services
from incidents.models import ItemOrigin, QueueItem
from tests.incidents.test_queue_actions import demo, person, routed_item  # noqa: F401


def _vaping() -> QueueItem:
    from schools.models import School

    incident, _ = services.incident_file(
        reporter=person("teacher"),
        school=School.objects.get(code="WAS-MS"),
        narrative="Vaping in the restroom.",
        students=[],
        category="substance_use",
    )
    services.incident_route(incident_id=incident.pk)
    return QueueItem.objects.get(incident=incident, origin=ItemOrigin.ROUTING)


def test_a_firearm_sorts_above_an_older_vaping_referral(demo):  # noqa: F811
    vaping = _vaping()
    assert vaping.route == "administrator"
    firearm = routed_item("sro")
    notified = QueueItem.objects.get(incident=firearm.incident, origin=ItemOrigin.NOTIFY)
    assert notified.route == "administrator"
    # The principal: the firearm notification above the vaping referral filed before it.
    both = selectors.queue_items_listed(person("administrator"), notifications=None)
    assert [i.pk for i in both] == [notified.pk, vaping.pk]
    # ... and on the page the notification is in its own list, the referral in the items.
    assert [i.pk for i in selectors.queue_items_listed(person("administrator"))] == [vaping.pk]
    fyi = selectors.queue_items_listed(person("administrator"), notifications=True)
    assert [i.pk for i in fyi] == [notified.pk]
    everything = selectors.queue_items_listed(person("district_admin"))
    assert [i.pk for i in everything] == [firearm.pk, vaping.pk]


def test_life_safety_facts_sort_first_whatever_the_route(demo):  # noqa: F811
    vaping = _vaping()
    later = _vaping()
    # Facts that were learnt to be life-safety on an administrator item (e.g. a guardrail
    # turned off by the district): it still comes first.
    later.incident.danger_now = "to_others"
    later.incident.save(update_fields=["danger_now"])
    listed = selectors.queue_items_listed(person("administrator"))
    assert [i.pk for i in listed] == [later.pk, vaping.pk]
    assert [i.life_safety for i in listed] == [0, 1]


@pytest.mark.parametrize(
    ("minutes_in", "state", "escalation_level", "origin", "expected"),
    [
        (1, "queued", 0, "routing", "ok"),
        (4.9, "claimed", 0, "routing", "ok"),
        (5, "queued", 0, "routing", "amber"),
        (7.9, "queued", 0, "routing", "amber"),
        (8, "queued", 0, "routing", "red"),
        (10, "queued", 0, "routing", "overdue"),
        (12, "queued", 0, "routing", "overdue"),
        (12, "queued", 1, "routing", "escalated"),
        (3, "acknowledged", 0, "routing", ""),
        (3, "resolved", 0, "routing", ""),
        (3, "queued", 0, "notify", ""),
    ],
)
def test_countdown_states(minutes_in, state, escalation_level, origin, expected):
    start = timezone.now()
    item = QueueItem(
        state=state,
        origin=origin,
        escalation_level=escalation_level,
        queued_at=start,
        ack_deadline=start + timedelta(minutes=10),
    )
    assert selectors.countdown_state(item, start + timedelta(minutes=minutes_in)) == expected


def test_the_page_shows_the_countdown_and_the_fyi_list(demo, client):  # noqa: F811
    vaping = _vaping()
    firearm = routed_item("sro")
    client.force_login(person("administrator"))
    body = client.get("/queues/").content.decode()
    assert 'class="countdown countdown-ok"' in body
    assert f'<li id="item-{firearm.incident.queue_items.get(origin="notify").pk}"' in body
    assert "For your information" in body
    assert body.index(f'id="item-{vaping.pk}"') < body.index("Per-queue counts")


def test_notifications_close_themselves_when_the_incident_is_resolved(demo):  # noqa: F811
    firearm = routed_item("sro")
    notified = QueueItem.objects.get(incident=firearm.incident, origin=ItemOrigin.NOTIFY)
    services.queue_item_resolve(user=person("sro"), item_id=firearm.pk, outcome="safety_plan")
    notified.refresh_from_db()
    assert notified.state == "resolved"
    assert notified.closed_at is not None
    assert list(selectors.queue_items_listed(person("administrator"), notifications=True)) == []


def test_the_item_page_says_which_rule_sent_it_and_from_which_version(demo, client):  # noqa: F811
    item = routed_item("counselor")
    incident = item.incident
    client.force_login(person("counselor"))
    body = client.get(f"/queues/items/{item.pk}/").content.decode()
    assert incident.rule_name and f"<dt>Rule</dt><dd>{incident.rule_name}</dd>" in body
    assert f"Version {incident.ruleset_version}" in body
