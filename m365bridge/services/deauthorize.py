"""Deauthorizing a tenant (DESIGN C4): Stratus forgets the tenant's tokens and every
binding to it, and writes nothing to Microsoft 365."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from directory.models import User

from ..events import tenant_event
from ..models import GroupBinding, Tenant, UserBinding


@transaction.atomic
def tenant_deauthorize(*, actor: User, tenant: Tenant) -> Tenant:
    """Destroy the tenant's tokens and unselect every user and group bound to it. Nothing
    is written to Microsoft: accounts stay enabled there and active in Stratus (C4)."""
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if tenant.status == Tenant.DEAUTHORIZED:
        return tenant
    _, removed = UserBinding.objects.filter(tenant=tenant).delete()
    users = removed.get(UserBinding._meta.label, 0)
    _, removed = GroupBinding.objects.filter(tenant=tenant).delete()
    groups = removed.get(GroupBinding._meta.label, 0)
    tenant.status = Tenant.DEAUTHORIZED
    tenant.token_cache_encrypted = ""
    tenant.deauthorized_at = timezone.now()
    tenant.granted_permissions, tenant.directory_roles = [], []
    tenant.save()
    tenant.domains.update(active=False)
    tenant_event(
        tenant=tenant,
        type="tenant_deauthorize",
        actor=actor,
        details={
            "bindings_removed": users + groups,
            "user_bindings_removed": users,
            "group_bindings_removed": groups,
        },
    )
    return tenant
