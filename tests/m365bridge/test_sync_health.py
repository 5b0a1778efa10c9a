"""Told when sync stops: Microsoft failing a tenant's changes (graphsim answering 503)
for longer than the threshold, or Stratus's client secret about to expire, gives the
tenant a banner, an event and one email to its owners; recovering, another of each."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from directory.models import SentEmail
from m365bridge import health, services
from m365bridge.models import TenantSyncAlert, UserBinding

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
    assert health.secret_expires_at() is None
    assert "M365_CLIENT_SECRET_EXPIRES_AT" in caplog.text
    assert health.tenant_health_check(tenant=tenant) == ""
