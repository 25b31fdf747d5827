import pytest
from django.test import Client

from schools import selectors
from schools.models import Membership, Role
from tests.factories import SchoolFactory, user_with_role


def test_sro_covering_three_schools_holds_a_role_at_each(school, other_school, district):
    third = SchoolFactory(district=district, code="LIN-ES", grade_low=0, grade_high=5)
    sro = user_with_role(Role.SRO, school, other_school, third)
    assert set(selectors.school_ids_for(sro, [Role.SRO])) == {school.pk, other_school.pk, third.pk}
    assert selectors.school_ids_for(sro, [Role.COUNSELOR]) == set()
    assert selectors.has_role_at(sro, third, [Role.SRO])


def test_roles_are_per_school(school, other_school):
    person = user_with_role(Role.TEACHER, school)
    Membership.objects.create(user=person, school=other_school, role=Role.COUNSELOR)
    assert selectors.has_role_at(person, school, [Role.TEACHER])
    assert not selectors.has_role_at(person, school, [Role.COUNSELOR])
    assert selectors.has_role_at(person, other_school, [Role.COUNSELOR])
    assert selectors.roles_of(person) == {"teacher", "counselor"}


def test_district_admin_reaches_every_school_of_their_district_only(school, other_school):
    elsewhere = SchoolFactory(code="FAR-01")
    admin = user_with_role(Role.DISTRICT_ADMIN, school)
    assert selectors.school_ids_for(admin) == {school.pk, other_school.pk}
    assert selectors.is_district_admin(admin, school.district)
    assert not selectors.is_district_admin(admin, elsewhere.district)
    assert not selectors.has_role_at(admin, elsewhere)


def test_student_search_matches_name_or_id_for_staff_of_that_school_only(school, other_school):
    from tests.factories import StudentFactory

    StudentFactory(school=school, student_id="WAS0001", first_name="Jordan", last_name="Rivera")
    StudentFactory(school=school, student_id="WAS0002", first_name="Ana", last_name="Lee")
    teacher = user_with_role(Role.TEACHER, school)
    outsider = user_with_role(Role.TEACHER, other_school)
    assert [
        s.student_id for s in selectors.students_search(user=teacher, school=school, query="riv")
    ] == ["WAS0001"]
    assert [
        s.student_id
        for s in selectors.students_search(user=teacher, school=school, query="was0002")
    ] == ["WAS0002"]
    assert list(selectors.students_search(user=outsider, school=school, query="a")) == []


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.DISTRICT_ADMIN])
def test_back_office_is_for_district_admins_only(role, school):
    user = user_with_role(role, school)
    client = Client()
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_district_admin_sees_only_their_districts_roster_in_back_office(school):
    from tests.factories import StudentFactory

    StudentFactory(school=school, last_name="Mine")
    StudentFactory(school=SchoolFactory(code="FAR-02"), last_name="Theirs")
    admin = user_with_role(Role.DISTRICT_ADMIN, school)
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/schools/student/")
    assert page.status_code == 200
    assert b"Mine" in page.content and b"Theirs" not in page.content


def test_login_and_logout(school):
    user = user_with_role(Role.TEACHER, school, username="ms-frizzle")
    client = Client()
    assert client.get("/").status_code == 302
    bad = client.post("/accounts/login/", {"username": "ms-frizzle", "password": "wrong"})
    assert bad.status_code == 200 and b"Please enter a correct username and password" in bad.content
    good = client.post(
        "/accounts/login/", {"username": "ms-frizzle", "password": "pw-for-tests-only"}
    )
    assert good.status_code == 302 and good.url == "/"
    assert client.get("/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302
    assert user.is_authenticated


def test_token_auth_and_drf_create_token(school, capsys):
    from django.core.management import call_command

    user_with_role(Role.TEACHER, school, username="api-user")
    call_command("drf_create_token", "api-user")
    out = capsys.readouterr().out
    key = out.strip().split()[2]
    from rest_framework.test import APIClient

    client = APIClient()
    assert client.get("/api/me/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token not-a-key")
    assert client.get("/api/me/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    me = client.get("/api/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "api-user"
    assert me.json()["roles"] == [
        {"school": "WAS-MS", "school_name": school.name, "role": "teacher"}
    ]
