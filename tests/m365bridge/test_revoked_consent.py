"""A delegated tenant whose consent is removed in Microsoft 365: Stratus notices at the
next token refresh, holds the work, and sends it once an admin re-authorizes (issue 11
§3). graphsim refuses the refresh token as Entra does (AADSTS65001)."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from directory import encryption
from directory import services as directory_services
from m365bridge import services
from m365bridge.models import Tenant, UserBinding
from m365bridge.sync import runner

from .conftest import connect_tenant, sign_in_at_microsoft, tenant_pk_from

pytest_plugins = ["tests.m365bridge.provisioning"]


@pytest.fixture
def delegated(client, alice, m365, ms_tenant, queued):
    client.force_login(alice)
    response = connect_tenant(client, m365, ms_tenant, mode="delegated")
    return Tenant.objects.get(pk=tenant_pk_from(response))


def access_tokens_expired(tenant):
    """What an hour does to the stored MSAL cache: its access tokens are past their
    expiry, so the next call must redeem the refresh token."""
    tenant.refresh_from_db()
    cache = json.loads(encryption.decrypt(tenant.token_cache_encrypted))
    past = str(int(timezone.now().timestamp()) - 60)
    for token in cache.get("AccessToken", {}).values():
        token["expires_on"] = token["extended_expires_on"] = past
    Tenant.objects.filter(pk=tenant.pk).update(
        token_cache_encrypted=encryption.encrypt(json.dumps(cache))
    )


def remote_user(m365, ms_tenant, upn):
    return next(
        (u for u in m365.control.users(ms_tenant["id"]) if u["userPrincipalName"] == upn), None
    )


def test_check_again_finds_a_removed_delegated_consent(m365, ms_tenant, stratus_app, delegated):
    m365.control.revoke_grant(ms_tenant["id"], stratus_app["clientId"])

    tenant = services.tenant_refresh(tenant=delegated)

    assert tenant.status == "needs_reauthorization"
    assert "AADSTS65001" in tenant.last_error


def test_a_removed_delegated_consent_holds_the_work_until_an_admin_reauthorizes(
    client, acme, alice, m365, ms_tenant, stratus_app, delegated
):
    upn = f"dana@{ms_tenant['domain']}"
    dana = directory_services.user_create(
        actor=alice, organization=acme, email=upn, first_name="Dana", send_activation=False
    )
    services.user_bind(actor=alice, tenant=delegated, user=dana)
    m365.control.revoke_grant(ms_tenant["id"], stratus_app["clientId"])
    access_tokens_expired(delegated)

    result = runner.tenant_sync(tenant_id=delegated.pk, time_limit=60)

    delegated.refresh_from_db()
    assert result.held == "needs_reauthorization"
    assert delegated.status == "needs_reauthorization" and "AADSTS65001" in delegated.last_error
    assert UserBinding.objects.get(user=dana).needs_sync
    assert remote_user(m365, ms_tenant, upn) is None

    started = client.post(reverse("m365:reauthorize", args=[delegated.pk]))
    params = sign_in_at_microsoft(  # the consent page is shown again and accepted
        m365, started["Location"], login=ms_tenant["admin"], password=ms_tenant["password"]
    )
    assert tenant_pk_from(client.get("/console/m365/callback/", params)) == delegated.pk
    assert Tenant.objects.get(pk=delegated.pk).status == "connected"

    runner.tenant_sync(tenant_id=delegated.pk, time_limit=60)

    assert remote_user(m365, ms_tenant, upn)["accountEnabled"] is True
    assert not UserBinding.objects.get(user=dana).needs_sync
