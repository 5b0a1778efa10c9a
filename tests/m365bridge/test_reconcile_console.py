"""The reconcile in the console and the API: "Sync now" queues a reconcile, the tenant
page shows the sync history, the interval is set with a clear error; another
organization's admin gets 404 and a member gets no access."""

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from directory import services as directory_services
from m365bridge.models import Tenant
from m365bridge.sync import reconcile

from .factories import SyncRunFactory, tenant_row


@pytest.fixture
def acme_tenant(acme):
    return tenant_row(acme, "acme.onmicrosoft.com", "acme.example", name="Acme 365")


@pytest.fixture
def sent(monkeypatch):
    """Reconciles queued (tenant id, actor id); nothing reaches a broker."""
    calls = []
    monkeypatch.setattr(
        reconcile,
        "reconcile_send",
        lambda *, tenant_id, actor_id=None: calls.append((tenant_id, actor_id)),
    )
    return calls


@pytest.fixture
def alice_key(acme, alice):
    _, secret = directory_services.api_key_create(actor=alice, organization=acme, name="k")
    return secret


@pytest.fixture
def globex_key(globex, charlie):
    _, secret = directory_services.api_key_create(actor=charlie, organization=globex, name="k")
    return secret


def a_run(tenant, **fields):
    now = timezone.now()
    values = dict(
        kind="full",
        outcome="succeeded",
        started_at=now,
        ended_at=now + timezone.timedelta(seconds=2),
        read=50000,
        corrected=3,
        failed=1,
        requests=51,
        note=reconcile.LINK_EXPIRED,
    )
    values.update(fields)
    return SyncRunFactory(tenant=tenant, **values)


def test_sync_now_queues_a_reconcile_of_the_tenant_after_commit(
    client, alice, acme_tenant, sent, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("m365:sync", args=[acme_tenant.pk]))
    assert response.status_code == 302
    assert sent == [(acme_tenant.pk, alice.pk)]


def test_sync_now_on_a_tenant_needing_reauthorization_says_why_and_queues_nothing(
    client, alice, acme, sent, django_capture_on_commit_callbacks
):
    tenant = tenant_row(acme, "paused.example", status=Tenant.NEEDS_REAUTHORIZATION)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("m365:sync", args=[tenant.pk]), follow=True)
    assert sent == []
    assert b"re-authorize it before syncing" in response.content


def test_the_tenant_page_shows_the_sync_history_with_its_counts_and_notes(
    client, alice, acme_tenant
):
    a_run(acme_tenant)
    a_run(
        acme_tenant,
        outcome="skipped",
        note=reconcile.ALREADY_RUNNING,
        read=0,
        corrected=0,
        failed=0,
        requests=0,
        kind="delta",
    )
    client.force_login(alice)
    response = client.get(reverse("m365:tenant", args=[acme_tenant.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="sync-history"' in page and "Sync now" in page
    assert page.count('class="sync-run"') == 2
    assert "syncStateNotFound" in page and "Another reconcile of this tenant" in page
    assert "50000" in page and ">51<" in page


def test_the_interval_is_saved_with_an_event_and_a_bad_one_is_refused_naming_the_reason(
    client, alice, acme_tenant
):
    client.force_login(alice)
    client.post(reverse("m365:reconcile_interval", args=[acme_tenant.pk]), {"minutes": "30"})
    acme_tenant.refresh_from_db()
    assert acme_tenant.reconcile_interval_minutes == 30
    assert Event.objects.filter(
        type="m365_tenant_update", details__reconcile_interval_minutes=30
    ).exists()

    response = client.post(
        reverse("m365:reconcile_interval", args=[acme_tenant.pk]), {"minutes": "0"}, follow=True
    )
    acme_tenant.refresh_from_db()
    assert acme_tenant.reconcile_interval_minutes == 30
    assert b"from 1 to 1440" in response.content


def test_the_api_starts_a_sync_and_returns_the_history(
    client, alice, alice_key, acme_tenant, sent, django_capture_on_commit_callbacks
):
    a_run(acme_tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/m365/tenants/{acme_tenant.pk}/sync", HTTP_AUTHORIZATION=f"Bearer {alice_key}"
        )
    assert response.status_code == 202
    body = response.json()
    assert body["queued"] is True and body["reconcile_interval_minutes"] == 10
    [run] = body["runs"]
    assert (
        run["kind"],
        run["outcome"],
        run["read"],
        run["corrected"],
        run["failed"],
        run["requests"],
        run["seconds"],
    ) == ("full", "succeeded", 50000, 3, 1, 51, 2.0)
    assert sent == [(acme_tenant.pk, alice.pk)]
    history = client.get(
        f"/api/v1/m365/tenants/{acme_tenant.pk}/sync", HTTP_AUTHORIZATION=f"Bearer {alice_key}"
    )
    assert history.status_code == 200 and history.json()["queued"] is False


def test_the_api_refuses_a_sync_of_a_paused_tenant_with_its_code(client, acme, alice_key, sent):
    tenant = tenant_row(acme, "paused.example", status=Tenant.NEEDS_REAUTHORIZATION)
    response = client.post(
        f"/api/v1/m365/tenants/{tenant.pk}/sync", HTTP_AUTHORIZATION=f"Bearer {alice_key}"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tenant_not_connected"
    assert sent == []


@pytest.mark.parametrize("name", ["m365:sync", "m365:reconcile_interval"])
def test_charlie_gets_404_on_acmes_sync_actions(
    client, charlie, acme_tenant, sent, name, django_capture_on_commit_callbacks
):
    client.force_login(charlie)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(name, args=[acme_tenant.pk]), {"minutes": "5"})
    assert response.status_code == 404
    assert sent == []
    acme_tenant.refresh_from_db()
    assert acme_tenant.reconcile_interval_minutes == 10


@pytest.mark.parametrize("method", ["get", "post"])
def test_charlies_api_key_gets_404_on_acmes_sync_endpoint(
    client, globex_key, acme_tenant, sent, method
):
    a_run(acme_tenant)
    response = getattr(client, method)(
        f"/api/v1/m365/tenants/{acme_tenant.pk}/sync", HTTP_AUTHORIZATION=f"Bearer {globex_key}"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert sent == []


def test_bob_the_member_gets_no_access_to_sync(client, bob, acme_tenant, sent):
    client.force_login(bob)
    assert client.post(reverse("m365:sync", args=[acme_tenant.pk])).status_code == 403
    assert client.post(f"/api/v1/m365/tenants/{acme_tenant.pk}/sync").status_code == 403
    assert client.get(f"/api/v1/m365/tenants/{acme_tenant.pk}/sync").status_code == 403
    assert sent == []
