"""Events about Microsoft 365 tenants and bindings: `audit.services.event_record` with
the tenant filled in, so every event names the tenant it concerns the same way."""

from audit.services import event_record


def tenant_event(*, tenant, type: str, actor, target=None, outcome: str = "success", details=None):
    return event_record(
        organization=tenant.organization,
        type=type,
        actor=actor,
        target=target if target is not None else tenant,
        outcome=outcome,
        details=details or {},
        tenant_ref=tenant.microsoft_tenant_id,
        tenant_label=tenant.display_name,
    )
