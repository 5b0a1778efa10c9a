"""Syncing groups to a tenant as security groups (DESIGN G1): selecting a group for a
tenant and unselecting it. Workers (`sync`) create the security group and keep its name
and members following Stratus."""

from __future__ import annotations

from django.db import transaction

from directory.errors import InvalidInput
from directory.models import User

from ..events import tenant_event
from ..models import GroupBinding, Tenant
from ..sync.intent import binding_mark_dirty, sync_after_commit


@transaction.atomic
def group_bind(*, actor: User | None, tenant: Tenant, group) -> GroupBinding:
    """Sync a group to a tenant as a security group: a worker creates it (with the
    members that have an account there) and keeps its name and members following
    Stratus. A group may be synced to several tenants, each with the members that
    have an account there. Binding it again to the same tenant changes nothing."""
    if group.organization_id != tenant.organization_id:
        raise InvalidInput("No such group.", code="not_found", fields={"group": ["No such group."]})
    if not tenant.is_active:
        raise InvalidInput(
            "This tenant is not connected; connect it again before syncing groups.",
            code="tenant_not_connected",
            fields={"tenant": ["This tenant is not connected."]},
        )
    existing = GroupBinding.objects.filter(group=group, tenant=tenant).first()
    if existing is not None:
        return existing
    binding = GroupBinding.objects.create(
        organization=tenant.organization,
        tenant=tenant,
        group=group,
        intent_actor=actor if getattr(actor, "pk", None) else None,
    )
    tenant_event(tenant=tenant, type="m365_group_bind", actor=actor, target=binding)
    sync_after_commit(tenant_id=tenant.pk)
    return binding


@transaction.atomic
def group_unbind(*, actor: User | None, binding: GroupBinding) -> GroupBinding | None:
    """Stop syncing a group to a tenant. The security group in Microsoft 365 is NOT
    deleted (that is permanent there) and keeps its members; Stratus stops managing it."""
    binding = (
        GroupBinding.objects.select_for_update()
        .select_related("tenant__organization", "group")
        .filter(pk=binding.pk)
        .first()
    )
    if binding is None:
        return None
    tenant_event(
        tenant=binding.tenant,
        type="m365_group_unbind",
        actor=actor,
        target=binding,
        details={
            "microsoft_id": binding.microsoft_id,
            "microsoft_group_kept": bool(binding.microsoft_id),
        },
    )
    binding.delete()
    return binding


@transaction.atomic
def group_binding_retry(*, actor: User | None, binding: GroupBinding) -> GroupBinding:
    """Sync a group binding again now (after an error): its name, description and
    every member are sent again, so what was changed in Microsoft 365 is put back."""
    binding_mark_dirty(
        bindings=GroupBinding.objects.filter(pk=binding.pk),
        actor_id=getattr(actor, "pk", None),
        next_attempt_at=None,
        known_properties={},
    )
    sync_after_commit(tenant_id=binding.tenant_id)
    binding.refresh_from_db()
    return binding


@transaction.atomic
def group_bindings_retry_failed(*, actor: User | None, tenant: Tenant) -> int:
    """ "Retry all failed groups": every group binding of the tenant in error, now."""
    count = binding_mark_dirty(
        bindings=GroupBinding.objects.filter(tenant=tenant, state=GroupBinding.ERROR),
        actor_id=getattr(actor, "pk", None),
        next_attempt_at=None,
    )
    if count:
        sync_after_commit(tenant_id=tenant.pk)
    return count
