from datetime import date

import factory

from schools.models import District, Membership, School, Student, User


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = District
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"District {n}")
    slug = factory.Sequence(lambda n: f"district-{n}")


class SchoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = School
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    district = factory.SubFactory(DistrictFactory)
    code = factory.Sequence(lambda n: f"SCH-{n}")
    name = factory.LazyAttribute(lambda o: f"School {o.code}")
    grade_low = 6
    grade_high = 8

    @factory.post_generation
    def queues(school, create, extracted, **kwargs):
        # As schools.services.school_create does: a school exists with its queues.
        if create:
            from schools.services import school_queues_open

            school_queues_open(school_ids=[school.pk])


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Pat"
    last_name = factory.Sequence(lambda n: f"Staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.invalid")
    password = factory.django.Password("pw-for-tests-only")


def user_with_role(role: str, *schools: School, username: str | None = None) -> User:
    user = UserFactory(**({"username": username} if username else {}))
    for school in schools:
        Membership.objects.get_or_create(user=user, school=school, role=role)
    return user


class StudentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Student

    school = factory.SubFactory(SchoolFactory)
    district = factory.LazyAttribute(lambda o: o.school.district)
    student_id = factory.Sequence(lambda n: f"S{n:05d}")
    first_name = "Jamie"
    last_name = factory.Sequence(lambda n: f"Student{n}")
    birth_date = date(2014, 3, 1)
    grade = 6
    sex = "M"
    race_ethnicity = "WH"
