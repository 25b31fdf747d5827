"""A bounded Schemathesis run over /api/schema/ as a teacher and as a district admin.

Fails on any 5xx, any response that breaks the schema, and any status code the schema does not
declare. In process (WSGI, the test's database), about 20 examples per operation and role.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from incidents.services import incident_file
from policies.services import ruleset_ensure_default
from schools.models import Role
from tests.factories import StudentFactory, user_with_role
from triage.wsgi import application

EXAMPLES = 12  # per operation, mode and role: about a minute in all on two busy cores
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


@pytest.fixture
def people(school, other_school):
    ruleset_ensure_default(district=school.district)
    teacher = user_with_role(Role.TEACHER, school, username="st-teacher")
    admin = user_with_role(Role.DISTRICT_ADMIN, school, username="st-admin")
    StudentFactory(school=school, student_id="WAS0001")
    incident_file(reporter=teacher, school=school, category="other", narrative="Seed.")
    return {
        "teacher": Token.objects.create(user=teacher).key,
        "district_admin": Token.objects.create(user=admin).key,
    }


@pytest.fixture
def in_process():
    """Requests run in the test's transaction, as Django's test client runs them: the WSGI
    handler must not close the test's connection at the start or end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(people, in_process):
    return schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json",
        application,
        headers={"Authorization": f"Token {people['teacher']}"},
    )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(api_schema, people, mode):
    """Every operation, valid (positive) and invalid (negative) inputs, both roles."""
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 15

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            for token in (people["teacher"], people["district_admin"]):
                case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)

        try:
            check()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Unsatisfiable:
            continue  # nothing to make invalid (an operation without parameters or body)
        except BaseException as failure:  # noqa: BLE001 - collected, reported all at once below
            failures[operation.label] = f"{type(failure).__name__}: {failure}"[:2000]
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
