"""An HR system provisions through SCIM, driven by the public scim2-client against a
live Stratus: it creates 200 users and 10 groups, updates 20 users and deactivates 5.
After the sync engine runs, Microsoft 365 (graphsim over HTTPS) holds exactly the
directory: every user with its attributes and sign-in state, every group with its
members."""

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import PatchOp

from directory.models import Group, User
from m365bridge.models import GroupBinding, UserBinding
from m365bridge.tenants import tenant_graph_session
from tests.m365bridge.provisioning import sync

from .conftest import ENTERPRISE, scim_key

USERS, GROUPS, UPDATED, DEACTIVATED = 200, 10, 20, 5


@pytest.fixture
def hr(live_server, settings, acme, alice, tenant):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    acme.scim_bind_new_users = True
    acme.save(update_fields=["scim_bind_new_users"])
    _, secret = scim_key(alice, acme, "Workday")
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=60,
    )
    client = SyncSCIMClient(http)
    client.discover()
    yield client
    http.close()


def _employee(model, domain, n):
    return model.model_validate(
        {
            "userName": f"emp{n:03}@{domain}",
            "name": {"givenName": f"Given{n}", "familyName": "Employee"},
            "title": "Associate",
            "active": True,
            "externalId": f"wd-{n}",
            ENTERPRISE: {"employeeNumber": f"E{n:05}", "department": f"Dept {n % 4}"},
        }
    )


def _sync_until_done(tenant_row):
    for _ in range(30):
        result = sync(tenant_row)
        if not result.applied:
            return
    pytest.fail("the sync engine did not finish")


@pytest.mark.slow
def test_an_hr_system_provisions_users_and_groups_and_microsoft_365_ends_equal(
    hr,
    ms,
    tenant,  # noqa: F811
):
    user_model = hr.get_resource_model("User")
    group_model = hr.get_resource_model("Group")
    created = [hr.create(_employee(user_model, ms["domain"], n)) for n in range(USERS)]
    assert len({u.id for u in created}) == USERS

    groups = [
        hr.create(
            group_model.model_validate(
                {
                    "displayName": f"Team {g}",
                    "members": [{"value": u.id} for u in created[g * 20 : g * 20 + 20]],
                }
            )
        )
        for g in range(GROUPS)
    ]
    for user in created[:UPDATED]:
        user.title = "Senior Associate"
        user.name.family_name = "Promoted"
        hr.replace(user)
    for user in created[UPDATED : UPDATED + DEACTIVATED]:
        patch = PatchOp[user_model].model_validate(
            {"Operations": [{"op": "replace", "path": "active", "value": False}]}
        )
        hr.modify(user_model, user.id, patch)

    _sync_until_done(tenant)

    _assert_users_equal(ms, tenant)
    _assert_groups_equal(tenant, groups)


def _assert_users_equal(ms, tenant_row):
    directory = {u.email: u for u in User.objects.filter(email__endswith=f"@{ms['domain']}")}
    assert len(directory) == USERS
    bindings = UserBinding.objects.filter(tenant=tenant_row, user__in=directory.values())
    assert bindings.count() == USERS and not bindings.filter(needs_sync=True).exists()
    remote = {
        u["userPrincipalName"].lower(): u
        for u in ms["control"].users(ms["id"])
        if u["userPrincipalName"].lower().endswith(f"@{ms['domain']}")
    }
    assert set(remote) == set(directory)
    for email, user in directory.items():
        account = remote[email]
        expected = (
            user.first_name,
            user.last_name,
            user.job_title,
            user.department,
            user.employee_id,
            user.status != User.SUSPENDED,
        )
        actual = (
            account.get("givenName"),
            account.get("surname"),
            account.get("jobTitle"),
            account.get("department"),
            account.get("employeeId"),
            account.get("accountEnabled"),
        )
        assert actual == expected, email
    assert sum(1 for a in remote.values() if not a["accountEnabled"]) == DEACTIVATED
    assert sum(1 for a in remote.values() if a.get("surname") == "Promoted") == UPDATED


def _assert_groups_equal(tenant_row, groups):
    microsoft_ids = dict(
        UserBinding.objects.filter(tenant=tenant_row).values_list("user_id", "microsoft_id")
    )
    with tenant_graph_session(tenant=tenant_row, budget=False) as client:
        for resource in groups:
            group = Group.objects.get(pk=resource.id)
            binding = GroupBinding.objects.get(group=group, tenant=tenant_row)
            remote = client.get(f"/groups/{binding.microsoft_id}")
            members = {m["id"] for m in client.items(f"/groups/{binding.microsoft_id}/members")}
            assert remote["displayName"] == group.name
            expected = {microsoft_ids[pk] for pk in group.members.values_list("pk", flat=True)}
            assert members == expected and len(members) == 20
