"""Previews (dry runs) as admins ask for them: binding users (one, many, a group's
members) and "Sync now". Each builds the bindings the real action would sync (unsaved
for a bind) and hands them to `sync.preview`, which plans them with the engine's
planner and reads Microsoft; nothing is saved and nothing is written to Microsoft."""

from __future__ import annotations

from directory.errors import InvalidInput
from directory.models import User

from ..models import GroupBinding, Tenant, UserBinding
from ..sync import preview
from ..sync.brake import not_held
from ..tenants import tenant_graph_session
from .bindings import TENANT_NOT_CONNECTED, users_bind_check

MAX_PREVIEW = 5000


def _connected(tenant: Tenant) -> None:
    if not tenant.can_sync:
        raise InvalidInput(TENANT_NOT_CONNECTED, code="tenant_not_connected")


def _refused(result) -> preview.PreviewItem:
    return preview.PreviewItem(
        user_id=result.user_id, email=result.email, action=preview.REFUSED, message=result.message
    )


def users_bind_preview(*, tenant: Tenant, users: list[User]) -> preview.Preview:
    """What binding these users to the tenant would send, per account, binding nobody."""
    if not users:
        raise InvalidInput.for_field("user_ids", "Choose at least one user of your organization.")
    if len(users) > MAX_PREVIEW:
        raise InvalidInput.for_field("user_ids", f"Preview at most {MAX_PREVIEW} users at once.")
    _connected(tenant)
    checked = users_bind_check(tenant=tenant, users=users)
    by_id = {u.pk: u for u in users}
    refused, bindings = [], []
    for result in checked.results:
        if not result.ok:
            refused.append(_refused(result))
            continue
        binding = result.binding or UserBinding(
            organization_id=tenant.organization_id, tenant=tenant, user=by_id[result.user_id]
        )
        binding.bound = True  # in memory only: as the bind would make it
        bindings.append(binding)
    with tenant_graph_session(tenant=tenant) as client:
        planned = preview.bindings_preview(client, bindings)
    planned.items = refused + planned.items
    return planned


def tenant_sync_preview(*, tenant: Tenant) -> preview.Preview:
    """What the tenant's next sync would send: every user binding with a change waiting
    (blocks held by the deprovision brake are left out: they wait for an owner), then
    every group binding with one (`groups`: created, renamed, members added/removed)."""
    _connected(tenant)
    bindings = list(
        UserBinding.objects.filter(tenant=tenant, needs_sync=True)
        .filter(not_held())
        .select_related("user", "tenant__organization")
        .order_by("pk")[:MAX_PREVIEW]
    )
    groups = list(
        GroupBinding.objects.filter(tenant=tenant, needs_sync=True)
        .select_related("group", "tenant")
        .order_by("pk")[:MAX_PREVIEW]
    )
    with tenant_graph_session(tenant=tenant) as client:
        planned = preview.bindings_preview(client, bindings)
        if groups:
            planned.groups = preview.group_bindings_preview(client, groups)
            planned.reads += planned.groups.reads
    return planned


def group_bind_preview(*, tenant: Tenant, group) -> preview.Preview:
    """What syncing this group to the tenant would send now (the group created or
    updated, members added and removed), whether it is synced there already or not."""
    if group.organization_id != tenant.organization_id:
        raise InvalidInput("No such group.", code="not_found", fields={"group": ["No such group."]})
    _connected(tenant)
    binding = GroupBinding.objects.filter(group=group, tenant=tenant).first() or GroupBinding(
        organization_id=tenant.organization_id, tenant=tenant, group=group
    )
    with tenant_graph_session(tenant=tenant) as client:
        return preview.group_bindings_preview(client, [binding])
