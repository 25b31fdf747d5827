"""Escalation recipients can open what they are sent to (read-only, logged); mail subjects
say the urgency, the category and the school first."""

from datetime import timedelta

from django.core import mail
from django.utils import timezone

from incidents import services
from incidents.models import AccessLogEntry
from tests.conftest import api_client_for
from tests.incidents.test_queue_actions import demo, person, routed_item  # noqa: F401


def test_a_school_administrator_can_read_an_item_escalated_to_them(
    demo,  # noqa: F811
    client,
    django_capture_on_commit_callbacks,
):
    item = routed_item("counselor")
    url = f"/queues/items/{item.pk}/"
    client.force_login(person("administrator"))
    assert client.get(url).status_code == 404  # not theirs before it escalates
    with django_capture_on_commit_callbacks(execute=True):
        escalated = services.queue_item_escalate(
            item_id=item.pk, now=item.ack_deadline + timedelta(seconds=1)
        )
    assert escalated is True
    [message] = [m for m in mail.outbox if "administrator@demo.invalid" in m.to]
    assert message.subject == (
        "Prompt: Emotional crisis at Washington Middle (not acknowledged in time, Counselor queue)"
    )
    assert url in message.body

    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "This item was escalated to you because nobody acknowledged it in time." in body
    assert "Jordan was crying in the hallway" in body
    assert ">Claim</button>" not in body and "Acknowledge: I am on it" not in body
    entry = AccessLogEntry.objects.get(user=person("administrator"))
    assert (entry.incident_id, entry.queue_item_id, entry.action) == (
        item.incident_id,
        item.pk,
        "view_item",
    )
    api = api_client_for(person("administrator"))
    assert api.get(f"/api/queue-items/{item.pk}/").status_code == 200
    # Reading is all: acting stays with the queue's members.
    assert client.post(url + "claim/").status_code == 404
    assert api.post(f"/api/queue-items/{item.pk}/acknowledge/").status_code == 404
    item.refresh_from_db()
    assert (item.state, item.owner_id) == ("queued", None)


def test_an_administrator_of_another_school_still_gets_404(demo, client):  # noqa: F811
    from schools.models import School
    from tests.factories import user_with_role

    item = routed_item("counselor")
    services.queue_item_escalate(item_id=item.pk, now=timezone.now() + timedelta(hours=1))
    elsewhere = user_with_role("administrator", School.objects.get(code="JEF-HS"), username="ap")
    client.force_login(elsewhere)
    assert client.get(f"/queues/items/{item.pk}/").status_code == 404


def test_member_mail_starts_with_urgency_category_and_school(
    demo,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    item = routed_item("sro")
    with django_capture_on_commit_callbacks(execute=True):
        services.queue_items_deliver(
            item_ids=list(item.incident.queue_items.values_list("pk", flat=True))
        )
    subjects = sorted({m.subject for m in mail.outbox})
    assert subjects == [
        "URGENT: Weapon at Washington Middle (for your information)",
        "URGENT: Weapon at Washington Middle (new, School resource officer queue)",
    ]
