"""How provisioning work flows: claims, transient failures and backoff, the sweep, and
secrets that never leave the binding's encrypted column."""

import json
import logging
import threading
import time
from datetime import timedelta

from django.utils import timezone

from audit.models import Event
from directory import services as directory_services
from m365bridge import services
from m365bridge.models import UserBinding
from m365bridge.sync import engine, plan, runner
from m365bridge.sync.users import USERS

from .provisioning import EMPLOYEE_PASSWORD, account, employee, sync

pytest_plugins = ["tests.m365bridge.provisioning"]


def test_two_workers_never_claim_the_same_binding(acme, alice, ms, tenant):
    users = [employee(acme, alice, ms, f"u{i}") for i in range(5)]
    services.users_bind(actor=alice, tenant=tenant, users=users)

    first = engine.claim(USERS, tenant_id=tenant.pk, token="a" * 32, limit=3)
    second = engine.claim(USERS, tenant_id=tenant.pk, token="b" * 32, limit=10)
    third = engine.claim(USERS, tenant_id=tenant.pk, token="c" * 32, limit=10)

    assert len(first) == 3 and len(second) == 2 and third == []
    assert not {b.pk for b in first} & {b.pk for b in second}


def test_an_expired_claim_of_a_dead_worker_is_taken_over(acme, alice, ms, tenant):
    user = employee(acme, alice, ms, "rob")
    services.user_bind(actor=alice, tenant=tenant, user=user)
    engine.claim(USERS, tenant_id=tenant.pk, token="dead" * 8)
    assert sync(tenant).applied == 0  # the dead worker's lease still runs

    UserBinding.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert sync(tenant).applied == 1
    assert account(ms, user.email)["accountEnabled"] is True


def test_microsoft_failing_for_a_while_keeps_the_change_and_retries_it_later(
    acme, alice, ms, tenant, settings, queued
):
    user = employee(acme, alice, ms, "sam")
    services.user_bind(actor=alice, tenant=tenant, user=user)
    ms["control"].set_faults(ms["id"], error_rate=1.0, error_statuses=[503])
    settings.M365_SYNC_LEASE_SECONDS = 30

    result = runner.tenant_sync(tenant_id=tenant.pk, time_limit=60)

    binding = UserBinding.objects.get(user=user)
    assert result.retrying == 1 and binding.needs_sync and binding.state == "pending"
    assert binding.next_attempt_at > timezone.now() and binding.attempts == 1
    assert binding.claim_token == "" and binding.last_error_code == "serviceNotAvailable"
    assert not Event.objects.filter(type="user_create_provision").exists()
    assert sync(tenant).applied == 0  # not due yet

    ms["control"].clear_faults(ms["id"])
    UserBinding.objects.update(next_attempt_at=timezone.now())
    assert sync(tenant).applied == 1
    binding.refresh_from_db()
    assert binding.state == "provisioned" and binding.attempts == 0 and not binding.last_error
    assert Event.objects.filter(type="user_create_provision").count() == 1


def test_the_sweep_resends_work_whose_task_was_lost(acme, alice, ms, tenant, queued):
    user = employee(acme, alice, ms, "tia")
    services.user_bind(actor=alice, tenant=tenant, user=user)
    assert runner.sweep_due_tenants() == []  # its own task is still expected

    UserBinding.objects.update(dirty_since=timezone.now() - timedelta(minutes=5))
    assert runner.sweep_due_tenants() == [tenant.pk]
    assert queued == [tenant.pk]

    sync(tenant)
    queued.clear()
    assert runner.sweep_due_tenants() == [] and queued == []


def test_no_password_reaches_events_logs_or_task_arguments(
    acme, alice, ms, tenant, queued, caplog, client
):
    caplog.set_level(logging.DEBUG)
    user = employee(acme, alice, ms, "uma")
    services.user_bind(actor=alice, tenant=tenant, user=user)
    directory_services.user_set_password(actor=alice, user=user, password=EMPLOYEE_PASSWORD)
    sync(tenant)
    new_password = "Wz5%hQe7-Bn2xKc"
    directory_services.user_set_password(actor=alice, user=user, password=new_password)
    sync(tenant)

    assert Event.objects.filter(type="user_password_update_provision").count() == 1
    for secret in (EMPLOYEE_PASSWORD, new_password):
        assert secret not in caplog.text
        assert all(secret not in json.dumps(e.details) for e in Event.objects.all())
        assert secret not in UserBinding.objects.get(user=user).password_encrypted
    assert all(isinstance(tenant_id, int) for tenant_id in queued)
    binding = UserBinding.objects.get(user=user)
    assert "password" not in repr(plan.binding_plan(binding)).lower().replace(
        "password_version", ""
    ).replace("password_retained", "")


def test_a_password_refused_by_microsoft_puts_the_binding_in_error_with_its_reason(
    acme, alice, ms, tenant
):
    user = employee(acme, alice, ms, "vic")
    services.user_bind(actor=alice, tenant=tenant, user=user)
    sync(tenant)
    # A password that passed Stratus's copy of the rules but Microsoft refuses (its banned
    # list is longer than Stratus knows): simulate by storing it past the check.
    from directory import encryption

    UserBinding.objects.filter(user=user).update(
        password_encrypted=encryption.encrypt("vicvicvicvic"), password_version=1, needs_sync=True
    )

    sync(tenant)

    binding = UserBinding.objects.get(user=user)
    assert binding.state == "error" and binding.last_error_message
    failure = Event.objects.get(type="user_password_update_provision", outcome="failure")
    assert failure.details["message"] == binding.last_error_message


def test_reauthorizing_a_tenant_sends_the_work_it_held(
    client, alice, m365, ms_tenant, queued, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from m365bridge.models import Tenant

    from .conftest import connect_tenant, sign_in_at_microsoft, tenant_pk_from

    client.force_login(alice)
    tenant_pk = tenant_pk_from(connect_tenant(client, m365, ms_tenant, mode="delegated"))
    Tenant.objects.filter(pk=tenant_pk).update(status="needs_reauthorization")
    queued.clear()

    started = client.post(reverse("m365:reauthorize", args=[tenant_pk]))
    params = sign_in_at_microsoft(
        m365, started["Location"], login=ms_tenant["admin"], password=ms_tenant["password"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.get("/console/m365/callback/", params)

    assert Tenant.objects.get(pk=tenant_pk).status == "connected"
    assert queued == [tenant_pk]


def test_more_than_one_batch_of_work_asks_one_more_worker_to_help(acme, alice, ms, tenant, queued):
    users = [employee(acme, alice, ms, f"h{i}") for i in range(engine.CHUNK + 1)]
    services.users_bind(actor=alice, tenant=tenant, users=users)
    queued.clear()

    result = sync(tenant)

    assert result.applied == engine.CHUNK + 1
    assert queued == [tenant.pk]  # one helper, asked once; the last claim was not full


def test_claims_are_renewed_while_a_chunk_is_being_sent(
    transactional_db, acme, alice, ms, tenant, settings
):
    """Microsoft answers slowly and each account must be taken over (create, look up,
    PATCH: three requests for one chunk). The claims' lease is pushed forward while the
    chunk is being sent (every tenth of the lease), so a claim never runs low and no
    second worker can take a row whose write is still on the wire."""
    settings.M365_SYNC_LEASE_SECONDS = 10  # each request may take up to 1.2 s
    people = [employee(acme, alice, ms, f"slow{i}") for i in range(3)]
    for person in people:
        ms["control"].admin_create_user(ms["id"], person.email, password="Old-Passw0rd-99!")
    services.users_bind(actor=alice, tenant=tenant, users=people)
    ms["control"].set_faults(ms["id"], latency_ms=700)
    leases, done = [], threading.Event()

    def watch():
        while not done.is_set():
            seen = timezone.now()
            leases.extend(
                (seen, until)
                for until in UserBinding.objects.filter(claimed_until__isnull=False)
                .values_list("claimed_until", flat=True)
                .distinct()
            )
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = sync(tenant)
    finally:
        done.set()
        watcher.join()
        ms["control"].set_faults(ms["id"], latency_ms=0)

    assert result.applied == 3
    assert len({until for _, until in leases}) >= 2  # claimed, then pushed forward
    # Renewed every tenth of the lease: never less than most of it left (a little slack
    # for the watcher's own pace).
    assert min((until - seen).total_seconds() for seen, until in leases) >= 7.0
    assert Event.objects.filter(type="user_create_provision").count() == 3


def test_a_worker_that_stalled_past_its_lease_sends_nothing_more(acme, alice, ms, tenant):
    lease = engine.Lease("stalled" + "x" * 25, [USERS])
    lease.renewed -= engine.lease_length().total_seconds() + 1  # asleep for a whole lease
    try:
        lease.renew()
    except engine.LeaseLost as exc:
        assert "stalled" in str(exc)
    else:
        raise AssertionError("a stalled worker must not renew and send")


def test_the_sync_client_is_built_so_no_gap_between_renewals_reaches_the_lease(tenant, settings):
    from m365bridge.graph.tenant import tenant_graph

    for lease in (15, 300):
        settings.M365_SYNC_LEASE_SECONDS = lease
        client = tenant_graph(tenant=tenant, within=0.8 * lease)
        assert engine.longest_gap(client) < lease
        engine.lease_check(client)  # raises otherwise
    settings.M365_SYNC_LEASE_SECONDS = 10
    unfitted = tenant_graph(tenant=tenant)
    try:
        engine.lease_check(unfitted)
    except ValueError as exc:
        assert "outlast the lease" in str(exc)
    else:
        raise AssertionError("a client whose requests can outlast the lease is refused")


def test_every_block_event_says_why(acme, alice, ms, tenant):
    kept, gone, parted = (employee(acme, alice, ms, n) for n in ("kept", "gone", "parted"))
    services.users_bind(actor=alice, tenant=tenant, users=[kept, gone, parted])
    sync(tenant)

    directory_services.user_suspend(actor=alice, user=kept)
    directory_services.user_delete(actor=alice, user=gone)
    services.user_unbind(actor=alice, user=parted)
    sync(tenant)
    reasons = {
        e.target_label: e.details.get("reason")
        for e in Event.objects.filter(type="user_deprovision")
    }
    assert reasons == {kept.email: "suspended", gone.email: "deleted", parted.email: "unbound"}

    directory_services.user_activate(actor=alice, user=kept)
    sync(tenant)
    [unblock] = Event.objects.filter(type="user_reactivate_provision")
    assert unblock.details["reason"] == "reactivated"
