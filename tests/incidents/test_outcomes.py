"""Outcomes fit the role: a citation or an arrest only by a sworn officer, from one list."""

import pytest
from django.core.exceptions import ValidationError

from incidents import services
from incidents.models import OUTCOMES_BY_ROUTE, outcomes_for
from tests.conftest import api_client_for
from tests.incidents.test_queue_actions import demo, person, routed_item  # noqa: F401

NON_POLICE = [
    "parent_contacted",
    "safety_plan",
    "referred_to_community_services",
    "referred_to_law_enforcement",
    "no_action_needed",
]


@pytest.mark.parametrize(
    ("route", "officer", "expected"),
    [
        ("counselor", False, ["counseling_provided", "restorative_conference", *NON_POLICE]),
        ("counselor", True, ["counseling_provided", "restorative_conference", *NON_POLICE]),
        (
            "administrator",
            True,
            ["discipline_assigned", "restorative_conference", "counseling_provided", *NON_POLICE],
        ),
        ("co_responder", False, ["counseling_provided", *NON_POLICE]),
        ("co_responder", True, ["counseling_provided", *NON_POLICE, "citation", "arrest"]),
        ("sro", True, ["restorative_conference", *NON_POLICE, "citation", "arrest"]),
        ("sro", False, ["restorative_conference", *NON_POLICE]),
    ],
)
def test_outcomes_by_route_and_role(route, officer, expected):
    assert outcomes_for(route, officer=officer) == expected


def test_every_route_has_its_list():
    assert set(OUTCOMES_BY_ROUTE) == {"counselor", "administrator", "co_responder", "sro"}


def test_a_counselor_cannot_record_an_arrest_and_is_not_offered_one(demo, client):  # noqa: F811
    item = routed_item("counselor")
    with pytest.raises(ValidationError) as error:
        services.queue_item_resolve(user=person("counselor"), item_id=item.pk, outcome="arrest")
    assert error.value.message_dict["outcome"] == [
        '"Arrest" is not an outcome you can record here (Counselor queue); choose one of: '
        "Counseling provided, Restorative conference, Parent contacted, Safety plan, "
        "Referred to community services, Referred to law enforcement, No action needed."
    ]
    item.refresh_from_db()
    assert (item.state, item.outcome) == ("queued", "")
    client.force_login(person("counselor"))
    page = client.get(f"/queues/items/{item.pk}/").content.decode()
    assert 'value="counseling_provided"' in page
    assert 'value="arrest"' not in page and 'value="citation"' not in page
    response = api_client_for(person("counselor")).post(
        f"/api/queue-items/{item.pk}/resolve/", {"outcome": "citation"}, format="json"
    )
    assert response.status_code == 400
    item.refresh_from_db()
    assert item.state == "queued"


def test_on_a_co_responder_item_only_the_sro_member_may_record_an_arrest(demo, client):  # noqa: F811
    item = routed_item("co_responder")
    client.force_login(person("clinician"))
    assert 'value="arrest"' not in client.get(f"/queues/items/{item.pk}/").content.decode()
    with pytest.raises(ValidationError):
        services.queue_item_resolve(user=person("clinician"), item_id=item.pk, outcome="arrest")
    client.force_login(person("sro"))
    assert 'value="arrest"' in client.get(f"/queues/items/{item.pk}/").content.decode()
    resolved = services.queue_item_resolve(user=person("sro"), item_id=item.pk, outcome="arrest")
    assert (resolved.state, resolved.outcome) == ("resolved", "arrest")
