"""The route vocabulary is declared once, in policies/registry.py: these tests pin every copy
that Django or Celery needs in its own form (model choices, queues) to it."""

from incidents.models import LAW_ENFORCEMENT_ROUTES as LAW_ENFORCEMENT_MODEL_ROUTES
from incidents.models import OUTCOMES_BY_ROUTE, POLICE_ONLY_OUTCOMES, Outcome, Route
from policies.registry import (
    DEFAULT_ROUTE,
    LAW_ENFORCEMENT_ROUTES,
    ROUTE_CHOICES,
    ROUTE_INFO,
    ROUTES,
    registry_as_data,
)
from policies.templatetags.policy_words import alert_routes
from schools.models import Role
from triage.celery import QUEUE_NAMES, app


def test_the_route_model_choices_are_the_registry_routes_with_their_labels():
    assert Route.choices == ROUTE_CHOICES
    assert ROUTE_CHOICES == [
        ("counselor", "Counselor"),
        ("administrator", "Administrator"),
        ("co_responder", "Co-responder (clinician and SRO)"),
        ("sro", "School resource officer"),
    ]


def test_a_role_named_like_a_route_has_the_route_label():
    shared = [role for role in Role if role.value in ROUTE_INFO]
    assert [role.value for role in shared] == ["counselor", "administrator", "sro"]
    for role in shared:
        assert role.label == ROUTE_INFO[role.value].label


def test_each_route_has_its_own_celery_queue_and_deliveries_default_to_the_default_route():
    for info in ROUTE_INFO.values():
        assert info.queue == f"responder.{info.value}"
        assert info.queue in QUEUE_NAMES
    route = app.amqp.router.route({}, "incidents.tasks.deliver_task")
    assert route["queue"].name == f"responder.{DEFAULT_ROUTE}" == "responder.administrator"


def test_the_route_facts():
    assert ROUTES == ("counselor", "administrator", "co_responder", "sro")
    assert {r: i.urgency for r, i in ROUTE_INFO.items()} == {
        "sro": 0,
        "co_responder": 1,
        "counselor": 2,
        "administrator": 3,
    }
    assert {r: i.ack_minutes for r, i in ROUTE_INFO.items()} == {
        "sro": 2,
        "co_responder": 5,
        "counselor": 15,
        "administrator": 30,
    }
    assert LAW_ENFORCEMENT_ROUTES == {"sro", "co_responder"}
    assert [r for r, i in ROUTE_INFO.items() if not i.may_be_default] == ["sro"]
    assert {r: i.words for r, i in ROUTE_INFO.items()} == {
        "counselor": "counselor",
        "administrator": "administrator",
        "co_responder": "co-responder",
        "sro": "SRO",
    }


def test_the_registry_api_gives_each_route_its_one_label_and_who_responds():
    routes = registry_as_data()["routes"]
    assert routes[3] == {
        "route": "sro",
        "label": "School resource officer",
        "responders": "School resource officer (administrator always notified)",
    }
    assert [r["label"] for r in routes] == [label for _, label in ROUTE_CHOICES]


def test_the_queue_page_alerts_on_the_registry_police_routes():
    assert alert_routes() == "co_responder sro"


def test_the_outcomes_each_route_allows_are_outcome_choices_in_the_forms_order():
    assert {route: list(outcomes) for route, outcomes in OUTCOMES_BY_ROUTE.items()} == {
        route: list(info.outcomes) for route, info in ROUTE_INFO.items()
    }
    assert set(POLICE_ONLY_OUTCOMES) == {"citation", "arrest"}
    every = {o for info in ROUTE_INFO.values() for o in info.outcomes}
    assert every <= set(Outcome.values)
    assert OUTCOMES_BY_ROUTE["sro"] == (
        "restorative_conference",
        "parent_contacted",
        "safety_plan",
        "referred_to_community_services",
        "referred_to_law_enforcement",
        "no_action_needed",
        "citation",
        "arrest",
    )
    assert LAW_ENFORCEMENT_MODEL_ROUTES == (Route.SRO, Route.CO_RESPONDER)
