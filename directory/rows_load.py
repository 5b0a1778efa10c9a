"""Rows of one model by primary key, with the objects along forward foreign keys (what
`select_related` loads), from SQL built once per shape.

A sync worker loads the same shapes of rows over and over: the bindings it claimed, with
their user, tenant and organization and the admin whose change it sends; the rows it
locks to record a `$batch` of outcomes. Django compiles such a query anew each time
(every column of five tables, the ORDER BY's expressions hashed through
`inspect.signature`), which a profile of a 5,000-user bulk bind showed to be the largest
part of a worker's CPU. Here the statement is built once from the models' `_meta`
(`= ANY(%s)`, so the number of keys does not change it) and each row becomes instances
through `Model.from_db`, with the fields' database converters applied as Django's own
compiler applies them.

On databases other than PostgreSQL (the SQLite of `make run`) the same rows come from
the ORM's `select_related`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, connections
from django.db.models import ForeignKey


@dataclass
class _Table:
    """One model of the statement: its alias, its columns' attribute names and
    converters, and how it hangs off its parent (None for the root)."""

    model: type
    alias: str
    attnames: list[str]
    converters: list[tuple]  # (column index in the row, its converters)
    pk: int  # index of the primary key among the columns
    parent: int | None = None
    link: ForeignKey | None = None  # the parent's foreign key to this table
    start: int = 0  # of its columns in a row
    children: list[int] = field(default_factory=list)


class RowsLoad:
    """`RowsLoad(Binding, related=("user", "tenant__organization")).load(keys)`: the
    rows with those primary keys in key order, each with its related objects cached on
    it, as `Binding.objects.filter(pk__in=keys).select_related(...).order_by("pk")` gives
    them, except that an object several rows point at (their tenant) is one shared
    instance. `apart` paths are loaded as `related` ones but with one more statement,
    for the distinct objects the rows point at (what `prefetch_related` does): for an
    object every row shares, such as the tenant of a claimed chunk with its token cache,
    one copy read instead of one per row. `key` names another field to look rows up by
    (ordered by it, then by primary key); `lock=True` locks the model's own rows (`FOR
    UPDATE OF`) for the transaction."""

    def __init__(
        self,
        model,
        *,
        related: Iterable[str] = (),
        apart: Iterable[str] = (),
        lock: bool = False,
        key: str = "pk",
    ):
        self.model = model
        self.related = tuple(related)
        self.lock = lock
        self.key = model._meta.pk if key == "pk" else model._meta.get_field(key)
        self.apart = []  # (the root's foreign key, the load of what it points at)
        for path in apart:
            name, _, rest = path.partition("__")
            link = model._meta.get_field(name)
            if not isinstance(link, ForeignKey) or link.one_to_one:
                raise ValueError(f"{path}: only many-to-one foreign keys can be loaded apart")
            self.apart.append((link, RowsLoad(link.related_model, related=(rest,) if rest else ())))
        self._built: tuple[str, list[_Table]] | None = None

    def load(self, keys: Iterable) -> list:
        keys = list(keys)
        if not keys:
            return []
        if connection.vendor != "postgresql":
            return self._orm(keys)
        sql, tables = self._statement()
        with connection.cursor() as cursor:
            cursor.execute(sql, [keys])
            shared: dict = {}
            here = connections[connection.alias]  # the proxy costs a lookup per use
            rows = [self._instances(tables, row, shared, here) for row in cursor.fetchall()]
        for link, load in self.apart:
            found = {o.pk: o for o in load.load({getattr(r, link.attname) for r in rows} - {None})}
            for row in rows:
                link.set_cached_value(row, found.get(getattr(row, link.attname)))
        return rows

    def _orm(self, keys: list) -> list:
        rows = self.model.objects.filter(**{f"{self.key.attname}__in": keys})
        rows = rows.select_related(*self.related, *(self._apart_paths()))
        if self.lock:
            rows = rows.select_for_update(of=("self",))
        return list(rows.order_by(self.key.attname, "pk"))

    def _apart_paths(self) -> list[str]:
        return [
            "__".join([link.name, *load.related]) if load.related else link.name
            for link, load in self.apart
        ]

    def _statement(self) -> tuple[str, list[_Table]]:
        # Built on first use, when the connection (its quoting and converters) is known.
        if self._built is None:
            self._built = self._build()
        return self._built

    def _build(self) -> tuple[str, list[_Table]]:
        quote = connection.ops.quote_name
        tables = [self._table(self.model, "t0")]
        joins, nullable = [], {0: False}
        for path in self.related:
            at = 0
            for name in path.split("__"):
                found = next((i for i in tables[at].children if tables[i].link.name == name), None)
                if found is None:
                    link = tables[at].model._meta.get_field(name)
                    if not isinstance(link, ForeignKey) or tables[at].model._meta.parents:
                        raise ValueError(f"{path}: only forward foreign keys can be loaded")
                    found = len(tables)
                    tables.append(self._table(link.related_model, f"t{found}"))
                    tables[found].parent, tables[found].link = at, link
                    tables[at].children.append(found)
                    nullable[found] = nullable[at] or link.null
                    joins.append(self._join(link, tables[at].alias, f"t{found}", nullable[found]))
                at = found
        columns, start = [], 0
        for table in tables:
            table.start = start
            fields = table.model._meta.concrete_fields
            columns += [f"{table.alias}.{quote(f.column)}" for f in fields]
            start += len(fields)
        meta = self.model._meta
        key, pk = quote(self.key.column), quote(meta.pk.column)
        order = f"t0.{pk}" if self.key.primary_key else f"t0.{key}, t0.{pk}"
        sql = (
            f"SELECT {', '.join(columns)} FROM {quote(meta.db_table)} t0 "  # noqa: S608 - names from the models
            + " ".join(joins)
            + f" WHERE t0.{key} = ANY(%s) ORDER BY {order}"
        )
        if self.lock:
            sql += " FOR UPDATE OF t0"
        return sql, tables

    @staticmethod
    def _join(link: ForeignKey, parent: str, alias: str, outer: bool) -> str:
        quote = connection.ops.quote_name
        return (
            f"{'LEFT OUTER' if outer else 'INNER'} JOIN {quote(link.related_model._meta.db_table)} "
            f"{alias} ON {alias}.{quote(link.target_field.column)} = {parent}.{quote(link.column)}"
        )

    @staticmethod
    def _table(model, alias: str) -> _Table:
        fields = model._meta.concrete_fields
        converters = []
        for index, f in enumerate(fields):
            col = f.get_col(alias)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                converters.append((index, (found, col)))
        attnames = [f.attname for f in fields]
        return _Table(
            model=model,
            alias=alias,
            attnames=attnames,
            converters=converters,
            pk=attnames.index(model._meta.pk.attname),
        )

    @staticmethod
    def _instances(tables: list[_Table], row: tuple, shared: dict, here):
        """The row's instances. Objects many rows point at (their tenant, its
        organization, the admin who asked) are made once per load and shared by those
        rows, as `prefetch_related` shares them."""
        made: list = [None] * len(tables)
        reused = [False] * len(tables)
        for number, table in enumerate(tables):
            values = row[table.start : table.start + len(table.attnames)]
            parent = made[table.parent] if table.parent is not None else None
            if table.parent is not None and (parent is None or reused[table.parent]):
                continue  # not found by a LEFT JOIN, or already hung on a shared parent
            key = (number, values[table.pk])
            instance = shared.get(key) if not table.link or not table.link.one_to_one else None
            if instance is not None:
                reused[number] = True
            elif table.parent is None or values[table.pk] is not None:
                if table.converters:
                    values = list(values)
                    for index, (found, col) in table.converters:
                        for convert in found:
                            values[index] = convert(values[index], col, here)
                instance = table.model.from_db(here.alias, table.attnames, values)
                if table.link is not None and not table.link.one_to_one:
                    shared[key] = instance
            made[number] = instance
            if parent is not None:
                table.link.set_cached_value(parent, instance)
                if instance is not None and table.link.one_to_one:
                    table.link.remote_field.set_cached_value(instance, parent)
        return made[0]
