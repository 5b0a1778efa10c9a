from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import Event
from audit.selectors import event_list, event_tenants, event_types
from audit.services import event_record
from directory import services


def record(organization, type, **fields):
    return event_record(organization=organization, type=type, **fields)


def types_of(events):
    return [event.type for event in events]


def test_it_filters_by_the_target_user_id_or_email(acme, alice, bob):
    record(acme, "user_create_provision", actor=alice, target=bob, tenant_ref="t1")
    record(acme, "user_create_provision", actor=alice, target=alice, tenant_ref="t1")

    by_id = event_list(organization=acme, user=str(bob.pk))
    by_email = event_list(organization=acme, user="  BOB@acme.example ")
    assert set(by_id) == set(by_email)
    assert {e.target_label for e in by_id} == {"bob@acme.example"}
    assert "user_create_provision" in types_of(by_id)


def test_the_user_filter_finds_events_about_a_user_under_an_earlier_email(acme, alice, bob):
    record(acme, "user_update_provision", actor=alice, target=bob)
    services.user_update(actor=alice, user=bob, email="robert@acme.example")
    assert "user_update_provision" in types_of(
        event_list(organization=acme, user="robert@acme.example")
    )


def test_the_user_filter_finds_a_deleted_users_events_by_email(acme, alice, bob):
    record(acme, "user_deprovision", actor=alice, target=bob)
    services.user_delete(actor=alice, user=bob)
    assert "user_deprovision" in types_of(event_list(organization=acme, user="bob@acme.example"))


def test_the_user_filter_ignores_events_about_other_kinds_of_objects(acme, alice, bob):
    group = services.group_create(actor=alice, organization=acme, name="Ops")
    event_record(
        organization=acme,
        type="odd",
        actor=alice,
        target_type="group",
        target_id=str(bob.pk),
        target_label="bob@acme.example",
    )
    assert group.pk and "odd" not in types_of(event_list(organization=acme, user=str(bob.pk)))
    assert "odd" not in types_of(event_list(organization=acme, user="bob@acme.example"))


def test_it_filters_by_tenant(acme, alice, bob):
    record(acme, "user_create_provision", target=bob, tenant_ref="t1", tenant_label="Acme EU")
    record(acme, "user_create_provision", target=alice, tenant_ref="t2", tenant_label="Acme US")
    assert [e.target_label for e in event_list(organization=acme, tenant_ref="t2")] == [
        "alice@acme.example"
    ]


def test_it_filters_by_actor_id_email_or_system(acme, alice, bob):
    record(acme, "user_reactivate_provision", target=bob)  # scheduled work
    by_system = event_list(organization=acme, actor="system")
    assert "user_reactivate_provision" in types_of(by_system)
    assert all(e.actor_label == "system" and e.actor is None for e in by_system)
    assert list(event_list(organization=acme, actor="SYSTEM")) == list(by_system)
    by_alice = event_list(organization=acme, actor=str(alice.pk))
    assert set(by_alice) == set(event_list(organization=acme, actor="Alice@acme.example"))
    assert by_alice and all(e.actor_label == "alice@acme.example" for e in by_alice)


def test_it_filters_by_time_with_since_inclusive_and_until_exclusive(acme, alice):
    event = record(acme, "user_update_provision", actor=alice, target=alice)
    at = event.created_at
    assert event in event_list(organization=acme, since=at)
    assert event not in event_list(organization=acme, since=at + timedelta(microseconds=1))
    assert event not in event_list(organization=acme, until=at)
    assert event in event_list(organization=acme, until=at + timedelta(microseconds=1))


def test_filters_combine(acme, alice, bob):
    record(
        acme,
        "user_password_update_provision",
        target=bob,
        tenant_ref="t1",
        outcome=Event.FAILURE,
        details={"code": "x", "message": "m", "request_id": "r"},
    )
    record(
        acme, "user_password_update_provision", target=bob, tenant_ref="t2", outcome=Event.FAILURE
    )
    record(acme, "user_password_update_provision", target=bob, tenant_ref="t1")
    events = event_list(
        organization=acme,
        type="user_password_update_provision",
        outcome="failure",
        user="bob@acme.example",
        tenant_ref="t1",
        actor="system",
        since=timezone.now() - timedelta(hours=1),
        until=timezone.now() + timedelta(hours=1),
    )
    assert [e.details["request_id"] for e in events] == ["r"]


def test_no_filter_reaches_another_organizations_events(acme, alice, globex, charlie):
    record(globex, "user_create_provision", actor=charlie, target=charlie, tenant_ref="g1")
    for filters in (
        {},
        {"user": "charlie@globex.example"},
        {"user": str(charlie.pk)},
        {"tenant_ref": "g1"},
        {"actor": "charlie@globex.example"},
        {"actor": str(charlie.pk)},
    ):
        assert not event_list(organization=acme, **filters).filter(organization=globex)
        assert "globex" not in str(
            [e.target_label for e in event_list(organization=acme, **filters)]
        )


def test_the_tenant_list_names_each_tenant_once_by_its_latest_label(acme, alice, globex):
    record(acme, "user_create_provision", target=alice, tenant_ref="t1", tenant_label="Old")
    record(acme, "user_update_provision", target=alice, tenant_ref="t1", tenant_label="Acme EU")
    record(acme, "user_create_provision", target=alice, tenant_ref="t2", tenant_label="Acme AP")
    record(globex, "user_create_provision", tenant_ref="g1", tenant_label="Globex")
    assert event_tenants(organization=acme) == [("t2", "Acme AP"), ("t1", "Acme EU")]
    assert event_tenants(organization=globex) == [("g1", "Globex")]


def test_the_type_list_is_each_type_once_in_order(acme, alice, bob):
    record(acme, "user_deprovision", target=bob)
    record(acme, "user_deprovision", target=bob)
    types = event_types(organization=acme)
    assert types == sorted(set(types)) and "user_deprovision" in types


def test_the_tenant_and_type_lists_take_one_query_each_however_many_events(acme, alice):
    Event.objects.bulk_create(
        Event(
            organization=acme,
            type=f"type_{n % 5}",
            actor_label="system",
            tenant_ref=f"t{n % 3}",
            tenant_label=f"Tenant {n % 3}",
        )
        for n in range(300)
    )
    with CaptureQueriesContext(connection) as queries:
        assert len(event_tenants(organization=acme)) == 3
        assert {f"type_{n}" for n in range(5)} <= set(event_types(organization=acme))
    assert len(queries) == 2
