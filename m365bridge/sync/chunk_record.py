"""Recording a whole `$batch` of outcomes in one transaction.

`engine.record` writes one row's outcome and its event in a transaction of its own: six
to eight statements per row, which is most of what a bulk bind cost Stratus. Here the
rows of a chunk are locked with one SELECT, each outcome is applied to its row in
memory exactly as `engine.record` would (the same `update(row)`, the same compare-and-set
on the generation, so a row whose generation moved keeps its intent), their events are
written with one INSERT (`audit.services.events_batched`) and the rows with one UPDATE.

If anything fails (a unique constraint, an `update` that raises, the database), the
chunk's transaction is rolled back whole and every outcome is recorded on its own
(`Outcome.alone`, the one-row path with its own error handling), so a failure in one
row never loses the others, and no event is written twice.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import DateField, DateTimeField, Field, JSONField

from audit.services import events_batched
from directory.models import User

from .engine import Kind

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """One row's outcome to record: `update(row)` as for `engine.record` (True when the
    intent it handled is done), and `alone()`, which records it in a transaction of its
    own if the chunk cannot be recorded whole."""

    pk: int
    generation: int | None
    update: Callable
    alone: Callable[[], None]


def record_chunk(
    kind: Kind,
    outcomes: list[Outcome],
    *,
    claimed: dict[int, object] | None = None,
    after: Callable[[list], None] | None = None,
) -> bool:
    """Record `outcomes` in one transaction; `after(rows)` runs in it once every row is
    applied (follow-up writes of the whole chunk). `claimed` are the rows as claimed,
    whose related objects (tenant, user) are reused instead of loaded again. Returns
    True when recorded whole, False when it fell back to one row at a time."""
    if not outcomes:
        return True
    try:
        with transaction.atomic():
            rows = _locked_rows(kind, [o.pk for o in outcomes], claimed or {})
            loaded = {pk: scalars_loaded(row) for pk, row in rows.items()}
            applied = []
            with events_batched():
                for outcome in outcomes:
                    row = rows.get(outcome.pk)
                    if row is None:  # gone meanwhile (unbound, tenant deauthorized)
                        continue
                    done = outcome.update(row)
                    row.release_claim(applied_generation=outcome.generation if done else None)
                    applied.append(row)
                if after is not None:
                    after(applied)
            rows_update(applied, loaded=loaded)
    except Exception:  # one bad row never stops the others: record each on its own
        log.warning(
            "recording a chunk of %d %s outcomes at once failed; recording them one by one",
            len(outcomes),
            kind.model.__name__,
            exc_info=True,
        )
        for outcome in outcomes:
            outcome.alone()
        return False
    return True


def _locked_rows(kind: Kind, pks: list[int], claimed: dict[int, object]) -> dict[int, object]:
    """The rows as they are now, locked in primary-key order, with the related objects
    of their claimed copies where those still apply and the actors read at once."""
    rows = kind.locked_load.load(pks)
    names = {path.split("__")[0] for path in kind.related} | {"intent_actor"}
    stale = []  # rows whose actor changed since the claim
    for row in rows:
        copy = claimed.get(row.pk)
        for name in names if copy is not None else ():
            field = kind.model._meta.get_field(name)
            if getattr(copy, field.attname) == getattr(row, field.attname):
                if field.is_cached(copy):
                    setattr(row, name, getattr(copy, name))
            elif name == "intent_actor":
                stale.append(row)
    actors = User.objects.in_bulk({r.intent_actor_id for r in stale if r.intent_actor_id})
    for row in stale:
        row.intent_actor = actors.get(row.intent_actor_id)
    return {row.pk: row for row in rows}


def scalars_loaded(row) -> dict[str, object]:
    """The row's values as loaded, but for its mutable ones (JSON), which an update may
    change in place: what `rows_update` compares with to leave unchanged columns out. An
    empty JSON value is kept as a new empty one of its type (an update that fills the
    row's own in place then shows as a change); any other JSON counts as changed."""
    loaded = {}
    for f in _scalar_fields(type(row)):
        value = getattr(row, f.attname)
        if isinstance(f, JSONField):
            if type(value) not in (dict, list) or value:
                continue
            value = type(value)()
        loaded[f.attname] = value
    return loaded


@functools.cache
def _scalar_fields(model) -> list:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def rows_update(rows: list, *, loaded: dict[int, dict] | None = None) -> None:
    """Save `rows` (of one model, locked by this transaction) as `save()` would, with
    one `UPDATE … FROM (VALUES …)` on PostgreSQL (one UPDATE per row elsewhere). With
    `loaded` (each row's `scalars_loaded` when it was locked), the columns no row
    changed since are left out: they hold those values already, the row being locked."""
    if not rows:
        return
    for row in rows:
        prepare = getattr(row, "prepare_save", None)
        if prepare is not None:
            prepare()
    if connection.vendor != "postgresql":
        for row in rows:
            row.save()
        return
    meta = type(rows[0])._meta
    fields, plain = _saved_fields(type(rows[0]))
    values = [
        [getattr(row, f.attname) if simple else f.pre_save(row, False) for f, simple in plain]
        for row in rows
    ]
    if loaded is not None:
        fields, values = _changed_only(fields, values, [loaded[row.pk] for row in rows])
    pk = meta.pk
    casts = [f"%s::{pk.db_type(connection)}"] + [f"%s::{f.db_type(connection)}" for f in fields]
    placeholder = "(" + ", ".join(casts) + ")"
    params: list = []
    for row, row_values in zip(rows, values, strict=True):
        params.append(pk.get_db_prep_value(row.pk, connection))
        for field, value in zip(fields, row_values, strict=True):
            params.append(field.get_db_prep_save(value, connection))
    quote = connection.ops.quote_name
    columns = [quote(f.column) for f in fields]
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET "  # noqa: S608 - names from the model
        + ", ".join(f"{c} = v.{c}" for c in columns)
        + f" FROM (VALUES {', '.join([placeholder] * len(rows))}) AS v({quote(pk.column)}, "
        + ", ".join(columns)
        + f") WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@functools.cache
def _saved_fields(model) -> tuple[list, list[tuple]]:
    """The fields an update saves, each with whether its `pre_save` only reads the value
    (every field but those that set one, `auto_now`, or customise it)."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    reading = (Field.pre_save, DateField.pre_save, DateTimeField.pre_save)
    plain = [(f, type(f).pre_save in reading and not getattr(f, "auto_now", False)) for f in fields]
    return fields, plain


def _changed_only(fields: list, values: list[list], loaded: list[dict]) -> tuple[list, list]:
    """The fields (and each row's values of them) that some row changed since `loaded`;
    fields not in `loaded` (JSON) always count as changed."""
    missing = object()
    keep = [
        i
        for i, field in enumerate(fields)
        if any(
            before.get(field.attname, missing) is missing or before[field.attname] != row_values[i]
            for row_values, before in zip(values, loaded, strict=True)
        )
    ]
    return [fields[i] for i in keep], [[row_values[i] for i in keep] for row_values in values]
