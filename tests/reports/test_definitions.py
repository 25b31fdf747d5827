"""The one definition of a referral to law enforcement, a school-related arrest, a police
contact and the SRO side (reports/definitions.py), case by case."""

import pytest

from incidents.models import Incident
from reports import definitions
from tests.factories import StudentFactory
from tests.reports.helpers import routed_incident

# (route, notify, hand-off to, outcome) -> referral, arrest, police contact, SRO side, co-responder
CASES = [
    (("sro", (), None, ""), (True, False, True, True, False)),
    (("co_responder", (), None, ""), (True, False, False, True, True)),
    (("administrator", ("sro",), None, ""), (True, False, True, True, False)),
    (("administrator", (), "sro", ""), (True, False, True, True, False)),
    (("counselor", (), "co_responder", ""), (True, False, False, True, True)),
    (
        ("administrator", (), None, "referred_to_law_enforcement"),
        (True, False, False, False, False),
    ),
    (("counselor", (), None, "citation"), (True, False, False, False, False)),
    (("administrator", (), None, "arrest"), (True, True, False, False, False)),
    (("administrator", (), "sro", "arrest"), (True, True, True, True, False)),
    (("sro", (), "counselor", "counseling_provided"), (True, False, True, True, False)),
    (("administrator", (), None, ""), (False, False, False, False, False)),
    (("administrator", ("counselor",), None, ""), (False, False, False, False, False)),
    (("administrator", (), "counselor", "restorative_conference"), (False,) * 5),
    (("counselor", (), None, "parent_contacted"), (False,) * 5),
    (("administrator", (), None, "discipline_assigned"), (False,) * 5),
]


@pytest.mark.parametrize(("how", "expected"), CASES)
def test_each_way_an_incident_reaches_police(school, how, expected):
    route, notify, handoff, outcome = how
    incident = routed_incident(
        school,
        route,
        subjects=[StudentFactory(school=school)],
        notify=notify,
        handoff_to=handoff,
        outcome=outcome,
    )
    routed_incident(school, "counselor")  # another incident, never counted
    matches = [
        Incident.objects.filter(q).filter(pk=incident.pk).exists()
        for q in (
            definitions.referral_q(),
            definitions.arrest_q(),
            definitions.police_contact_q(),
            definitions.sro_side_q(),
            definitions.co_responder_q(),
        )
    ]
    assert tuple(matches) == expected
