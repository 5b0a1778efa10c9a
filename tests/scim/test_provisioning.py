"""SCIM writes reach Microsoft 365 (graphsim over HTTPS) like any other directory
change: with "bind new users to the tenant of their domain" on, a SCIM-created user is
bound and provisioned with its password; PATCH active=false blocks sign-in; a password
in a SCIM write is checked against Microsoft's rules and pushed."""

import pytest

from directory.models import Group, User
from m365bridge.models import GroupBinding, UserBinding
from m365bridge.tenants import tenant_graph_session
from tests.m365bridge.provisioning import EMPLOYEE_PASSWORD, account, can_sign_in, sync

from .conftest import ENTERPRISE, GROUP, new_user, patch_op, scim_error

NEW_PASSWORD = "Zq4$Lm8-Tr2#Wx"


@pytest.fixture
def binding_on(acme):
    acme.scim_bind_new_users = True
    acme.save(update_fields=["scim_bind_new_users"])


def _create(scim, email, **attrs):
    response = scim.post("Users", new_user(email, **attrs))
    assert response.status_code == 201, response.content
    return response.json()


def test_a_scim_user_is_bound_to_its_domains_tenant_and_provisioned_with_its_password(
    scim, ms, tenant, binding_on
):
    email = f"ann@{ms['domain']}"
    _create(
        scim,
        email,
        title="Engineer",
        password=EMPLOYEE_PASSWORD,
        **{ENTERPRISE: {"department": "R&D", "employeeNumber": "E-7"}},
    )
    binding = UserBinding.objects.get(user__email=email)
    assert binding.tenant == tenant and binding.bound

    sync(tenant)

    remote = account(ms, email)
    assert (remote["jobTitle"], remote["department"], remote["employeeId"]) == (
        "Engineer",
        "R&D",
        "E-7",
    )
    assert remote["accountEnabled"] is True
    assert can_sign_in(ms, email, EMPLOYEE_PASSWORD)


def test_patch_active_false_blocks_microsoft_sign_in_and_true_unblocks(
    scim, ms, tenant, binding_on
):
    email = f"ben@{ms['domain']}"
    ben = _create(scim, email, password=EMPLOYEE_PASSWORD)
    sync(tenant)
    assert can_sign_in(ms, email, EMPLOYEE_PASSWORD)

    off = patch_op({"op": "replace", "path": "active", "value": False})
    assert scim.patch(f"Users/{ben['id']}", off).status_code == 200
    sync(tenant)
    assert account(ms, email)["accountEnabled"] is False
    assert not can_sign_in(ms, email, EMPLOYEE_PASSWORD)

    on = patch_op({"op": "replace", "path": "active", "value": True})
    assert scim.patch(f"Users/{ben['id']}", on).status_code == 200
    sync(tenant)
    assert account(ms, email)["accountEnabled"] is True


def test_a_password_in_a_scim_patch_is_pushed(scim, ms, tenant, binding_on):
    email = f"cat@{ms['domain']}"
    cat = _create(scim, email, password=EMPLOYEE_PASSWORD)
    sync(tenant)
    change = patch_op({"op": "replace", "path": "password", "value": NEW_PASSWORD})
    assert scim.patch(f"Users/{cat['id']}", change).status_code == 200
    sync(tenant)
    assert can_sign_in(ms, email, NEW_PASSWORD)
    assert not can_sign_in(ms, email, EMPLOYEE_PASSWORD)


def test_a_password_microsoft_would_refuse_is_refused_up_front(scim, ms, tenant, binding_on):
    email = f"dan@{ms['domain']}"
    # Good for Stratus's policy, but Microsoft accepts no "ä".
    response = scim.post("Users", new_user(email, password="Strong-Pässw9rd-xyz"))
    assert response.status_code == 400, response.content
    error = scim_error(response)
    assert error["scimType"] == "invalidValue" and "Microsoft 365" in error["detail"]
    assert "Pässw9rd" not in response.content.decode()
    assert not User.objects.filter(email=email).exists()
    assert not UserBinding.objects.filter(user_label=email).exists()


def test_a_user_whose_domain_no_tenant_has_is_created_unbound(scim, tenant, binding_on):
    _create(scim, "eve@elsewhere.example")
    assert User.objects.filter(email="eve@elsewhere.example").exists()
    assert not UserBinding.objects.filter(user__email="eve@elsewhere.example").exists()


def test_without_the_setting_scim_users_stay_unbound(scim, ms, tenant):
    _create(scim, f"fay@{ms['domain']}")
    assert not UserBinding.objects.filter(user__email=f"fay@{ms['domain']}").exists()


def test_a_scim_group_is_synced_to_the_tenant_with_its_bound_members(scim, ms, tenant, binding_on):
    ids = [_create(scim, f"g{n}@{ms['domain']}")["id"] for n in range(2)]
    body = {"schemas": [GROUP], "displayName": "Ops", "members": [{"value": i} for i in ids]}
    group = scim.post("Groups", body).json()
    binding = GroupBinding.objects.get(group_id=group["id"], tenant=tenant)
    sync(tenant)
    binding.refresh_from_db()
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        remote = client.get(f"/groups/{binding.microsoft_id}")
        members = {m["id"] for m in client.items(f"/groups/{binding.microsoft_id}/members")}
    assert remote["displayName"] == "Ops" and remote["securityEnabled"] is True
    expected = set(
        UserBinding.objects.filter(user_id__in=ids).values_list("microsoft_id", flat=True)
    )
    assert members == expected and len(members) == 2
    assert Group.objects.get(pk=group["id"]).name == "Ops"
