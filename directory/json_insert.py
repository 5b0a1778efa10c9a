"""Many rows in one INSERT … SELECT on PostgreSQL, sent as one JSON document that the
database unpacks (`jsonb_array_elements`, one array of values per row, in column
order). Django's `bulk_create` compiles and adapts every value in Python, which for
thousands of rows is most of the statement's cost (a 999-account page of the import
mirror, the 5,000 bindings of a bulk bind); one `json.dumps` of the rows is a small part
of it. Other databases keep `bulk_create` (the callers' choice)."""

from __future__ import annotations

import functools
import json

from django.db import connection


def json_rows_insert(
    model,
    *,
    fixed: dict[str, object],
    rows: list[dict],
    conflict: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
) -> list[tuple]:
    """Insert `rows` (dicts of field name to a JSON-ready value, the same keys in every
    row) of `model`, each with the `fixed` values (field name to a value already prepared
    for the database, the same for every row). With `conflict` (the unique fields), a
    row that exists is updated instead (ON CONFLICT … DO UPDATE of every other column).
    Returns the `returning` columns of each row written."""
    if not rows:
        return []
    sql = _insert_sql(model, tuple(fixed), tuple(rows[0]), conflict, returning)
    document = json.dumps(
        [list(row.values()) for row in rows], ensure_ascii=False, check_circular=False
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*fixed.values(), document])
        return cursor.fetchall() if returning else []


@functools.cache
def _insert_sql(model, fixed: tuple, own: tuple, conflict: tuple, returning: tuple) -> str:
    meta = model._meta
    quote = connection.ops.quote_name
    fixed_fields = [meta.get_field(name) for name in fixed]
    own_fields = [meta.get_field(name) for name in own]
    columns = [quote(f.column) for f in (*fixed_fields, *own_fields)]
    values = [f"%s::{f.db_type(connection)}" for f in fixed_fields]
    values += [_element(index, f) for index, f in enumerate(own_fields)]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) "  # noqa: S608 - names from the model
        f"SELECT {', '.join(values)} FROM jsonb_array_elements(%s::jsonb) AS r"
    )
    if conflict:
        keys = [quote(meta.get_field(name).column) for name in conflict]
        updated = [c for c in columns if c not in keys]
        sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(
            f"{c} = EXCLUDED.{c}" for c in updated
        )
    if returning:
        sql += " RETURNING " + ", ".join(quote(meta.get_field(n).column) for n in returning)
    return sql


def _element(index: int, field) -> str:
    """Element `index` of the row array `r` as the field's column type; text as `text`,
    so a value too long for its column is refused as a plain INSERT refuses it (a cast to
    varchar(n) would cut it short without a word)."""
    if field.get_internal_type() == "JSONField":
        return f"r -> {index}"
    db_type = field.db_type(connection)
    if db_type.startswith("varchar("):
        db_type = "text"
    return f"(r ->> {index})::{db_type}"
