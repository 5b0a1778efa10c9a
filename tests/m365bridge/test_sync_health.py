"""Told when sync stops: Microsoft failing a tenant's changes (graphsim answering 503)
for longer than the threshold, or Stratus's client secret about to expire, gives the
tenant a banner, an event and one email to its owners; recovering, another of each."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from directory.models import SentEmail
from m365bridge import health, secret_expiry, services
from m365bridge.capabilities import APPLICATION_PERMISSIONS
from m365bridge.models import Tenant, TenantSyncAlert, UserBinding

from .provisioning import employee, sync

pytest_plugins = ["tests.m365bridge.provisioning"]


def test_owners_are_told_once_when_sync_fails_too_long_and_again_when_it_recovers(
    client, acme, alice, ms, tenant, settings
):
    settings.M365_SYNC_ALERT_MINUTES = 30
    user = employee(acme, alice, ms, "ivy")
    ms["control"].set_faults(ms["id"], error_rate=1.0, error_statuses=[503])
    services.user_bind(actor=alice, tenant=tenant, user=user)
    sync(tenant)
    binding = UserBinding.objects.get(user=user)
    assert binding.needs_sync and binding.attempts > 0
    assert health.tenant_health_check(tenant=tenant) == ""  # failing, but not for long yet

    UserBinding.objects.update(dirty_since=timezone.now() - timedelta(minutes=45))
    assert health.tenants_health_check() == {tenant.pk: "alerted"}
    assert health.tenants_health_check() == {}  # still failing: nobody is told twice

    alert = TenantSyncAlert.objects.get(tenant=tenant)
    assert alert.kind == "failing" and "45 minutes" in alert.message
    [email] = SentEmail.objects.filter(kind="m365_sync_alert")
    assert email.to == alice.email
    assert Event.objects.filter(type="m365_sync_alert", outcome="failure").count() == 1
    client.force_login(alice)
    page = client.get(reverse("m365:tenant", args=[tenant.pk])).content.decode()
    assert 'id="sync-alert-banner"' in page and "45 minutes" in page

    ms["control"].clear_faults(ms["id"])
    UserBinding.objects.update(next_attempt_at=None)
    sync(tenant)
    assert not UserBinding.objects.get(user=user).needs_sync
    assert health.tenants_health_check() == {tenant.pk: "recovered"}

    assert not TenantSyncAlert.objects.exists()
    assert SentEmail.objects.filter(kind="m365_sync_alert").count() == 2
    assert Event.objects.filter(type="m365_sync_recovered").count() == 1
    page = client.get(reverse("m365:tenant", args=[tenant.pk])).content.decode()
    assert 'id="sync-alert-banner"' not in page


def test_a_client_secret_about_to_expire_is_an_alert(acme, alice, tenant, settings):
    settings.M365_CLIENT_SECRET_EXPIRES_AT = (
        (timezone.now() + timedelta(days=60)).date().isoformat()
    )
    assert health.tenant_health_check(tenant=tenant) == ""
    soon = timezone.now() + timedelta(days=5)
    settings.M365_CLIENT_SECRET_EXPIRES_AT = soon.date().isoformat()

    assert health.tenant_health_check(tenant=tenant) == "alerted"
    alert = TenantSyncAlert.objects.get(tenant=tenant)
    assert alert.kind == "secret_expiring" and soon.strftime("%Y-%m-%d") in alert.message
    assert SentEmail.objects.filter(kind="m365_sync_alert", to=alice.email).count() == 1
    assert settings.M365_CLIENT_SECRET not in alert.message  # the date, never the secret


def test_a_bad_secret_expiry_date_is_logged_and_ignored(tenant, settings, caplog):
    settings.M365_CLIENT_SECRET_EXPIRES_AT = "next tuesday"
    assert secret_expiry.operator_expires_at() is None
    assert "M365_CLIENT_SECRET_EXPIRES_AT" in caplog.text
    assert health.tenant_health_check(tenant=tenant) == ""


def _refusing_creates(ms):
    """Stratus may no longer create accounts in the tenant: Microsoft refuses with 403
    (from the next token on)."""
    Tenant.objects.update(token_cache_encrypted="")
    ms["control"].grant(
        ms["id"],
        ms["client_id"],
        application_permissions=[p for p in APPLICATION_PERMISSIONS if p != "User.Create"],
        directory_roles=["User Administrator"],
        replace=True,
    )


def test_too_many_refused_changes_is_one_alert_and_one_recovery(
    client, acme, alice, ms, tenant, settings, monkeypatch
):
    settings.M365_ERROR_RATE_PERCENT, settings.M365_ERROR_RATE_MIN_CHANGES = 20, 10
    staff = [employee(acme, alice, ms, f"old{i}") for i in range(3)]
    services.users_bind(actor=alice, tenant=tenant, users=staff)
    sync(tenant)  # three accounts created
    _refusing_creates(ms)
    refused = [employee(acme, alice, ms, f"new{i}") for i in range(12)]
    services.users_bind(actor=alice, tenant=tenant, users=refused)
    sync(tenant)
    assert health.error_rate(tenant) == (12, 15)

    assert health.tenants_health_check() == {tenant.pk: "alerted"}
    assert health.tenants_health_check() == {}  # still refusing: told once

    alert = TenantSyncAlert.objects.get(tenant=tenant)
    assert alert.kind == "error_rate"
    assert "refused 12 of the last 15 changes" in alert.message and "80 %" in alert.message
    assert SentEmail.objects.filter(kind="m365_sync_alert", to=alice.email).count() == 1
    [event] = Event.objects.filter(type="m365_sync_alert")
    assert event.details["kind"] == "error_rate"
    client.force_login(alice)
    page = client.get(reverse("m365:tenant", args=[tenant.pk])).content.decode()
    assert 'id="sync-alert-banner"' in page and "refused 12 of the last 15" in page

    later = timezone.now() + timedelta(minutes=16)  # a quiet quarter of an hour on
    monkeypatch.setattr(health.timezone, "now", lambda: later)
    assert health.tenants_health_check() == {tenant.pk: "recovered"}
    assert SentEmail.objects.filter(kind="m365_sync_alert").count() == 2
    assert Event.objects.get(type="m365_sync_recovered").details["kind"] == "error_rate"


def test_a_few_refusals_below_the_minimum_or_the_rate_are_no_alert(
    acme, alice, ms, tenant, settings
):
    settings.M365_ERROR_RATE_PERCENT, settings.M365_ERROR_RATE_MIN_CHANGES = 20, 10
    _refusing_creates(ms)
    services.users_bind(
        actor=alice, tenant=tenant, users=[employee(acme, alice, ms, f"n{i}") for i in range(3)]
    )
    sync(tenant)
    assert health.error_rate(tenant) == (3, 3)
    assert health.tenant_health_check(tenant=tenant) == ""  # 3 changes: too few to judge

    settings.M365_ERROR_RATE_MIN_CHANGES = 3
    settings.M365_ERROR_RATE_PERCENT = 100
    assert health.tenant_health_check(tenant=tenant) == ""  # 100 % is not more than 100 %
    settings.M365_ERROR_RATE_PERCENT = 99
    assert health.tenant_health_check(tenant=tenant) == "alerted"
