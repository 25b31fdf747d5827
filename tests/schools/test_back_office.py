"""The back office as least privilege: the findings of the security review, replayed."""

import pytest
from django.test import Client

from schools.models import District, Membership, Role, School, Student, User
from tests.factories import DistrictFactory, SchoolFactory, StudentFactory, user_with_role


@pytest.fixture
def admin_client(school):
    admin = user_with_role(Role.DISTRICT_ADMIN, school, username="dadmin")
    client = Client()
    client.force_login(admin)
    client.user = admin
    return client


@pytest.fixture
def far_school(db):
    return SchoolFactory(district=DistrictFactory(slug="far"), code="FAR-01")


def _user_form(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def test_district_admin_cannot_make_themselves_superuser(admin_client):
    admin = admin_client.user
    page = admin_client.get(f"/admin/schools/user/{admin.pk}/change/")
    # Their own record is not theirs to change in the back office at all.
    assert page.status_code == 302
    response = admin_client.post(
        f"/admin/schools/user/{admin.pk}/change/",
        _user_form(admin, is_superuser="on", is_staff="on", user_permissions=["1"], groups=["1"]),
    )
    assert response.status_code == 302
    admin.refresh_from_db()
    assert (admin.is_superuser, admin.is_staff) == (False, False)
    assert admin.user_permissions.count() == 0


def test_user_form_of_a_district_admin_has_no_permission_fields(admin_client, school):
    teacher = user_with_role(Role.TEACHER, school, username="t1")
    page = admin_client.get(f"/admin/schools/user/{teacher.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("is_superuser", "is_staff", "groups", "user_permissions"):
        assert f'name="{name}"' not in html
    response = admin_client.post(
        f"/admin/schools/user/{teacher.pk}/change/",
        _user_form(teacher, is_superuser="on", is_staff="on", first_name="Changed"),
    )
    assert response.status_code == 302
    teacher.refresh_from_db()
    assert (teacher.first_name, teacher.is_superuser, teacher.is_staff) == (
        "Changed",
        False,
        False,
    )


def test_superuser_still_sees_the_permission_fields(school):
    superuser = User.objects.create_superuser("root", "root@example.invalid", "x")
    teacher = user_with_role(Role.TEACHER, school, username="t1")
    client = Client()
    client.force_login(superuser)
    html = client.get(f"/admin/schools/user/{teacher.pk}/change/").content.decode()
    assert 'name="is_superuser"' in html and 'name="is_staff"' in html


def test_district_admin_cannot_grant_district_admin_in_the_back_office(admin_client, school):
    teacher = user_with_role(Role.TEACHER, school, username="t1")
    page = admin_client.get(f"/admin/schools/user/{teacher.pk}/change/").content.decode()
    assert 'value="district_admin"' not in page
    response = admin_client.post(
        f"/admin/schools/user/{teacher.pk}/change/",
        _user_form(
            teacher,
            **{
                "memberships-TOTAL_FORMS": "2",
                "memberships-INITIAL_FORMS": "1",
                "memberships-0-id": str(teacher.memberships.get().pk),
                "memberships-0-user": str(teacher.pk),
                "memberships-0-school": str(school.pk),
                "memberships-0-role": "teacher",
                "memberships-1-user": str(teacher.pk),
                "memberships-1-school": str(school.pk),
                "memberships-1-role": "district_admin",
            },
        ),
    )
    assert response.status_code == 200  # the form again, with the error
    assert not Membership.objects.filter(user=teacher, role=Role.DISTRICT_ADMIN).exists()


def test_district_admin_cannot_give_a_role_in_another_district(admin_client, school, far_school):
    teacher = user_with_role(Role.TEACHER, school, username="t1")
    page = admin_client.get(f"/admin/schools/user/{teacher.pk}/change/").content.decode()
    assert "FAR-01" not in page
    response = admin_client.post(
        f"/admin/schools/user/{teacher.pk}/change/",
        _user_form(
            teacher,
            **{
                "memberships-TOTAL_FORMS": "2",
                "memberships-INITIAL_FORMS": "1",
                "memberships-0-id": str(teacher.memberships.get().pk),
                "memberships-0-user": str(teacher.pk),
                "memberships-0-school": str(school.pk),
                "memberships-0-role": "teacher",
                "memberships-1-user": str(teacher.pk),
                "memberships-1-school": str(far_school.pk),
                "memberships-1-role": "counselor",
            },
        ),
    )
    assert response.status_code == 200
    assert list(Membership.objects.filter(school=far_school)) == []


@pytest.mark.parametrize(
    "who",
    ["superuser", "staff", "other_district_admin", "works_in_two_districts"],
)
def test_district_admin_cannot_change_people_above_or_outside_them(
    admin_client, school, far_school, who
):
    person = user_with_role(Role.TEACHER, school, username="target")
    if who == "superuser":
        User.objects.filter(pk=person.pk).update(is_superuser=True)
    elif who == "staff":
        User.objects.filter(pk=person.pk).update(is_staff=True)
    elif who == "other_district_admin":
        Membership.objects.create(user=person, school=school, role=Role.DISTRICT_ADMIN)
    else:
        Membership.objects.create(user=person, school=far_school, role=Role.TEACHER)
    password_before = User.objects.get(pk=person.pk).password
    page = admin_client.get(f"/admin/schools/user/{person.pk}/password/")
    assert page.status_code in (302, 404)
    admin_client.post(
        f"/admin/schools/user/{person.pk}/password/",
        {"password1": "Taken-over-99", "password2": "Taken-over-99", "usable_password": "true"},
    )
    assert User.objects.get(pk=person.pk).password == password_before


def test_school_and_student_forms_offer_only_the_admins_district(admin_client, school, far_school):
    school_page = admin_client.get("/admin/schools/school/add/").content.decode()
    assert far_school.district.name not in school_page
    response = admin_client.post(
        "/admin/schools/school/add/",
        {
            "district": str(far_school.district_id),
            "code": "EVIL-01",
            "name": "Planted",
            "grade_low": "6",
            "grade_high": "8",
        },
    )
    assert response.status_code == 200
    assert not School.objects.filter(code="EVIL-01").exists()

    student_page = admin_client.get("/admin/schools/student/add/").content.decode()
    assert "FAR-01" not in student_page
    response = admin_client.post(
        "/admin/schools/student/add/",
        {
            "district": str(far_school.district_id),
            "school": str(far_school.pk),
            "student_id": "X1",
            "first_name": "A",
            "last_name": "B",
            "birth_date": "2014-01-01",
            "grade": "6",
            "sex": "M",
            "race_ethnicity": "WH",
        },
    )
    assert response.status_code == 200
    assert not Student.objects.filter(student_id="X1").exists()


def test_district_admin_still_adds_a_student_in_their_district(admin_client, school):
    response = admin_client.post(
        "/admin/schools/student/add/",
        {
            "district": str(school.district_id),
            "school": str(school.pk),
            "student_id": "OK1",
            "first_name": "A",
            "last_name": "B",
            "birth_date": "2014-01-01",
            "grade": "6",
            "sex": "M",
            "race_ethnicity": "WH",
        },
    )
    assert response.status_code == 302
    assert Student.objects.get(student_id="OK1").school == school


def test_student_list_filter_names_no_school_of_another_district(admin_client, school, far_school):
    StudentFactory(school=school)
    StudentFactory(school=far_school)
    page = admin_client.get("/admin/schools/student/").content.decode()
    assert "FAR-01" not in page
    assert District.objects.count() == 2
