"""Queues exist from the moment their school does: an empty queue reads as empty, and no page
opens queues on GET."""

import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.models import ResponderQueue
from schools import services as school_services
from schools.models import School
from schools.oneroster import oneroster_import, oneroster_set_read
from tests.conftest import api_client_for
from tests.factories import DistrictFactory, UserFactory, user_with_role
from tests.schools.oneroster_data import write_set

pytestmark = pytest.mark.django_db

ALL_ROUTES = ["administrator", "co_responder", "counselor", "sro"]


def routes_open_at(school) -> list[str]:
    return sorted(ResponderQueue.objects.filter(school=school).values_list("route", flat=True))


def test_a_new_school_is_created_with_a_queue_for_every_route():
    school = school_services.school_create(
        district=DistrictFactory(), code="NEW-ES", name="New Elementary", grade_low=0, grade_high=5
    )
    assert routes_open_at(school) == ALL_ROUTES


def test_a_role_at_a_school_without_queues_opens_them():
    school = School.objects.create(
        district=DistrictFactory(), code="OLD-HS", name="Old High", grade_low=9, grade_high=12
    )
    assert routes_open_at(school) == []
    school_services.person_role_grant(
        actor=UserFactory(is_superuser=True), person=UserFactory(), school=school, role="counselor"
    )
    assert routes_open_at(school) == ALL_ROUTES


def test_a_school_a_roster_import_creates_has_its_queues(tmp_path, district):
    oneroster_import(
        roster_set=oneroster_set_read(path=write_set(tmp_path / "set")), district=district
    )
    created = School.objects.get(district=district, code="LIN-ES")
    assert routes_open_at(created) == ALL_ROUTES


def test_the_migration_opens_the_missing_queues_of_existing_schools():
    school = School.objects.create(
        district=DistrictFactory(), code="OLD-MS", name="Old Middle", grade_low=6, grade_high=8
    )
    ResponderQueue.objects.create(school=school, route="sro")
    migration = importlib.import_module("incidents.migrations.0009_open_missing_queues")
    migration.open_missing_queues(apps, None)
    assert routes_open_at(school) == ALL_ROUTES


def test_an_empty_queue_that_you_work_is_200_with_no_items(school):
    counselor = user_with_role("counselor", school)
    api = api_client_for(counselor)
    response = api.get(f"/api/queues/{school.code}/counselor/items/")
    assert response.status_code == 200
    assert response.json()["count"] == 0
    assert response.json()["results"] == []
    assert api.get(f"/api/queues/{school.code}/sro/items/").status_code == 404


def test_my_queues_writes_nothing_on_get(school, client):
    counselor = user_with_role("counselor", school)
    ResponderQueue.objects.filter(school=school).delete()
    client.force_login(counselor)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/queues/").status_code == 200
    writes = [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    assert writes == []
    assert routes_open_at(school) == []
