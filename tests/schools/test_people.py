"""The people page: a district admin grants and removes school roles and deactivates people,
in their district only. Each permission rule with a test that nothing changed."""

import pytest
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from rest_framework.authtoken.models import Token

from incidents.models import AccessAction, AccessLogEntry
from schools import services
from schools.models import Membership, Role, User
from tests.factories import DistrictFactory, SchoolFactory, UserFactory, user_with_role


@pytest.fixture
def admin(school):
    return user_with_role(Role.DISTRICT_ADMIN, school, username="dadmin")


@pytest.fixture
def far_school(db):
    return SchoolFactory(district=DistrictFactory(slug="far"), code="FAR-01")


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_people_page_lists_the_districts_people_with_their_roles(admin, school, far_school):
    user_with_role(Role.COUNSELOR, school, username="casey")
    user_with_role(Role.TEACHER, far_school, username="faraway")
    page = _client(admin).get("/people/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "casey" in html and "Counselor at" in html
    assert "faraway" not in html and "FAR-01" not in html


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.DISTRICT_ADMIN])
def test_people_page_is_for_district_admins_only(role, school):
    user = user_with_role(role, school)
    assert _client(user).get("/people/").status_code == 403
    target = user_with_role(Role.TEACHER, school, username="target")
    response = _client(user).post(f"/people/{target.pk}/deactivate/")
    assert response.status_code in (403, 404)
    assert User.objects.get(pk=target.pk).is_active


def test_grant_and_remove_a_role_at_a_school_of_the_district(admin, school, other_school):
    person = user_with_role(Role.TEACHER, school, username="pat")
    client = _client(admin)
    response = client.post(
        f"/people/{person.pk}/roles/", {"school": other_school.pk, "role": "counselor"}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user=person, school=other_school)
    assert membership.role == "counselor"
    client.post(f"/people/{person.pk}/roles/{membership.pk}/remove/")
    assert list(person.memberships.values_list("school__code", "role")) == [("WAS-MS", "teacher")]


def test_grant_refuses_another_districts_school_and_district_admin(admin, school, far_school):
    person = user_with_role(Role.TEACHER, school, username="pat")
    client = _client(admin)
    client.post(f"/people/{person.pk}/roles/", {"school": far_school.pk, "role": "teacher"})
    client.post(f"/people/{person.pk}/roles/", {"school": school.pk, "role": "district_admin"})
    client.post(f"/people/{admin.pk}/roles/", {"school": school.pk, "role": "sro"})
    assert list(person.memberships.values_list("role", flat=True)) == ["teacher"]
    assert list(admin.memberships.values_list("role", flat=True)) == ["district_admin"]
    with pytest.raises(PermissionDenied):
        services.person_role_grant(actor=admin, person=person, school=far_school, role="teacher")
    with pytest.raises(PermissionDenied):
        services.person_role_grant(
            actor=admin, person=person, school=school, role=Role.DISTRICT_ADMIN
        )


def test_only_a_superuser_grants_district_admin(school):
    root = User.objects.create_superuser("root", "r@example.invalid", "x")
    person = user_with_role(Role.TEACHER, school, username="pat")
    services.person_role_grant(actor=root, person=person, school=school, role="district_admin")
    assert set(person.memberships.values_list("role", flat=True)) == {"teacher", "district_admin"}


def test_district_admin_cannot_touch_another_district_admin_or_a_superuser(admin, school):
    peer = user_with_role(Role.DISTRICT_ADMIN, school, username="peer")
    root = User.objects.create_superuser("root", "r@example.invalid", "x")
    Membership.objects.create(user=root, school=school, role=Role.TEACHER)
    client = _client(admin)
    for target in (peer, root):
        client.post(f"/people/{target.pk}/deactivate/")
        membership = target.memberships.first()
        client.post(f"/people/{target.pk}/roles/{membership.pk}/remove/")
        assert User.objects.get(pk=target.pk).is_active
        assert target.memberships.count() == 1
    with pytest.raises(PermissionDenied):
        services.person_deactivate(actor=admin, person=peer)


def test_a_person_of_another_district_is_not_found(admin, far_school):
    faraway = user_with_role(Role.TEACHER, far_school, username="faraway")
    response = _client(admin).post(f"/people/{faraway.pk}/deactivate/")
    assert response.status_code == 404
    assert User.objects.get(pk=faraway.pk).is_active


def test_deactivation_ends_sessions_deletes_tokens_and_is_logged(admin, school):
    person = user_with_role(Role.TEACHER, school, username="pat")
    bystander = user_with_role(Role.TEACHER, school, username="bystander")
    their_browser = _client(person)
    assert their_browser.get("/").status_code == 200
    _client(bystander)
    token = Token.objects.create(user=person)
    response = _client(admin).post(f"/people/{person.pk}/deactivate/")
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.is_active is False
    assert not Token.objects.filter(user=person).exists()
    assert [s.get_decoded().get("_auth_user_id") for s in Session.objects.all()].count(
        str(person.pk)
    ) == 0
    assert any(
        s.get_decoded().get("_auth_user_id") == str(bystander.pk) for s in Session.objects.all()
    )
    assert their_browser.get("/").status_code == 302  # signed out at once
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/me/").status_code == 401
    entry = AccessLogEntry.objects.get(action=AccessAction.DEACTIVATE_PERSON)
    assert (entry.user, entry.person, entry.district, entry.incident) == (
        admin,
        person,
        school.district,
        None,
    )
    log = _client(admin).get("/access-log/").content.decode()
    assert "Deactivated a person" in log and "pat" in log


def test_cannot_deactivate_yourself(admin):
    with pytest.raises(ValidationError):
        services.person_deactivate(actor=admin, person=admin)
    assert User.objects.get(pk=admin.pk).is_active


def test_a_new_person_with_no_role_can_be_given_a_first_role(admin, school):
    newcomer = UserFactory(username="newcomer")
    services.person_role_grant(actor=admin, person=newcomer, school=school, role="teacher")
    assert list(newcomer.memberships.values_list("role", flat=True)) == ["teacher"]


def test_a_deactivation_shows_in_the_back_office_access_log_of_that_district_only(
    admin, school, far_school
):
    person = user_with_role(Role.TEACHER, school, username="pat")
    services.person_deactivate(actor=admin, person=person)
    mine = _client(admin).get("/admin/incidents/accesslogentry/")
    assert [e.person for e in mine.context["cl"].result_list] == [person]
    far_admin = user_with_role(Role.DISTRICT_ADMIN, far_school, username="faradmin")
    theirs = _client(far_admin).get("/admin/incidents/accesslogentry/")
    assert list(theirs.context["cl"].result_list) == []
