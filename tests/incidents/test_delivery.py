"""Delivery: each queue item told to its queue's members once, however many messages arrive."""

import pytest
from django.core import mail

from incidents import live, services
from incidents.models import CoResponderTeamMember, QueueItem, ResponderQueue
from incidents.selectors import queue_members
from policies.services import ruleset_ensure_default
from schools.models import Role
from tests.factories import StudentFactory, user_with_role


@pytest.fixture
def routed(school, other_school, monkeypatch):
    """Three counselor items at two schools and an sro item, routed in one batch."""
    ruleset_ensure_default(district=school.district)
    monkeypatch.setattr(
        services.routing, "incident_dispatch", lambda *, incident_id, force=False: True
    )
    monkeypatch.setattr(
        services.delivery, "queue_items_deliver_later", lambda *, item_ids, route: None
    )
    teacher = user_with_role(Role.TEACHER, school, other_school, username="t")
    for username, where in (("c1", school), ("c2", other_school)):
        counselor = user_with_role(Role.COUNSELOR, where, username=username)
        counselor.email = f"{username}@example.org"
        counselor.save()
    kid = StudentFactory(school=school, first_name="Jordan", last_name="Ellis")
    incidents = []
    for where, category in (
        (school, "emotional_crisis"),
        (school, "emotional_crisis"),
        (other_school, "emotional_crisis"),
    ):
        incident, _ = services.incident_file(
            reporter=teacher,
            school=where,
            category=category,
            narrative="Jordan Ellis was crying and asked to talk to someone.",
            students=[services.InvolvedStudent(role="subject", student=kid)]
            if where == school
            else [],
        )
        incidents.append(incident)
    services.incident_route(incident_id=incidents[0].pk, batch=10)
    return QueueItem.objects.order_by("pk")


def test_a_batch_tells_each_queues_members_once_and_names_no_student(
    routed, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(
        live,
        "publish_items",
        lambda items, event: published.extend((item.pk, event) for item in items),
    )
    ids = [item.pk for item in routed]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.queue_items_deliver(item_ids=[*ids, ids[0]]) == 3
    assert sorted(published) == sorted((pk, "arrived") for pk in ids)
    # One mail per queue: the two items at the first school come as one list.
    assert sorted(m.to[0] for m in mail.outbox) == ["c1@example.org", "c2@example.org"]
    by_to = {m.to[0]: m for m in mail.outbox}
    both = by_to["c1@example.org"]
    assert "(and 1 more, Counselor queue)" in both.subject
    assert both.body.startswith("2 new items for the Counselor queue at ")
    for pk in ids[:2]:
        assert f"/queues/items/{pk}/" in both.body
    assert f"/queues/items/{ids[2]}/" in by_to["c2@example.org"].body
    assert "more" not in by_to["c2@example.org"].subject
    for message in mail.outbox:
        assert "Jordan" not in message.subject + message.body
        assert "Ellis" not in message.subject + message.body
        assert "crying" not in message.body
    for item in QueueItem.objects.filter(pk__in=ids):
        assert item.delivered_at is not None
        (event,) = item.incident.timeline.filter(kind="delivered")
        assert event.data == {"route": "counselor", "item": item.pk, "recipients": 1}


def test_copies_of_a_delivery_message_deliver_nothing_twice(
    routed, django_capture_on_commit_callbacks
):
    ids = [item.pk for item in routed]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.queue_items_deliver(item_ids=ids[:2]) == 2
        assert services.queue_items_deliver(item_ids=ids) == 1  # only the one not delivered
        assert services.queue_items_deliver(item_ids=ids) == 0
    assert len(mail.outbox) == 2  # one per delivery and queue: the first two came together
    assert sum(i.incident.timeline.filter(kind="delivered").count() for i in routed) == 3


def test_the_task_delivers_the_items_of_its_list(routed, django_capture_on_commit_callbacks):
    from incidents import tasks

    first, *rest = [item.pk for item in routed]
    with django_capture_on_commit_callbacks(execute=True):
        tasks.deliver_task.run([first])
        tasks.deliver_task.run(rest)
    assert not QueueItem.objects.filter(delivered_at__isnull=True).exists()
    assert len(mail.outbox) == 3


def test_a_webhook_is_sent_after_commit_for_queues_that_have_one(
    routed, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        services.delivery, "_webhook_later", lambda item_id, event: sent.append(item_id)
    )
    with_hook = routed[0]
    with_hook.queue.webhook_url = "https://hooks.example.org/triage"
    with_hook.queue.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.queue_items_deliver(item_ids=[item.pk for item in routed])
    same_queue = [item.pk for item in routed if item.queue_id == with_hook.queue_id]
    assert sorted(sent) == sorted(same_queue)


def test_a_mail_listing_several_items_puts_the_most_urgent_first(
    school, monkeypatch, django_capture_on_commit_callbacks
):
    """A principal told of a firearm in the same delivery as a theft reads the firearm first,
    in the subject and at the top of the list."""
    ruleset_ensure_default(district=school.district)
    monkeypatch.setattr(
        services.routing, "incident_dispatch", lambda *, incident_id, force=False: True
    )
    monkeypatch.setattr(
        services.delivery, "queue_items_deliver_later", lambda *, item_ids, route: None
    )
    teacher = user_with_role(Role.TEACHER, school, username="t")
    principal = user_with_role(Role.ADMINISTRATOR, school, username="p")
    principal.email = "p@example.org"
    principal.save()
    filed = [
        services.incident_file(
            reporter=teacher, school=school, narrative="It happened in the hall.", **answers
        )[0]
        for answers in (
            {"category": "theft", "weapon": "none", "danger_now": "none"},
            {"category": "weapon", "weapon": "firearm"},
        )
    ]
    services.incident_route(incident_id=filed[0].pk, batch=10)
    theft, gun = (
        QueueItem.objects.get(incident=incident, route="administrator") for incident in filed
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.queue_items_deliver(item_ids=[theft.pk, gun.pk]) == 2
    (message,) = [m for m in mail.outbox if m.to == ["p@example.org"]]
    assert message.subject.startswith("URGENT: Weapon at ")
    assert message.subject.endswith("(and 1 more, Administrator queue)")
    lines = [line for line in message.body.splitlines() if line.startswith("- ")]
    assert lines[0].startswith("- URGENT: Weapon (notification) ")
    assert lines[0].endswith(f"/queues/items/{gun.pk}/")
    assert lines[1].endswith(f"/queues/items/{theft.pk}/")
    assert "new incident" in lines[1]


def test_queue_members_are_the_routes_roles_at_the_school_and_the_districts_team(
    school, other_school
):
    """Who a queue's mail goes to, route by route: the roles that work it at its school
    (clinicians and SROs for co-response, plus the district's co-responder team), active
    people only, each once."""
    counselor = user_with_role(Role.COUNSELOR, school, username="counselor")
    user_with_role(Role.COUNSELOR, other_school, username="elsewhere")
    principal = user_with_role(Role.ADMINISTRATOR, school, username="principal")
    officer = user_with_role(Role.SRO, school, username="officer")
    clinician = user_with_role(Role.CLINICIAN, school, username="clinician")
    both = user_with_role(Role.CLINICIAN, school, username="both")
    user_with_role(Role.SRO, school, username="both")  # a second role at the school
    team = user_with_role(Role.CLINICIAN, other_school, username="team")
    CoResponderTeamMember.objects.create(district=school.district, user=team)
    CoResponderTeamMember.objects.create(district=school.district, user=both)
    gone = user_with_role(Role.COUNSELOR, school, username="gone")
    gone.is_active = False
    gone.save()
    user_with_role(Role.TEACHER, school, username="teacher")

    def members(route: str) -> list[str]:
        queue, _ = ResponderQueue.objects.get_or_create(school=school, route=route)
        return sorted(user.username for user in queue_members(queue))

    assert members("counselor") == [counselor.username]
    assert members("administrator") == [principal.username]
    assert members("sro") == sorted([officer.username, both.username])
    assert members("co_responder") == sorted(
        [officer.username, clinician.username, both.username, team.username]
    )
