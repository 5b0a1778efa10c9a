"""A bulk bind writes its new bindings in one statement (on PostgreSQL, one JSON document
unpacked by the database), each with the same values Django's `bulk_create` gave it, and
returns them with their ids."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory import services as directory_services
from m365bridge import services
from m365bridge.models import BindRun, UserBinding

from .provisioning import EMPLOYEE_PASSWORD, employee

pytest_plugins = ["tests.m365bridge.provisioning"]


def _values(binding):
    return {f.attname: getattr(binding, f.attname) for f in UserBinding._meta.concrete_fields}


def test_a_bulk_bind_inserts_every_binding_in_one_statement_with_each_users_values(
    acme, alice, ms, tenant
):
    people = [employee(acme, alice, ms, f"insert{i}") for i in range(3)]
    directory_services.user_set_password(actor=alice, user=people[1], password=EMPLOYEE_PASSWORD)

    with CaptureQueriesContext(connection) as queries:
        results = services.users_bind(actor=alice, tenant=tenant, users=people)

    table = UserBinding._meta.db_table
    inserts = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'INSERT INTO "{table}"')
    ]
    assert len(inserts) == 1 and "jsonb_array_elements" in inserts[0]
    run = BindRun.objects.get(tenant=tenant)
    for person, result in zip(people, results, strict=True):
        stored = UserBinding.objects.get(user=person)
        assert result.code == "bound" and _values(result.binding) == _values(stored)
        assert result.binding.user is person and not result.binding._state.adding
        assert (stored.organization_id, stored.tenant_id) == (acme.pk, tenant.pk)
        assert (stored.bind_run_id, stored.intent_actor_id) == (run.pk, alice.pk)
        assert (stored.user_ref, stored.user_label) == (person.pk, person.email)
        assert stored.needs_sync and stored.generation == 1 and stored.state == "pending"
        assert stored.dirty_since is not None and stored.created_at is not None
        assert stored.known_properties == {} and stored.drift == {}
    with_password = [UserBinding.objects.get(user=p).password_version for p in people]
    assert with_password == [0, 1, 0]
    assert UserBinding.objects.get(user=people[1]).password_encrypted
    assert not UserBinding.objects.get(user=people[0]).password_encrypted


def test_a_bind_of_users_only_rebound_inserts_nothing_and_selects_them_again(
    acme, alice, ms, tenant
):
    people = [employee(acme, alice, ms, f"again{i}") for i in range(2)]
    services.users_bind(actor=alice, tenant=tenant, users=people)
    for person in people:  # unbound before any worker forgot the binding
        services.user_unbind(actor=alice, user=person)

    results = services.users_bind(actor=alice, tenant=tenant, users=people)

    assert [r.code for r in results] == ["rebound", "rebound"]
    assert UserBinding.objects.filter(user__in=people, bound=True).count() == 2
    assert UserBinding.objects.filter(tenant=tenant).count() == 2
