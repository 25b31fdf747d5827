"""Cheaper API plumbing that must behave as DRF's own: fields built once per serializer class,
the token's user and roles in one query (its SQL written once, nothing kept between requests),
one Redis client per cache pool."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from incidents.intake_serializers import IncidentInSerializer, IncidentOutSerializer
from schools.models import Membership, Role
from schools.selectors import memberships_of, user_with_memberships_by_token
from tests import factories
from tests.factories import user_with_role


def test_every_serializer_instance_gets_its_own_fields_with_the_same_arguments():
    first, second = IncidentInSerializer(), IncidentInSerializer()
    assert list(first.fields) == list(second.fields) == list(IncidentInSerializer._declared_fields)
    for name, field in first.fields.items():
        other = second.fields[name]
        assert field is not other and field.parent is first and other.parent is second
        assert type(field) is type(other) and field._kwargs.keys() == other._kwargs.keys()
    # A nested serializer is its own too (it is bound to its parent).
    assert first.fields["students"].child is not second.fields["students"].child
    out = IncidentOutSerializer()
    assert "status" in out.fields and out.fields["status"].parent is out


def test_binding_a_copy_leaves_the_prototype_and_the_other_copies_alone():
    first, second = IncidentOutSerializer(), IncidentOutSerializer()
    bound = first.fields, second.fields
    for name, prototype in IncidentOutSerializer._prebuilt_fields.items():
        assert prototype.parent is None and prototype.field_name is None
        assert bound[0][name].field_name == bound[1][name].field_name == name
    # Attributes set when bound (the method a SerializerMethodField calls, the source path)
    # are each copy's own.
    assert first.fields["routing"].method_name == "get_routing"
    assert IncidentOutSerializer._prebuilt_fields["routing"].method_name is None
    assert first.fields["school"].source_attrs == ["school", "code"]
    assert first.fields["school"].source_attrs is not second.fields["school"].source_attrs


def test_validation_does_not_leak_between_instances(school, rf):
    teacher = user_with_role(Role.TEACHER, school)
    request = rf.post("/")
    request.user = teacher
    bad = IncidentInSerializer(data={"school": "WAS-MS"}, context={"request": request})
    good = IncidentInSerializer(
        data={"school": "WAS-MS", "category": "disruption", "narrative": "Loud."},
        context={"request": request},
    )
    assert not bad.is_valid()
    assert set(bad.errors) == {"category", "narrative"}
    assert good.is_valid(), good.errors
    assert good.validated_data["school"] == school


@pytest.fixture
def teacher_token(school):
    teacher = user_with_role(Role.TEACHER, school, username="tok")
    return teacher, Token.objects.create(user=teacher)


def test_a_token_brings_its_user_and_roles_in_one_query(teacher_token, school):
    teacher, token = teacher_token
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/incidents/")
    assert response.status_code == 200
    membership_reads = [q for q in queries if '"schools_membership"' in q["sql"]]
    assert len(membership_reads) == 1
    assert '"authtoken_token"' in membership_reads[0]["sql"]
    assert not [q for q in queries if q["sql"].startswith('SELECT "authtoken_token"')]


def test_tokens_of_people_without_a_role_inactive_or_wrong_behave_as_before(school):
    nobody = user_with_role(Role.TEACHER, username="norole")
    token = Token.objects.create(user=nobody)
    assert memberships_of(nobody) == []
    ok = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}").get("/api/incidents/")
    assert ok.status_code == 200 and ok.json()["results"] == []

    teacher = user_with_role(Role.TEACHER, school, username="gone")
    gone = Token.objects.create(user=teacher)
    teacher.is_active = False
    teacher.save()
    refused = APIClient(HTTP_AUTHORIZATION=f"Token {gone.key}").get("/api/incidents/")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "User inactive or deleted."
    wrong = APIClient(HTTP_AUTHORIZATION="Token nope").get("/api/incidents/")
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "Invalid token."


def test_the_redis_cache_reuses_its_client(settings):
    if not settings.CACHES["default"]["BACKEND"].startswith("triage.cache"):
        pytest.skip("no Redis cache configured")
    client = cache._cache.get_client()
    assert cache._cache.get_client(write=True) is client
    cache.set("triage-test-key", 1, 5)
    assert cache.get("triage-test-key") == 1


def test_the_token_principal_is_the_one_the_orm_reads(teacher_token, school, other_school):
    teacher, token = teacher_token
    school.district.ack_deadlines = {"counselor": 45}
    school.district.save()
    Membership.objects.create(user=teacher, school=other_school, role=Role.COUNSELOR)
    orm = list(
        Membership.objects.filter(user__auth_token__key=token.key)
        .select_related("user", "school", "school__district")
        .order_by("id")
    )
    user = user_with_memberships_by_token(token.key)
    assert user == teacher and user.username == "tok" and user.is_active
    assert user.password == teacher.password and user.date_joined == teacher.date_joined
    loaded = memberships_of(user)
    assert [(m.pk, m.role, m.school_id) for m in loaded] == [
        (m.pk, m.role, m.school_id) for m in orm
    ]
    for mine, theirs in zip(loaded, orm, strict=True):
        assert mine.user is user and mine._state.db == "default" and not mine._state.adding
        assert mine.school.code == theirs.school.code
        # Related objects come with the row: no query to reach the district.
        district = mine.school.district
        assert district.timezone == theirs.school.district.timezone
        # A JSON column goes through its converter, as the ORM's rows do.
        assert district.ack_deadlines == theirs.school.district.ack_deadlines
    assert loaded[0].school.district.ack_deadlines == {"counselor": 45}
    assert user_with_memberships_by_token("no-such-key") is None


def test_the_token_principal_makes_one_object_per_school_and_district(
    teacher_token, school, other_school
):
    """Two roles at one school and one at another school of the district: the rows repeat
    the school and the district, the objects do not."""
    teacher, token = teacher_token
    Membership.objects.create(user=teacher, school=school, role=Role.ADMINISTRATOR)
    Membership.objects.create(user=teacher, school=other_school, role=Role.COUNSELOR)
    loaded = memberships_of(user_with_memberships_by_token(token.key))
    assert len(loaded) == 3
    by_school = {}
    for membership in loaded:
        by_school.setdefault(membership.school_id, []).append(membership.school)
    assert sorted(len(schools) for schools in by_school.values()) == [1, 2]
    for schools in by_school.values():
        assert all(s is schools[0] for s in schools)
    assert len({id(m.school.district) for m in loaded}) == 1
    assert {m.school.code for m in loaded} == {school.code, other_school.code}


def test_a_revoked_token_or_a_removed_role_counts_on_the_next_request(teacher_token, school):
    teacher, token = teacher_token
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    body = {"school": "WAS-MS", "category": "disruption", "narrative": "Loud in class."}
    assert api.post("/api/incidents/", body, format="json").status_code == 201
    Membership.objects.filter(user=teacher, school=school).delete()
    Membership.objects.create(user=teacher, school=factories.SchoolFactory(), role=Role.TEACHER)
    refused = api.post("/api/incidents/", body, format="json")
    assert refused.status_code == 403
    token.delete()
    assert api.post("/api/incidents/", body, format="json").status_code == 401
