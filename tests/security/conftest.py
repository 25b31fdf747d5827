import pytest
from django.test import Client

from policies.services import ruleset_ensure_default
from schools.models import Role
from tests.conftest import api_client_for
from tests.factories import user_with_role


@pytest.fixture
def teacher(school):
    return user_with_role(Role.TEACHER, school, username="teacher-a")


@pytest.fixture
def admin(school):
    ruleset_ensure_default(district=school.district)
    return user_with_role(Role.DISTRICT_ADMIN, school, username="dana")


@pytest.fixture
def teacher_api(teacher):
    return api_client_for(teacher)


@pytest.fixture
def admin_api(admin):
    return api_client_for(admin)


@pytest.fixture
def admin_browser(admin):
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def teacher_browser(teacher):
    client = Client()
    client.force_login(teacher)
    return client


def incident_body(**overrides) -> dict:
    body = {
        "school": "WAS-MS",
        "category": "physical_aggression",
        "narrative": "Poked a classmate with a pencil, then walked out to calm down.",
    }
    body.update(overrides)
    return body
