"""`field__in_array=[...]`: the values as ONE array parameter (`= ANY(%s)`) on
PostgreSQL. Django's `__in` compiles and adapts a placeholder per value, which for the
5,000 users of a bulk bind cost more than the query itself; the array is one value.
Elsewhere (the SQLite of `make run`) it is a plain IN list."""

from __future__ import annotations

from django.db.models import Field, ForeignObject, Lookup


class InArray(Lookup):
    lookup_name = "in_array"
    prepare_rhs = False

    def get_prep_lookup(self):
        prep = self.lhs.output_field.get_prep_value
        return [prep(value) for value in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*params, values]
        if not values:
            return "1 = 0", list(params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*params, *values]


Field.register_lookup(InArray)
ForeignObject.register_lookup(InArray)  # related fields keep lookups of their own
