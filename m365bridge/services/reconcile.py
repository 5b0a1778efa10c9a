"""The reconcile (DESIGN P5) as admins drive it: "Sync now" queues a read-back of the
tenant from Microsoft 365, and the interval says how often workers run one by
themselves. The reconcile itself is `sync.reconcile.tenant_reconcile`, run by workers."""

from __future__ import annotations

from django.db import transaction

from directory.errors import Conflict, InvalidInput
from directory.models import User

from ..events import tenant_event
from ..models import Tenant
from ..sync import reconcile


def tenant_reconcile_now(*, actor: User, tenant: Tenant) -> None:
    """ "Sync now": queue a reconcile of the tenant (after commit). A run already going
    on makes the queued one stop at once, with a note in the sync history."""
    if not tenant.can_sync:
        raise Conflict(
            f"{tenant} is {tenant.get_status_display().lower()}: re-authorize it before syncing.",
            code="tenant_not_connected",
        )
    actor_id = getattr(actor, "pk", None)
    transaction.on_commit(lambda: reconcile.reconcile_send(tenant_id=tenant.pk, actor_id=actor_id))


def tenant_set_reconcile_interval(*, actor: User, tenant: Tenant, minutes) -> Tenant:
    """How often the tenant is read back from Microsoft 365 (1 to 1440 minutes)."""
    try:
        value = int(minutes)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 1440:
        raise InvalidInput.for_field(
            "reconcile_interval_minutes", "Enter a whole number of minutes from 1 to 1440."
        )
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(reconcile_interval_minutes=value)
        tenant.reconcile_interval_minutes = value
        tenant_event(
            tenant=tenant,
            type="m365_tenant_update",
            actor=actor,
            details={"reconcile_interval_minutes": value},
        )
    return tenant
