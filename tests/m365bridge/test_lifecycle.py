"""C4 and re-authorization: deauthorizing writes nothing to Microsoft; a refresh token
that stops working pauses the tenant until an admin re-authorizes it."""

import pytest
from django.core import mail
from django.urls import reverse

from audit.models import Event
from directory import services as directory_services
from directory.models import User
from m365bridge import selectors, services
from m365bridge.graph import NeedsReauthorization
from m365bridge.models import GroupBinding, Tenant, UserBinding
from m365bridge.tenants import tenant_graph_session

from .conftest import connect_tenant, sign_in_at_microsoft, tenant_pk_from
from .factories import GroupBindingFactory, UserBindingFactory


@pytest.fixture
def admin_client(client, alice):
    client.force_login(alice)
    return client


def bind_users(acme, alice, tenant, ms_tenant, count=3):
    """Bindings as the provisioning issue will make them: one per user on the tenant's
    domain, found through tenant_for_email."""
    remote = [
        u for u in ms_tenant_users(ms_tenant) if not u["userPrincipalName"].startswith("admin@")
    ][:count]
    for index, account in enumerate(remote):
        user = directory_services.user_create(
            actor=alice,
            organization=acme,
            email=f"user{index}@{ms_tenant['domain']}",
            password="Correct-Horse-42",
        )
        assert selectors.tenant_for_email(organization=acme, email=user.email) == tenant
        UserBindingFactory(tenant=tenant, user=user, microsoft_id=account["id"])
    group = directory_services.group_create(actor=alice, organization=acme, name="Sales")
    GroupBindingFactory(tenant=tenant, group=group)
    return len(remote) + 1


def ms_tenant_users(ms_tenant):
    return ms_tenant["control"].users(ms_tenant["id"])


@pytest.fixture
def connected(admin_client, m365, ms_tenant):
    ms_tenant["control"] = m365.control
    response = connect_tenant(admin_client, m365, ms_tenant, mode="delegated")
    return Tenant.objects.get(pk=tenant_pk_from(response))


def test_deauthorizing_unbinds_everything_and_writes_nothing_to_microsoft(
    admin_client, acme, alice, m365, ms_tenant, connected
):
    bound = bind_users(acme, alice, connected, ms_tenant)
    # graphsim generates a few disabled users on purpose: compare, don't assume all enabled.
    enabled_before = {u["id"]: u["accountEnabled"] for u in m365.control.users(ms_tenant["id"])}
    log_before = m365.control.request_log(ms_tenant["id"], limit=100000)
    since = log_before[-1]["id"] if log_before else 0

    response = admin_client.post(f"/api/v1/m365/tenants/{connected.pk}/deauthorize")

    assert response.status_code == 200
    assert response.json()["status"] == "deauthorized"
    assert m365.control.request_log(ms_tenant["id"], since=since) == []
    enabled_after = {u["id"]: u["accountEnabled"] for u in m365.control.users(ms_tenant["id"])}
    assert enabled_after == enabled_before
    connected.refresh_from_db()
    assert connected.status == "deauthorized" and connected.token_cache_encrypted == ""
    assert not UserBinding.objects.filter(tenant=connected).exists()
    assert not GroupBinding.objects.filter(tenant=connected).exists()
    assert all(u.status == User.ACTIVE for u in User.objects.filter(organization=acme))
    event = Event.objects.get(type="tenant_deauthorize")
    assert event.actor == alice and event.details["bindings_removed"] == bound


def test_a_deauthorized_tenant_can_be_connected_again_and_users_must_be_bound_again(
    admin_client, acme, alice, m365, ms_tenant, connected
):
    bind_users(acme, alice, connected, ms_tenant, count=1)
    services.tenant_deauthorize(actor=alice, tenant=connected)
    response = connect_tenant(admin_client, m365, ms_tenant, mode="delegated")
    assert tenant_pk_from(response) == connected.pk
    connected.refresh_from_db()
    assert connected.status == "connected"
    assert not UserBinding.objects.filter(tenant=connected).exists()
    assert Event.objects.filter(type="tenant_connect", details__reconnected=True).exists()


def test_a_revoked_refresh_token_asks_for_reauthorization_and_reauthorizing_resumes(
    admin_client, acme, alice, m365, ms_tenant, connected, django_capture_on_commit_callbacks
):
    bound = bind_users(acme, alice, connected, ms_tenant, count=2)
    # The authorizing admin's sessions are revoked in Microsoft 365 (as on a password change).
    m365.control.admin_revoke_sessions(ms_tenant["id"], ms_tenant["admin"])

    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_refresh(tenant=connected)
        services.tenant_refresh(tenant=connected)  # a second failure sends no second email

    connected.refresh_from_db()
    assert connected.status == "needs_reauthorization" and not connected.can_sync
    assert "AADSTS" in connected.last_error
    assert (
        UserBinding.objects.filter(tenant=connected).count()
        + GroupBinding.objects.filter(tenant=connected).count()
        == bound
    )
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {"alice@acme.example"}
    assert "re-authorize" in mail.outbox[0].body.lower()
    assert f"http://testserver/console/m365/{connected.pk}/" in mail.outbox[0].body
    assert Event.objects.filter(type="tenant_needs_reauthorization").count() == 1

    page = admin_client.get(reverse("m365:tenant", args=[connected.pk]))
    assert b'id="reauthorize-banner"' in page.content
    assert reverse("m365:reauthorize", args=[connected.pk]).encode() in page.content

    started = admin_client.post(reverse("m365:reauthorize", args=[connected.pk]))
    assert started.status_code == 302 and ms_tenant["id"] in started["Location"]
    params = sign_in_at_microsoft(
        m365, started["Location"], login=ms_tenant["admin"], password=ms_tenant["password"]
    )
    response = admin_client.get("/console/m365/callback/", params)
    assert tenant_pk_from(response) == connected.pk
    connected.refresh_from_db()
    assert connected.status == "connected" and connected.last_error == ""
    assert (
        UserBinding.objects.filter(tenant=connected).count()
        + GroupBinding.objects.filter(tenant=connected).count()
        == bound
    )
    assert services.tenant_refresh(tenant=connected).status == "connected"
    assert Event.objects.filter(type="tenant_reauthorize", actor=alice).exists()


def test_reauthorizing_sends_the_admin_to_that_tenants_own_sign_in(
    admin_client, m365, ms_tenant, connected
):
    other = m365.control.create_tenant(
        display_name="Other", domains=["other-" + ms_tenant["domain"]]
    )
    upn, admin = next(iter(other["admins"].items()))
    Tenant.objects.filter(pk=connected.pk).update(status="needs_reauthorization")
    started = admin_client.post(reverse("m365:reauthorize", args=[connected.pk]))
    assert started["Location"].startswith(f"{m365.base_url}/{ms_tenant['id']}/")
    with pytest.raises(AssertionError, match="AADSTS"):  # Microsoft refuses the stranger
        sign_in_at_microsoft(m365, started["Location"], login=upn, password=admin["password"])
    connected.refresh_from_db()
    assert connected.status == "needs_reauthorization"


def test_the_api_starts_a_reauthorization_with_a_console_link(admin_client, connected):
    response = admin_client.post(f"/api/v1/m365/tenants/{connected.pk}/reauthorize")
    assert response.status_code == 202
    assert response.json()["reauthorize_url"].endswith(f"/console/m365/{connected.pk}/reauthorize/")


def test_work_through_a_tenant_session_pauses_the_tenant_when_the_admin_is_blocked(
    m365, ms_tenant, connected
):
    m365.control.admin_block(ms_tenant["id"], ms_tenant["admin"])
    with pytest.raises(NeedsReauthorization):
        with tenant_graph_session(tenant=connected) as graph:
            graph.tokens.token(force_refresh=True)  # what an expired access token forces
    connected.refresh_from_db()
    assert connected.status == "needs_reauthorization"


def test_withdrawn_admin_consent_pauses_an_application_mode_tenant(
    client, alice, m365, ms_tenant, stratus_app
):
    client.force_login(alice)
    tenant = Tenant.objects.get(
        pk=tenant_pk_from(connect_tenant(client, m365, ms_tenant, mode="application"))
    )
    m365.control.revoke_grant(ms_tenant["id"], stratus_app["clientId"])
    assert services.tenant_refresh(tenant=tenant).status == "needs_reauthorization"


def token_requests(m365, tenant_id, since):
    return [
        row
        for row in m365.control.request_log(tenant_id, since=since, limit=100000)
        if row["path"].endswith("/oauth2/v2.0/token")
    ]


def test_restoring_admin_consent_right_after_it_was_withdrawn_reconnects_the_tenant(
    client, alice, m365, ms_tenant, stratus_app
):
    """MSAL keeps a 400 token reply for 60 s in its HTTP cache; the token request made
    after the admin consents again must reach Microsoft, not that stale copy."""
    client.force_login(alice)
    tenant = Tenant.objects.get(
        pk=tenant_pk_from(connect_tenant(client, m365, ms_tenant, mode="application"))
    )
    m365.control.revoke_grant(ms_tenant["id"], stratus_app["clientId"])
    assert services.tenant_refresh(tenant=tenant).status == "needs_reauthorization"
    mark = m365.control.request_log(ms_tenant["id"], limit=100000)[-1]["id"]

    started = client.post(reverse("m365:reauthorize", args=[tenant.pk]))
    params = sign_in_at_microsoft(
        m365, started["Location"], login=ms_tenant["admin"], password=ms_tenant["password"]
    )
    response = client.get("/console/m365/callback/", params)

    assert tenant_pk_from(response) == tenant.pk
    tenant.refresh_from_db()
    assert tenant.status == "connected" and tenant.last_error == ""
    assert [row["status"] for row in token_requests(m365, ms_tenant["id"], mark)] == [200]
    assert services.tenant_refresh(tenant=tenant).status == "connected"
