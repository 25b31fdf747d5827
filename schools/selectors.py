"""Reads about people, schools and the roster, and the role checks every other app uses."""

import functools
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework.authtoken.models import Token

from .models import District, Membership, Role, School, Student, TokenLockout, User


def memberships_of(user: User) -> list[Membership]:
    """A user's roles, loaded once per request (cached on the user object)."""
    if not getattr(user, "is_authenticated", False):
        return []
    cached = getattr(user, "_memberships_cache", None)
    if cached is None:
        cached = list(
            Membership.objects.filter(user=user).select_related("school", "school__district")
        )
        user._memberships_cache = cached
    return cached


def user_with_memberships_by_token(key: str) -> User | None:
    """The user holding API token ``key``, with their roles loaded (see principal_by_token);
    None when no such user has a role."""
    return principal_by_token(key)[0]


def principal_by_token(
    key: str, *, address: str | None = None, now: datetime | None = None
) -> tuple[User | None, datetime | None]:
    """For an API request: the user holding token ``key``, with their roles loaded, and until
    when ``address`` is refused every token (TokenLockout, or None), in one query. The user is
    None when no such user has a role (the caller then looks the token up alone).

    Every API request runs it, so its SQL is written once per process from the models'
    metadata (as ``select_related`` would write it) instead of being compiled by the ORM each
    time: that compilation was about a tenth of the filing request's CPU. Nothing is cached
    between requests: a revoked token, a changed role or a new lockout counts on the next
    request."""
    sql, locked_converters, parts = _principal_statement()
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: each object's conversion reads it
    at = db.ops.adapt_datetimefield_value(now or timezone.now())
    with db.cursor() as cursor:
        cursor.execute(sql, [address, at, key])
        rows = cursor.fetchall()
    locked = _converted(db, rows[0][0], locked_converters) if rows else None
    if not rows or rows[0][1] is None:  # the lockout's row alone: no such token or no role
        return None, locked
    membership_part, user_part, school_part, district_part = parts
    # One object each for the user, a school and a district, not one per membership:
    # the rows repeat them.
    user = _principal_model(db, rows[0], user_part)
    schools: dict[int, School] = {}
    districts: dict[int, District] = {}
    memberships = []
    for row in rows:
        membership = _principal_model(db, row, membership_part)
        school = schools.get(membership.school_id)
        if school is None:
            school = schools[membership.school_id] = _principal_model(db, row, school_part)
            district = districts.get(school.district_id)
            if district is None:
                district = districts[school.district_id] = _principal_model(db, row, district_part)
            _RELATED[2].set_cached_value(school, district)
        _RELATED[0].set_cached_value(membership, user)
        _RELATED[1].set_cached_value(membership, school)
        memberships.append(membership)
    user._memberships_cache = memberships
    return user, locked


def _converted(db, value, converters):
    for col, functions in converters:
        for function in functions:
            value = function(value, col, db)
    return value


def _principal_model(db, row: tuple, part: tuple):
    """One model's object from its slice of a principal row, through its database converters
    (e.g. JSON fields)."""
    model, start, end, converters = part
    values = list(row[start:end])
    for index, col, functions in converters:
        for function in functions:
            values[index] = function(values[index], col, db)
    return model.from_db(db.alias, None, values)


_RELATED = (Membership.user.field, Membership.school.field, School.district.field)


def _db_converters(col) -> list:
    return connection.ops.get_db_converters(col) + col.get_db_converters(connection)


@functools.cache
def _principal_statement() -> tuple[str, list, list]:
    """The address's lockout, then the token's memberships with their user, school and
    district: the SQL, the lockout's database converters, and for each model its slice of a
    row and the database converters to apply there (e.g. JSON fields). The lockout comes
    first and the principal is LEFT JOINed to it, so a row comes back for an unknown token
    too, with the address's lockout."""
    quote = connection.ops.quote_name
    columns, parts = [], []
    for model in (Membership, User, School, District):
        start = len(columns) + 1  # the row's first column is the lockout
        converters = []
        for field in model._meta.concrete_fields:
            col = field.get_col(model._meta.db_table)
            functions = _db_converters(col)
            if functions:
                converters.append((len(columns) + 1 - start, col, functions))
            columns.append(f"{quote(model._meta.db_table)}.{quote(field.column)}")
        parts.append((model, start, len(columns) + 1, converters))
    until = TokenLockout._meta.get_field("until")
    until_col = until.get_col(TokenLockout._meta.db_table)
    locked_converters = [(until_col, _db_converters(until_col))]

    def table(model) -> str:
        return quote(model._meta.db_table)

    def column(model, name: str) -> str:
        return f"{table(model)}.{quote(model._meta.get_field(name).column)}"

    membership_id = columns.index(column(Membership, "id"))
    # Identifiers from the models' metadata, quoted; the address, the time and the key are
    # parameters. The principal's columns are named c0, c1, ... (their own names repeat).
    principal = (
        f"SELECT {', '.join(f'{name} AS c{i}' for i, name in enumerate(columns))} "  # noqa: S608
        f"FROM {table(Membership)} "
        f"INNER JOIN {table(User)} ON {column(Membership, 'user')} = {column(User, 'id')} "
        f"INNER JOIN {table(Token)} ON {column(User, 'id')} = {column(Token, 'user')} "
        f"INNER JOIN {table(School)} ON {column(Membership, 'school')} = {column(School, 'id')} "
        f"INNER JOIN {table(District)} "
        f"ON {column(School, 'district')} = {column(District, 'id')} "
        f"WHERE {column(Token, 'key')} = %s"
    )
    lockout = (
        f"SELECT (SELECT {column(TokenLockout, 'until')} FROM {table(TokenLockout)} "  # noqa: S608
        f"WHERE {column(TokenLockout, 'address')} = %s "
        f"AND {column(TokenLockout, 'until')} > %s) AS locked_until"
    )
    sql = (
        f"SELECT lockout.locked_until, principal.* FROM ({lockout}) AS lockout "  # noqa: S608
        f"LEFT JOIN ({principal}) AS principal ON 1 = 1 ORDER BY principal.c{membership_id}"
    )
    return sql, locked_converters, parts


def roles_of(user: User) -> set[str]:
    return {membership.role for membership in memberships_of(user)}


def districts_administered(user: User) -> list[District]:
    seen: dict[int, District] = {}
    for membership in memberships_of(user):
        if membership.role == Role.DISTRICT_ADMIN:
            seen[membership.school.district_id] = membership.school.district
    return list(seen.values())


def district_of(user: User) -> District | None:
    """The district a user works in (their first role's); None for people with no role."""
    memberships = memberships_of(user)
    return memberships[0].school.district if memberships else None


def is_district_admin(user: User, district: District | None = None) -> bool:
    return any(district is None or d.pk == district.pk for d in districts_administered(user))


def school_ids_for(user: User, roles: Iterable[str] | None = None) -> set[int]:
    """Schools where the user holds one of ``roles`` (any role when None).

    A district admin counts as holding every role at every school of their district.
    """
    wanted = set(roles) if roles is not None else None
    ids = {m.school_id for m in memberships_of(user) if wanted is None or m.role in wanted}
    admin_districts = [d.pk for d in districts_administered(user)]
    if admin_districts:
        ids |= set(
            School.objects.filter(district_id__in=admin_districts).values_list("pk", flat=True)
        )
    return ids


def schools_for(user: User, roles: Iterable[str] | None = None) -> QuerySet[School]:
    return School.objects.filter(pk__in=school_ids_for(user, roles)).order_by("name")


def has_role_at(user: User, school: School, roles: Iterable[str] | None = None) -> bool:
    return school.pk in school_ids_for(user, roles)


def students_search(
    *, user: User, school: School | None, query: str, limit: int = 20
) -> QuerySet[Student]:
    """Roster students matching a name or id: of one school, only for staff of that school,
    or (``school=None``) of every school where the person works."""
    if school is None:
        students = Student.objects.filter(school_id__in=school_ids_for(user), on_roster=True)
    elif not has_role_at(user, school):
        return Student.objects.none()
    else:
        students = Student.objects.filter(school=school, on_roster=True)
    query = query.strip()
    for term in query.split()[:4]:
        students = students.filter(
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(student_id__istartswith=term)
        )
    return students.select_related("school").order_by("last_name", "first_name")[:limit]


# --- People: what a district admin may see and change -------------------------------------


def people_of_district(user: User) -> QuerySet[User]:
    """Everyone with a role at a school of the districts ``user`` administers.

    PermissionDenied for anyone who administers no district (a superuser sees everyone).
    """
    if user.is_superuser:
        return User.objects.all()
    districts = [d.pk for d in districts_administered(user)]
    if not districts:
        raise PermissionDenied("Only district admins manage people.")
    return User.objects.filter(memberships__school__district_id__in=districts).distinct()


def people_manageable_by(user: User, *, queryset: QuerySet[User] | None = None) -> QuerySet[User]:
    """The people a district admin may change: those whose every role is in the admin's
    districts, who hold no district admin role and are neither staff nor superuser.

    Changing anyone else (a superuser who also teaches, another district's admin, a person
    who also works in another district) would let the admin climb above their own rights.
    """
    queryset = User.objects.all() if queryset is None else queryset
    if user.is_superuser:
        return queryset
    districts = [d.pk for d in districts_administered(user)]
    if not districts:
        return queryset.none()
    return (
        queryset.filter(memberships__school__district_id__in=districts)
        .exclude(memberships__role=Role.DISTRICT_ADMIN)
        .exclude(memberships__in=Membership.objects.exclude(school__district_id__in=districts))
        .exclude(Q(is_superuser=True) | Q(is_staff=True))
        .distinct()
    )


def person_is_manageable_by(user: User, person: User) -> bool:
    if user.is_superuser:
        return True
    if person.is_superuser or person.is_staff:
        return False
    if not Membership.objects.filter(user=person).exists():
        # Nobody's yet (e.g. just signed in for the first time): any district admin may
        # give them their first role.
        return bool(districts_administered(user))
    return people_manageable_by(user).filter(pk=person.pk).exists()


def people_list(user: User, *, query: str = "") -> list[tuple[User, list[Membership], bool]]:
    """People of the admin's districts with their roles there, and whether the admin may
    change them: (person, memberships, manageable), by name."""
    people = people_of_district(user)
    query = query.strip()
    for term in query.split()[:4]:
        people = people.filter(
            Q(username__icontains=term)
            | Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
        )
    people = list(people.order_by("last_name", "first_name", "username")[:500])
    manageable = set(
        people_manageable_by(user)
        .filter(pk__in=[p.pk for p in people])
        .values_list("pk", flat=True)
    )
    memberships = Membership.objects.filter(user__in=people).select_related("school")
    if not user.is_superuser:
        memberships = memberships.filter(
            school__district_id__in=[d.pk for d in districts_administered(user)]
        )
    by_person: dict[int, list[Membership]] = {}
    for membership in memberships.order_by("school__name", "role"):
        by_person.setdefault(membership.user_id, []).append(membership)
    return [(p, by_person.get(p.pk, []), p.pk in manageable) for p in people]


def schools_administered(user: User) -> QuerySet[School]:
    if user.is_superuser:
        return School.objects.order_by("name")
    return School.objects.filter(
        district_id__in=[d.pk for d in districts_administered(user)]
    ).order_by("name")
