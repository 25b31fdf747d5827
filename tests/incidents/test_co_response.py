"""Co-response for two: each member says "On my way", the clinician leads unless the team says
otherwise, escalation stops at the first, and either member adds notes and resolves."""

from datetime import timedelta

from incidents import services
from incidents.models import EventKind, TimelineEvent
from incidents.selectors import co_response
from tests.incidents.test_queue_actions import demo, person, routed_item  # noqa: F401


def test_both_members_acknowledge_the_clinician_leads_and_escalation_stops(demo, client):  # noqa: F811
    item = routed_item("co_responder")
    services.queue_item_acknowledge(user=person("sro"), item_id=item.pk)
    item.refresh_from_db()
    assert (item.state, item.owner.username) == ("acknowledged", "sro")
    # The first "On my way" stops the escalation clock.
    late = item.ack_deadline + timedelta(minutes=1)
    assert services.queue_item_escalate(item_id=item.pk, now=late) is False
    item.refresh_from_db()
    assert item.escalation_level == 0
    # The clinician is not locked out: they acknowledge for themselves, and lead.
    services.queue_item_claim(user=person("clinician"), item_id=item.pk)
    services.queue_item_acknowledge(user=person("clinician"), item_id=item.pk)
    team = co_response(item, person("clinician"))
    assert [(m.user.username, m.role) for m in team.on_the_way] == [
        ("sro", "sro"),
        ("clinician", "clinician"),
    ]
    assert team.lead.user.username == "clinician"
    acks = TimelineEvent.objects.filter(incident=item.incident, kind=EventKind.ACKNOWLEDGED)
    assert [(e.actor.username, e.data["on_my_way"]) for e in acks] == [
        ("sro", "sro"),
        ("clinician", "clinician"),
    ]
    # Saying it twice changes nothing.
    services.queue_item_acknowledge(user=person("clinician"), item_id=item.pk)
    assert acks.count() == 2

    client.force_login(person("sro"))
    page = client.get(f"/queues/items/{item.pk}/").content.decode()
    assert '<dd id="co-lead">Chris Clinician (Clinician)</dd>' in page
    assert "Take the lead" in page and ">On my way</button>" not in page


def test_the_team_can_choose_another_lead_and_either_member_resolves(demo, client):  # noqa: F811
    item = routed_item("co_responder")
    services.queue_item_acknowledge(user=person("clinician"), item_id=item.pk)
    services.queue_item_acknowledge(user=person("sro"), item_id=item.pk)
    assert co_response(item, person("sro")).lead.user.username == "clinician"
    services.queue_item_lead_take(user=person("sro"), item_id=item.pk)
    assert co_response(item, person("sro")).lead.user.username == "sro"
    services.queue_item_note(user=person("clinician"), item_id=item.pk, text="Student calmer.")
    services.queue_item_note(user=person("sro"), item_id=item.pk, text="Area secured.")
    resolved = services.queue_item_resolve(
        user=person("sro"), item_id=item.pk, outcome="safety_plan", summary="Safe at home."
    )
    assert resolved.state == "resolved"
    notes = TimelineEvent.objects.filter(incident=item.incident, kind=EventKind.NOTE)
    assert sorted(e.actor.username for e in notes) == ["clinician", "sro"]


def test_the_page_offers_on_my_way_to_a_member_not_yet_coming(demo, client):  # noqa: F811
    item = routed_item("co_responder")
    client.force_login(person("sro"))
    response = client.post(f"/queues/items/{item.pk}/acknowledge/", follow=True)
    assert "On my way: the team can see you are coming." in response.content.decode()
    client.force_login(person("clinician"))
    page = client.get(f"/queues/items/{item.pk}/").content.decode()
    assert ">On my way</button>" in page
    assert ">Claim</button>" not in page
    assert "Nobody yet" not in page


def test_taking_the_lead_over_the_api(demo):  # noqa: F811
    from tests.conftest import api_client_for

    item = routed_item("co_responder")
    sro = api_client_for(person("sro"))
    refused = sro.post(f"/api/queue-items/{item.pk}/lead/")
    assert refused.status_code == 409  # not on the way yet
    assert sro.post(f"/api/queue-items/{item.pk}/acknowledge/").status_code == 200
    services.queue_item_acknowledge(user=person("clinician"), item_id=item.pk)
    assert co_response(item, person("sro")).lead.user.username == "clinician"
    assert sro.post(f"/api/queue-items/{item.pk}/lead/").status_code == 200
    assert co_response(item, person("sro")).lead.user.username == "sro"
