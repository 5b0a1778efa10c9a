"""C1, C2, C5: connecting tenants through Microsoft's sign-in (graphsim over HTTPS)."""

import json

import pytest
from django.urls import reverse

from audit.models import Event
from directory import encryption
from m365bridge.graph.tenant import tenant_graph
from m365bridge.models import Tenant

from .conftest import connect_tenant, sign_in_at_microsoft, tenant_pk_from, unique_domain


@pytest.fixture
def admin_client(client, alice):
    client.force_login(alice)
    return client


def test_delegated_mode_connects_through_the_sign_in_page_and_records_who(
    admin_client, alice, m365, ms_tenant
):
    response = connect_tenant(admin_client, m365, ms_tenant, mode="delegated")
    assert response.status_code == 302, response.content[:800]
    tenant = Tenant.objects.get(pk=tenant_pk_from(response))
    assert tenant.microsoft_tenant_id == ms_tenant["id"]
    assert tenant.mode == "delegated" and tenant.status == "connected"
    assert tenant.connected_by == alice
    assert tenant.authorized_by_upn == ms_tenant["admin"]
    assert ms_tenant["domain"] in tenant.domain_names
    assert tenant.initial_domain.endswith(".onmicrosoft.com")
    # The cache is stored encrypted and holds the refresh token of the signed-in admin.
    assert tenant.token_cache_encrypted and "RefreshToken" not in tenant.token_cache_encrypted
    assert "RefreshToken" in encryption.decrypt(tenant.token_cache_encrypted)
    assert "User.ReadWrite.All" in tenant.granted_permissions
    event = Event.objects.get(type="tenant_connect", outcome="success")
    assert event.actor == alice and event.tenant_ref == ms_tenant["id"]
    assert event.details["authorized_by"] == ms_tenant["admin"]

    page = admin_client.get(reverse("m365:tenant", args=[tenant.pk]))
    assert page.status_code == 200
    assert ms_tenant["domain"].encode() in page.content
    assert ms_tenant["admin"].encode() in page.content
    assert b"Permission check" in page.content


def test_application_mode_connects_through_admin_consent_and_uses_app_only_tokens(
    admin_client, m365, ms_tenant
):
    response = connect_tenant(admin_client, m365, ms_tenant, mode="application")
    assert response.status_code == 302, response.content[:800]
    tenant = Tenant.objects.get(pk=tenant_pk_from(response))
    assert tenant.mode == "application" and tenant.status == "connected"
    assert "Organization.Read.All" in tenant.granted_permissions
    cache = json.loads(encryption.decrypt(tenant.token_cache_encrypted))
    assert cache["AccessToken"] and not cache.get("RefreshToken")
    # Graph calls now work with app-only tokens built from the stored cache.

    me = tenant_graph(tenant=tenant, budget=False).get("organization")
    assert me["value"][0]["id"] == ms_tenant["id"]


def test_the_permission_check_reports_a_missing_permission_and_role(
    admin_client, m365, ms_tenant, stratus_app
):
    response = connect_tenant(admin_client, m365, ms_tenant, mode="application")
    tenant_pk = tenant_pk_from(response)
    # An admin in Entra removes the group permissions from Stratus's consent.
    m365.control.grant(
        ms_tenant["id"],
        stratus_app["clientId"],
        replace=True,
        application_permissions=[
            "Organization.Read.All",
            "Domain.Read.All",
            "User.Read.All",
            "User.ReadWrite.All",
        ],
    )
    admin_client.post(reverse("m365:check", args=[tenant_pk]))
    api = admin_client.get(f"/api/v1/m365/tenants/{tenant_pk}").json()
    features = {f["key"]: f for f in api["permission_check"]["features"]}
    assert not features["groups"]["allowed"]
    assert any("Group.Create" in m for m in features["groups"]["missing"])
    # Passwords need a directory role on the app, which consent never gives.
    assert not features["passwords"]["allowed"]
    assert any("User Administrator" in m for m in features["passwords"]["missing"])
    assert features["update_users"]["allowed"]
    page = admin_client.get(reverse("m365:tenant", args=[tenant_pk]))
    assert b"Group.Create" in page.content


def test_a_tenant_already_connected_in_another_organization_is_refused(
    admin_client, client, charlie, m365, ms_tenant
):
    assert connect_tenant(admin_client, m365, ms_tenant).status_code == 302
    client.force_login(charlie)
    response = connect_tenant(client, m365, ms_tenant)
    assert response.status_code == 400
    assert b"already connected to Stratus" in response.content
    assert Tenant.objects.filter(microsoft_tenant_id=ms_tenant["id"]).count() == 1
    failure = Event.objects.get(type="tenant_connect", outcome="failure")
    assert failure.details["code"] == "tenant_taken" and failure.actor == charlie


def test_a_tenant_with_an_already_connected_verified_domain_is_refused(
    admin_client, client, charlie, m365, ms_tenant
):
    assert connect_tenant(admin_client, m365, ms_tenant).status_code == 302
    # Microsoft verifies a domain in one tenant at a time; it moves when the first tenant
    # is deleted, while Stratus still holds that tenant's connection.
    m365.control.delete_tenant(ms_tenant["id"])
    other = m365.control.create_tenant(
        display_name="Copycat", domains=[unique_domain("copycat"), ms_tenant["domain"]]
    )
    upn, admin = next(iter(other["admins"].items()))
    client.force_login(charlie)
    response = connect_tenant(client, m365, {"admin": upn, "password": admin["password"]})
    assert response.status_code == 400
    assert ms_tenant["domain"].encode() in response.content
    assert b"already connected to Stratus through another Microsoft 365 tenant" in response.content
    assert not Tenant.objects.filter(microsoft_tenant_id=other["id"]).exists()


def test_a_godaddy_federated_tenant_is_refused_with_the_reason(admin_client, m365):
    domain = unique_domain("shop")
    created = m365.control.create_tenant(
        display_name="Shop", domains=[{"name": domain, "federated": True}]
    )
    upn, admin = next(iter(created["admins"].items()))
    response = connect_tenant(admin_client, m365, {"admin": upn, "password": admin["password"]})
    assert response.status_code == 400
    assert b"Stratus cannot manage this tenant" in response.content
    assert b"GoDaddy" in response.content and domain.encode() in response.content
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("mode", ["delegated", "application"])
def test_microsofts_refusal_is_shown_in_plain_words(admin_client, m365, ms_tenant, mode):
    response = connect_tenant(admin_client, m365, ms_tenant, mode=mode, consent="cancel")
    assert response.status_code == 400
    assert b"was cancelled, or" in response.content
    assert not Tenant.objects.exists()


def test_a_callback_with_a_state_from_another_session_is_refused(
    admin_client, client, charlie, m365, ms_tenant
):
    started = admin_client.post("/console/m365/connect/", {"mode": "delegated"})
    params = sign_in_at_microsoft(
        m365, started["Location"], login=ms_tenant["admin"], password=ms_tenant["password"]
    )
    client.force_login(charlie)  # another admin's session replays the redirect
    response = client.get("/console/m365/callback/", params)
    assert response.status_code == 400
    assert b"does not belong to your session" in response.content
    assert not Tenant.objects.exists()
