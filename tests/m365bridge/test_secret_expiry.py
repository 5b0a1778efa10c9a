"""The client secret's end date read from Microsoft (graphsim's application object,
over HTTPS with the real MSAL client): the alert fires from the date read, and again on
recovery; without Application.Read.All, or in a tenant that is not the app's home, the
operator's date applies and the tenant page says which one it shows."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from directory.models import SentEmail
from m365bridge import health, secret_expiry
from m365bridge.models import Tenant, TenantSyncAlert

from .provisioning import graph_log, log_mark

pytest_plugins = ["tests.m365bridge.provisioning"]


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _may_read(ms):
    ms["control"].grant(ms["id"], ms["client_id"], application_permissions=["Application.Read.All"])


def _page(client, alice, tenant) -> str:
    client.force_login(alice)
    return client.get(reverse("m365:tenant", args=[tenant.pk])).content.decode()


def test_the_end_date_read_from_microsoft_raises_the_alert_and_a_new_secret_ends_it(
    client, acme, alice, ms, tenant, settings
):
    settings.M365_CLIENT_SECRET_EXPIRES_AT = _iso(timezone.now() + timedelta(days=300))
    _may_read(ms)
    soon = timezone.now() + timedelta(days=6)
    ms["control"].set_secret_expiry(ms["id"], ms["client_id"], _iso(soon))
    mark = log_mark(ms)

    assert health.tenants_health_check() == {tenant.pk: "alerted"}
    assert health.tenants_health_check() == {}  # read once a day, told once

    reads = [r for r in graph_log(ms, mark) if "/applications" in r["path"]]
    assert [(r["method"], r["status"]) for r in reads] == [("GET", 200)]
    alert = TenantSyncAlert.objects.get(tenant=tenant)
    assert alert.kind == "secret_expiring"
    assert soon.strftime("%Y-%m-%d") in alert.message and "read from Microsoft" in alert.message
    assert settings.M365_CLIENT_SECRET not in alert.message
    assert SentEmail.objects.filter(kind="m365_sync_alert", to=alice.email).count() == 1
    assert Event.objects.filter(type="m365_sync_alert").count() == 1
    page = _page(client, alice, tenant)
    assert 'id="sync-alert-banner"' in page
    assert "expiry read from Microsoft" in page and soon.strftime("%b %-d, %Y") in page

    later = timezone.now() + timedelta(days=400)  # the operator added a new secret
    ms["control"].set_secret_expiry(ms["id"], ms["client_id"], _iso(later))
    Tenant.objects.filter(pk=tenant.pk).update(
        secret_checked_at=timezone.now() - timedelta(hours=25)
    )
    assert health.tenants_health_check() == {tenant.pk: "recovered"}
    assert SentEmail.objects.filter(kind="m365_sync_alert").count() == 2
    assert Event.objects.filter(type="m365_sync_recovered").count() == 1
    assert Tenant.objects.get(pk=tenant.pk).secret_expires_at.date() == later.date()


def test_the_secret_in_use_is_the_one_whose_hint_matches(ms, tenant, settings):
    _may_read(ms)
    ours = timezone.now() + timedelta(days=200)
    ms["control"].set_secret_expiry(ms["id"], ms["client_id"], _iso(ours))
    app = ms["control"].get_app(ms["client_id"])
    other = {
        "keyId": "6f1b2c3d-0000-4000-8000-000000000001",
        "displayName": "old secret",
        "hint": "zz~",
        "startDateTime": _iso(timezone.now() - timedelta(days=700)),
        "endDateTime": _iso(timezone.now() + timedelta(days=3)),
    }
    ms["control"].update_app(
        ms["client_id"], passwordCredentials=[*app["passwordCredentials"], other]
    )
    try:
        read = secret_expiry.secret_expiry_read(tenant=tenant)
    finally:  # the app is shared by the session's tests
        ms["control"].update_app(ms["client_id"], passwordCredentials=app["passwordCredentials"])

    assert read.source == "microsoft" and read.expires_at.date() == ours.date()
    assert health.tenant_health_check(tenant=tenant) == ""  # the other secret is not ours


def test_without_application_read_all_the_operators_date_applies_and_the_page_says_so(
    client, acme, alice, ms, tenant, settings
):
    ms["control"].set_secret_expiry(
        ms["id"], ms["client_id"], _iso(timezone.now() + timedelta(days=300))
    )
    entered = timezone.now() + timedelta(days=4)
    settings.M365_CLIENT_SECRET_EXPIRES_AT = entered.date().isoformat()

    assert health.tenants_health_check() == {tenant.pk: "alerted"}

    row = Tenant.objects.get(pk=tenant.pk)
    assert row.secret_expires_at is None and "Application.Read.All" in row.secret_unreadable
    alert = TenantSyncAlert.objects.get(tenant=tenant)
    assert "M365_CLIENT_SECRET_EXPIRES_AT" in alert.message
    assert entered.strftime("%Y-%m-%d") in alert.message
    page = _page(client, alice, tenant)
    assert "entered by you" in page and "grant Application.Read.All" in page


def test_in_a_tenant_that_is_not_the_apps_home_nothing_can_be_read(ms, tenant, settings):
    _may_read(ms)
    ms["control"].update_app(ms["client_id"], homeTenantId="another-tenant")
    settings.M365_CLIENT_SECRET_EXPIRES_AT = ""

    read = secret_expiry.secret_expiry_read(tenant=tenant)

    assert read.source == "operator" and read.expires_at is None
    assert "not in this tenant" in read.note
    assert health.tenant_health_check(tenant=tenant) == ""


def test_microsoft_busy_keeps_what_was_known_and_tries_again_within_the_hour(ms, tenant):
    _may_read(ms)
    known = timezone.now() + timedelta(days=90)
    ms["control"].set_secret_expiry(ms["id"], ms["client_id"], _iso(known))
    secret_expiry.secret_expiry_read(tenant=tenant)
    ms["control"].set_faults(ms["id"], error_rate=1.0, error_statuses=[503])
    Tenant.objects.filter(pk=tenant.pk).update(secret_checked_at=None)
    tenant.refresh_from_db()
    try:
        read = secret_expiry.secret_expiry_read(tenant=tenant)
    finally:
        ms["control"].clear_faults(ms["id"])

    assert read.source == "microsoft" and read.expires_at.date() == known.date()
    tenant.refresh_from_db()
    assert not secret_expiry.secret_read_due(tenant)
    tenant.secret_checked_at -= timedelta(minutes=61)
    assert secret_expiry.secret_read_due(tenant)
