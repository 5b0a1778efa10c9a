"""Password expiry against graphsim over HTTPS (P6): a Stratus password past the
organization's maximum age blocks the Microsoft 365 account (`user_deprovision`, reason
`password_expired`), found by the scheduled run or at portal sign-in; a reconcile does
not undo the block; a new password unblocks the account and is pushed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from directory import lifecycle
from directory import services as directory_services
from directory.models import User
from m365bridge import services
from m365bridge.models import UserBinding
from m365bridge.sync import reconcile

from .provisioning import EMPLOYEE_PASSWORD, account, can_sign_in, employee, sync

pytest_plugins = ["tests.m365bridge.provisioning"]  # its fixtures: ms, tenant, queued, ...

NEW_PASSWORD = "Hv6$kPw3-Qm8tZr"


@pytest.fixture
def aged(acme, alice, ms, tenant):
    """A provisioned employee whose password was set 31 days ago, under a 30-day policy."""
    acme.password_max_age_days = 30
    acme.save()
    sol = employee(acme, alice, ms, "sol")
    services.user_bind(actor=alice, tenant=tenant, user=sol)
    directory_services.user_set_password(actor=alice, user=sol, password=EMPLOYEE_PASSWORD)
    sync(tenant)
    User.objects.filter(pk=sol.pk).update(password_changed_at=timezone.now() - timedelta(days=31))
    sol.refresh_from_db()
    return sol


def test_an_expired_password_blocks_the_account_with_the_reason_in_the_event(ms, tenant, aged):
    assert lifecycle.expiry_run()["expired"] == 1

    sync(tenant)

    assert account(ms, aged.email)["accountEnabled"] is False
    assert not can_sign_in(ms, aged.email, EMPLOYEE_PASSWORD)
    binding = UserBinding.objects.get(user=aged)
    assert binding.state == "blocked" and binding.known_enabled is False
    event = Event.objects.get(type="user_deprovision")
    assert event.details["reason"] == "password_expired" and event.actor is None
    assert event.details["account_enabled"] is False


def test_a_reconcile_keeps_an_expired_users_account_blocked(ms, tenant, aged, settings):
    settings.M365_PASSWORD_DRIFT_GRACE_SECONDS = 0
    lifecycle.expiry_run()
    sync(tenant)
    reconcile.tenant_reconcile(tenant_id=tenant.pk)  # baseline: every user read
    ms["control"].admin_update_user(ms["id"], aged.email, accountEnabled=True)  # a Microsoft admin

    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)
    sync(tenant)

    assert run.corrected == 1
    assert account(ms, aged.email)["accountEnabled"] is False
    blocks = Event.objects.filter(type="user_deprovision").order_by("pk")
    assert [e.details.get("reason") for e in blocks] == ["password_expired", "drift"]
    assert blocks.last().details["password_expired"] is True


def test_a_new_password_unblocks_the_account_and_is_pushed(ms, tenant, aged):
    lifecycle.expiry_run()
    sync(tenant)

    directory_services.user_set_password(
        actor=aged, user=aged, password=NEW_PASSWORD, source="portal"
    )
    sync(tenant)

    assert account(ms, aged.email)["accountEnabled"] is True
    assert can_sign_in(ms, aged.email, NEW_PASSWORD)
    assert not can_sign_in(ms, aged.email, EMPLOYEE_PASSWORD)
    assert UserBinding.objects.get(user=aged).state == "provisioned"
    assert Event.objects.filter(type="user_reactivate_provision").count() == 1
    assert Event.objects.filter(type="user_password_update_provision").count() == 1


def test_signing_in_to_the_portal_with_an_expired_password_blocks_the_account_at_once(
    client, ms, tenant, aged, queued, django_capture_on_commit_callbacks
):
    assert UserBinding.objects.get(user=aged).needs_sync is False

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/portal/sign-in/", {"email": aged.email, "password": EMPLOYEE_PASSWORD}
        )

    assert response.status_code == 302 and response["Location"] == "/portal/password/"
    assert queued == [tenant.pk]  # the bridge asked a worker at once
    assert Event.objects.filter(type="user_password_expire").count() == 1
    sync(tenant)
    assert account(ms, aged.email)["accountEnabled"] is False
    assert lifecycle.expiry_run()["expired"] == 0  # announced once


def test_a_password_within_its_age_is_not_expired_at_sign_in(client, acme, alice, ms, tenant):
    acme.password_max_age_days = 30
    acme.save()
    kim = employee(acme, alice, ms, "kim")
    directory_services.user_set_password(actor=alice, user=kim, password=EMPLOYEE_PASSWORD)

    client.post("/portal/sign-in/", {"email": kim.email, "password": EMPLOYEE_PASSWORD})

    kim.refresh_from_db()
    assert kim.password_expired_at is None
    assert not Event.objects.filter(type="user_password_expire").exists()
