"""Writing rows on the hot paths (filing, routing, delivery) for less CPU: ``insert_many``
instead of ``QuerySet.bulk_create``, ``update_many`` instead of ``QuerySet.bulk_update``, and
``db_value`` for a value's preparation.

``bulk_create`` compiles its INSERT on every call: for each row and field it runs the field's
``pre_save`` and the compiler's checks, then assembles the statement. Routing a batch of 50
incidents inserts about 150 rows that way, and that compilation was the largest part of a
routing round's CPU. Here the statement is written once per model from the model's metadata
(an array per column, as Django's own bulk insert on PostgreSQL), and the values are prepared
as ``save()`` prepares them (``get_db_prep_save``, through ``db_value``). On another database
than PostgreSQL it is ``bulk_create``.

``bulk_update`` writes a CASE expression per field and row; ``update_many`` writes
``UPDATE ... FROM UNNEST(array per column)``, one statement text for any number of rows.

Where psycopg binds on the server (the product's default: prepared statements) the arrays are
sent in binary: psycopg quotes and escapes every element of a text array in Python (a JSON
value is escaped character by character) and PostgreSQL parses the literal back. Measured on a
routed batch of 40, in one process: its queue items and events 0.15 against 0.20 ms of Python
per incident, its UPDATE 0.05 against 0.09 ms (``FROM (VALUES ...)`` before).

Not for models with database defaults, generated fields or multi-table inheritance (it says
so); those keep ``bulk_create``.
"""

import functools
from collections.abc import Iterable
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Model
from django.db.models.fields import DateField


def insert_many[M: Model](objs: Iterable[M]) -> list[M]:
    """INSERT these unsaved objects of one model in one statement and set their primary keys,
    as ``Model.objects.bulk_create(objs)`` does. Returns them."""
    objs = list(objs)
    if not objs:
        return objs
    model = type(objs[0])
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: each value's preparation reads it
    if db.vendor != "postgresql":
        return model._default_manager.bulk_create(objs)
    fields, stamped = _insert_fields(model)
    columns = [[] for _ in fields]
    for obj in objs:
        if type(obj) is not model:
            raise TypeError(f"insert_many: {obj!r} is not a {model.__name__}")
        # As bulk_create: a related object saved after it was assigned gives its key, an
        # unsaved one is refused (ValueError).
        obj._prepare_related_fields_for_save(operation_name="insert_many")
        for field in stamped:  # auto_now(_add): stamped now, as pre_save does
            field.pre_save(obj, add=True)
        for column, field in zip(columns, fields, strict=True):
            column.append(db_value(field, getattr(obj, field.attname), db))
    with db.cursor() as cursor:
        cursor.execute(_insert_statement(model, _array_placeholder(db)), columns)
        pks = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, pks, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = db.alias
    return objs


def update_many[M: Model](objs: Iterable[M], fields: Iterable[str]) -> None:
    """UPDATE ``fields`` of these saved objects (each once) in one statement, as
    ``Model.objects.bulk_update(objs, fields)`` does, with values, not expressions."""
    objs = list(objs)
    if not objs:
        return
    model = type(objs[0])
    names = tuple(fields)
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: each value's preparation reads it
    if db.vendor != "postgresql":
        model._default_manager.bulk_update(objs, names)
        return
    sql, written = _update_statement(model, names, _array_placeholder(db))
    columns = [[] for _ in written]
    for obj in objs:
        if type(obj) is not model:
            raise TypeError(f"update_many: {obj!r} is not a {model.__name__}")
        if obj.pk is None:
            raise ValueError("update_many: all objects must have a primary key set.")
        # As save(): a related object saved after it was assigned gives its key, an unsaved
        # one is refused (ValueError). Every relation is checked, not only those written:
        # Django's check of a few is slower than its check of all.
        obj._prepare_related_fields_for_save(operation_name="update_many")
        for column, field in zip(columns, written, strict=True):
            value = getattr(obj, field.attname)
            if hasattr(value, "resolve_expression"):
                raise TypeError(f"update_many: {field.name} is an expression; use bulk_update")
            column.append(db_value(field, value, db))
    with db.cursor() as cursor:
        cursor.execute(sql, columns)


def db_value(field, value, db):
    """``field.get_db_prep_save(value, db)``, without its generic path for the values it
    writes as they are on PostgreSQL: text (a str, choices included) in a CharField or
    TextField, an aware datetime in a DateTimeField, a bool in a BooleanField, and None in the
    first two. Each generic call is a few calls deep, and a routed batch prepares about a
    thousand values. A test checks these against Django's own preparation."""
    kind = _as_is(field) if db.vendor == "postgresql" else None
    if kind is str:
        if value is None or isinstance(value, str):
            return value
    elif kind is datetime:
        if value is None or (type(value) is datetime and value.tzinfo is not None):
            return value
    elif kind is bool and type(value) is bool:
        return value
    return field.get_db_prep_save(value, db)


@functools.cache
def _as_is(field) -> type | None:
    """The Python type whose values this field writes unchanged (exact field classes only:
    a subclass may prepare differently)."""
    return {
        models.CharField: str,
        models.TextField: str,
        models.DateTimeField: datetime,
        models.BooleanField: bool,
    }.get(type(field))


@functools.cache
def _insert_fields(model: type[Model]) -> tuple[list, list]:
    """The columns written (every concrete field but an automatic primary key), and those
    whose value ``pre_save`` stamps (``auto_now``/``auto_now_add``)."""
    opts = model._meta
    if opts.parents:
        raise TypeError(f"insert_many: {model.__name__} inherits from a concrete model")
    fields = []
    for field in opts.concrete_fields:
        if field.has_db_default():
            raise TypeError(f"insert_many: {model.__name__}.{field.name} has a database default")
        if field.generated:
            raise TypeError(f"insert_many: {model.__name__}.{field.name} is generated")
        if field is opts.pk and field.db_returning:
            continue
        fields.append(field)
    stamped = [
        field
        for field in fields
        if isinstance(field, DateField) and (field.auto_now or field.auto_now_add)
    ]
    return fields, stamped


def _array_placeholder(db) -> str:
    """``%b`` (a binary parameter) where psycopg binds on the server; a client-side binding
    cursor (DATABASE_PREPARE_THRESHOLD=0) takes text parameters only: ``%s``."""
    return "%b" if db.settings_dict["OPTIONS"].get("server_side_binding") is True else "%s"


def _array(field, placeholder: str, db) -> str:
    """The parameter as the column's array type, without its length (varchar[], not
    varchar(16)[]), as Django's own bulk insert writes it."""
    return f"({placeholder})::{field.db_type(db).split('(')[0]}[]"


@functools.cache
def _insert_statement(model: type[Model], placeholder: str) -> str:
    """``INSERT ... SELECT * FROM UNNEST(array per column)``, as Django's own bulk insert on
    PostgreSQL: one statement text for any number of rows, so it is prepared once."""
    db = connections[DEFAULT_DB_ALIAS]
    fields, _ = _insert_fields(model)
    quote = db.ops.quote_name
    arrays = ", ".join(_array(field, placeholder, db) for field in fields)
    # Identifiers and types from the model's metadata, quoted; every value is a parameter.
    return (
        f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"SELECT * FROM UNNEST({arrays}) RETURNING {quote(model._meta.pk.column)}"
    )


@functools.cache
def _update_statement(
    model: type[Model], names: tuple[str, ...], placeholder: str
) -> tuple[str, tuple]:
    """``UPDATE ... SET ... FROM UNNEST(array per column) WHERE pk``, and its fields (the
    primary key first): one statement text for any number of rows, so it is prepared once."""
    db = connections[DEFAULT_DB_ALIAS]
    opts = model._meta
    fields = tuple(opts.get_field(name) for name in names)
    for field in fields:
        if not field.concrete or field.many_to_many or field.primary_key or field.generated:
            raise ValueError(f"update_many: {model.__name__}.{field.name} cannot be updated")
    fields = (opts.pk, *fields)
    quote = db.ops.quote_name
    table, pk = quote(opts.db_table), quote(opts.pk.column)
    # Identifiers and types from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {table} SET "  # noqa: S608
        + ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields[1:])
        + f" FROM UNNEST({', '.join(_array(f, placeholder, db) for f in fields)})"
        + f" AS v ({', '.join(quote(f.column) for f in fields)})"
        + f" WHERE {table}.{pk} = v.{pk}"
    )
    return sql, fields
