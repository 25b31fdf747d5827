import pytest

from policies.services import ruleset_ensure_default
from schools.models import Role
from tests.factories import SchoolFactory, user_with_role
from tests.processes import RedisServer, app_using_broker


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture
def redis_server():
    """A private Redis on a free port that the test may stop and start again."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server):
    with app_using_broker(redis_server.url):
        yield redis_server.url


@pytest.fixture
def setting(transactional_db):
    school = SchoolFactory(code="WAS-MS", grade_low=6, grade_high=8)
    ruleset_ensure_default(district=school.district)
    teacher = user_with_role(Role.TEACHER, school, username="fault-teacher")
    return school, teacher
