"""Accounts deleted in Microsoft 365, against graphsim over HTTPS (P7): Stratus restores
its own object from the deleted items (same id) and brings it up to date; an account
gone for good is created again; while another deleted object holds the address the
binding waits, with the reason, at growing intervals for up to 30 days, then errors.
The admin sees which of these happened on the user's page and in the events."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from directory import services as directory_services
from m365bridge import services
from m365bridge.models import UserBinding
from m365bridge.sync import reconcile, restore

from .provisioning import (
    EMPLOYEE_PASSWORD,
    account,
    can_sign_in,
    employee,
    graph_log,
    log_mark,
    sync,
)

pytest_plugins = ["tests.m365bridge.provisioning"]  # its fixtures: ms, tenant, queued, ...


def provisioned(acme, alice, ms, tenant, name):
    user = employee(acme, alice, ms, name, job_title="Engineer")
    services.user_bind(actor=alice, tenant=tenant, user=user)
    directory_services.user_set_password(actor=alice, user=user, password=EMPLOYEE_PASSWORD)
    sync(tenant)
    return user, UserBinding.objects.get(user=user)


def creates():
    return list(Event.objects.filter(type="user_create_provision").order_by("pk"))


def test_an_account_deleted_in_microsoft_is_restored_with_the_same_id_and_brought_up_to_date(
    acme, alice, ms, tenant, client
):
    ann, binding = provisioned(acme, alice, ms, tenant, "ann")
    original_id = binding.microsoft_id
    ms["control"].admin_delete_user(ms["id"], ann.email)  # soft: in the deleted items
    directory_services.user_update(actor=alice, user=ann, job_title="Lead")
    mark = log_mark(ms)

    sync(tenant)  # the PATCH answers 404; the same round restores and updates

    writes = [(r["method"], r["path"], r["status"]) for r in graph_log(ms, mark)]
    assert writes == [
        ("PATCH", f"/v1.0/users/{original_id}", 404),
        ("POST", f"/v1.0/directory/deletedItems/{original_id}/restore", 200),
        ("PATCH", f"/v1.0/users/{original_id}", 204),
    ]
    remote = account(ms, ann.email)
    assert remote["id"] == original_id and remote["jobTitle"] == "Lead"
    assert remote["accountEnabled"] is True and can_sign_in(ms, ann.email, EMPLOYEE_PASSWORD)
    binding.refresh_from_db()
    assert binding.state == "provisioned" and binding.microsoft_id == original_id
    assert binding.drift == {} and not binding.needs_sync
    assert "restored it from the deleted items" in binding.lifecycle_note
    restored = creates()[-1]
    assert restored.details["restored"] is True and restored.details["microsoft_id"] == original_id
    assert restored.actor == alice and restored.outcome == "success"
    client.force_login(alice)
    page = client.get(reverse("console:user_detail", args=[ann.pk])).content.decode()
    assert "restored it from the deleted items" in page


def test_a_reconcile_that_finds_an_account_deleted_restores_it(acme, alice, ms, tenant):
    ann, binding = provisioned(acme, alice, ms, tenant, "ann")
    reconcile.tenant_reconcile(tenant_id=tenant.pk)
    ms["control"].admin_delete_user(ms["id"], ann.email)

    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)
    sync(tenant)

    assert run.corrected == 1
    assert account(ms, ann.email)["id"] == binding.microsoft_id
    assert creates()[-1].details["restored"] is True
    assert UserBinding.objects.get(pk=binding.pk).state == "provisioned"


def test_an_account_deleted_for_good_is_created_again(acme, alice, ms, tenant, client):
    ann, binding = provisioned(acme, alice, ms, tenant, "ann")
    original_id = binding.microsoft_id
    ms["control"].admin_delete_user(ms["id"], ann.email, permanent=True)
    reconcile.tenant_reconcile(tenant_id=tenant.pk)  # a full read: ann is not listed

    sync(tenant)

    remote = account(ms, ann.email)
    assert remote["id"] != original_id and remote["jobTitle"] == "Engineer"
    assert can_sign_in(ms, ann.email, EMPLOYEE_PASSWORD)  # the retained password, again
    binding.refresh_from_db()
    assert binding.state == "provisioned" and binding.microsoft_id == remote["id"]
    assert binding.drift == {} and "created it again" in binding.lifecycle_note
    again = creates()[-1]
    assert again.details["recreated"] is True
    assert again.details["replaces_microsoft_id"] == original_id
    assert "restored" not in again.details
    client.force_login(alice)
    page = client.get(reverse("console:user_detail", args=[ann.pk])).content.decode()
    assert "created it again" in page


@pytest.fixture
def held(acme, alice, ms, tenant):
    """ann's account is gone for good and another deleted object holds her address."""
    ann, binding = provisioned(acme, alice, ms, tenant, "ann")
    ms["control"].admin_delete_user(ms["id"], ann.email, permanent=True)
    ms["control"].admin_create_user(
        ms["id"],
        ann.email,
        password="Ot4er-Passw0rd!",
        displayName="Someone else",
        mailNickname="ann",
    )
    ms["control"].admin_delete_user(ms["id"], ann.email)
    directory_services.user_update(actor=alice, user=ann, job_title="Lead")
    return ann, binding


def test_an_address_held_by_another_deleted_account_makes_the_binding_wait_with_the_reason(
    alice, ms, tenant, held, client
):
    ann, binding = held

    sync(tenant)

    binding.refresh_from_db()
    assert binding.state == "waiting" and binding.microsoft_id == ""
    assert binding.last_error_message.startswith(restore.WAIT_REASON)
    assert binding.last_error_code == restore.WAIT_CODE and binding.waiting_since
    first_wait = (binding.next_attempt_at - timezone.now()).total_seconds()
    assert 50 < first_wait < 70 and binding.needs_sync
    assert not Event.objects.filter(outcome="failure").exists()  # waiting is not a failure
    client.force_login(alice)
    for url in (
        reverse("console:user_detail", args=[ann.pk]),
        reverse("m365:tenant", args=[tenant.pk]),
    ):
        assert restore.WAIT_REASON in client.get(url).content.decode()

    UserBinding.objects.filter(pk=binding.pk).update(next_attempt_at=timezone.now())
    sync(tenant)  # still held: the next wait is longer

    binding.refresh_from_db()
    assert binding.state == "waiting"
    assert (binding.next_attempt_at - timezone.now()).total_seconds() > 100


def test_the_wait_ends_once_microsoft_frees_the_address(ms, tenant, held):
    ann, binding = held
    sync(tenant)
    deleted = [
        u
        for u in ms["control"].users(ms["id"], deleted=True)
        if u["userPrincipalName"] == ann.email
    ]
    ms["control"].admin_delete_user(ms["id"], deleted[0]["id"], permanent=True)
    UserBinding.objects.filter(pk=binding.pk).update(next_attempt_at=timezone.now())

    sync(tenant)

    binding.refresh_from_db()
    assert binding.state == "provisioned" and binding.waiting_since is None
    assert binding.last_error_message == ""
    assert account(ms, ann.email)["jobTitle"] == "Lead"


def test_after_30_days_of_waiting_the_binding_is_in_error(ms, tenant, held):
    ann, binding = held
    sync(tenant)
    UserBinding.objects.filter(pk=binding.pk).update(
        next_attempt_at=timezone.now(), waiting_since=timezone.now() - timedelta(days=30, hours=1)
    )

    sync(tenant)

    binding.refresh_from_db()
    assert binding.state == "error" and not binding.needs_sync
    assert "for 30 days; Stratus stopped retrying" in binding.last_error_message
    failure = Event.objects.get(type="user_create_provision", outcome="failure")
    assert failure.details["code"] == restore.WAIT_CODE
