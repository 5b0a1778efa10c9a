"""Claimed and locked rows loaded from SQL built once (`directory.rows_load`): the same
rows, values and related objects as the ORM's `select_related`, in one statement."""

import threading

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from directory.rows_load import RowsLoad
from m365bridge import services
from m365bridge.models import UserBinding
from m365bridge.sync import user_outcomes

from .provisioning import employee

pytest_plugins = ["tests.m365bridge.provisioning"]

RELATED = ("user", "tenant__organization", "intent_actor")


def _values(row) -> dict:
    return {f.attname: getattr(row, f.attname) for f in type(row)._meta.concrete_fields}


def test_rows_come_with_the_values_and_related_objects_select_related_gives(
    acme, alice, ms, tenant
):
    people = [employee(acme, alice, ms, f"load{i}") for i in range(3)]
    services.users_bind(actor=alice, tenant=tenant, users=people)
    bindings = list(UserBinding.objects.filter(user__in=people).order_by("pk"))
    bindings[0].known_properties = {"department": "Sales", "proxyAddresses": ["smtp:a@b.c"]}
    bindings[0].save()
    UserBinding.objects.filter(pk=bindings[1].pk).update(intent_actor=None)
    keys = [b.pk for b in reversed(bindings)]  # any order in, key order out

    expected = list(UserBinding.objects.filter(pk__in=keys).select_related(*RELATED).order_by("pk"))
    with CaptureQueriesContext(connection) as queries:
        loaded = RowsLoad(UserBinding, related=RELATED).load(keys)
        # Every related object came with the rows: reading them costs no query.
        seen = [
            (r.user.email, r.tenant.organization.slug, getattr(r.intent_actor, "email", None))
            for r in loaded
        ]

    assert len(queries) == 1
    assert [r.pk for r in loaded] == [b.pk for b in bindings]
    for got, want in zip(loaded, expected, strict=True):
        assert _values(got) == _values(want)  # JSON parsed, times aware, as Django's
        assert _values(got.user) == _values(want.user)
        assert _values(got.tenant) == _values(want.tenant)
        assert _values(got.tenant.organization) == _values(want.tenant.organization)
        assert got.user.m365_binding is got  # the one-to-one's reverse side is set too
    assert loaded[0].known_properties["proxyAddresses"] == ["smtp:a@b.c"]
    # What many rows point at is one object, as prefetch_related gives it.
    assert loaded[0].tenant is loaded[2].tenant and loaded[0].intent_actor is loaded[2].intent_actor
    assert loaded[0].user is not loaded[2].user
    assert seen[1][2] is None and loaded[1].intent_actor is None  # a LEFT JOIN found none
    assert seen[0] == (people[0].email, acme.slug, alice.email)


def test_no_keys_load_nothing_without_a_query(db):
    with CaptureQueriesContext(connection) as queries:
        assert RowsLoad(UserBinding, related=RELATED).load([]) == []
    assert len(queries) == 0


def test_only_forward_foreign_keys_can_be_loaded(db):
    with pytest.raises(ValueError, match="photo: only forward foreign keys"):
        RowsLoad(UserBinding, related=("photo",)).load([1])


def test_locked_rows_stay_locked_until_the_transaction_ends(
    transactional_db, acme, alice, ms, tenant
):
    person = employee(acme, alice, ms, "lockload")
    services.users_bind(actor=alice, tenant=tenant, users=[person])
    key = UserBinding.objects.get(user=person).pk
    others_saw = []

    def other_worker():
        try:
            with transaction.atomic():
                others_saw.extend(
                    UserBinding.objects.select_for_update(skip_locked=True)
                    .filter(pk=key)
                    .values_list("pk", flat=True)
                )
        finally:
            connections.close_all()

    with transaction.atomic():
        (row,) = user_outcomes.USERS.locked_load.load([key])
        worker = threading.Thread(target=other_worker)
        worker.start()
        worker.join()

    assert row.pk == key
    assert others_saw == []  # the row was locked: a SKIP LOCKED select passed it by


def test_rows_can_be_looked_up_by_another_field(acme, alice, ms, tenant):
    people = [employee(acme, alice, ms, f"keyed{i}") for i in range(3)]
    services.users_bind(actor=alice, tenant=tenant, users=people)

    loaded = RowsLoad(UserBinding, key="tenant").load([tenant.pk, -1])

    expected = UserBinding.objects.filter(tenant=tenant).order_by("pk")
    assert [r.pk for r in loaded] == [b.pk for b in expected] and len(loaded) == 3


def test_what_every_row_shares_can_be_read_once_apart(acme, alice, ms, tenant):
    people = [employee(acme, alice, ms, f"apart{i}") for i in range(3)]
    services.users_bind(actor=alice, tenant=tenant, users=people)
    keys = list(UserBinding.objects.filter(user__in=people).values_list("pk", flat=True))

    with CaptureQueriesContext(connection) as queries:
        loaded = RowsLoad(UserBinding, related=("user",), apart=("tenant__organization",)).load(
            keys
        )
        names = [r.tenant.organization.slug for r in loaded]

    assert len(queries) == 2  # the rows, then their one tenant with its organization
    assert "audit" not in queries[1]["sql"] and queries[1]["sql"].count("FROM") == 1
    assert names == [acme.slug] * 3 and loaded[0].tenant is loaded[2].tenant
    assert _values(loaded[0].tenant) == _values(tenant)
    with pytest.raises(ValueError, match="user: only many-to-one"):
        RowsLoad(UserBinding, apart=("user",))
