"""Events about Microsoft 365 tenants and bindings: `audit.services.event_record` with
the tenant filled in, so every event names the tenant it concerns the same way."""

from audit.services import event_new, events_record


def tenant_event(*, tenant, type: str, actor, target=None, outcome: str = "success", details=None):
    [event] = events_record(
        [
            tenant_event_new(
                tenant=tenant,
                type=type,
                actor=actor,
                target=target,
                outcome=outcome,
                details=details,
            )
        ]
    )
    return event


def tenant_event_new(
    *, tenant, type: str, actor, target=None, outcome: str = "success", details=None
):
    """`tenant_event` not saved yet, for `audit.services.events_record` (many at once)."""
    return event_new(
        organization=tenant.organization,
        type=type,
        actor=actor,
        target=target if target is not None else tenant,
        outcome=outcome,
        details=details or {},
        tenant_ref=tenant.microsoft_tenant_id,
        tenant_label=tenant.display_name,
    )


def import_failure_event_new(job, item, reason: str, *, type: str, label_key: str, length: int):
    """The failure event of one item of an import job (`user_import`, `group_import`),
    not saved yet: the job, the Microsoft object, its label under `label_key` and why."""
    return tenant_event_new(
        tenant=job.tenant,
        type=type,
        actor=job.actor,
        outcome="failure",
        details={
            "job": job.pk,
            "microsoft_id": item.microsoft_id,
            label_key: item.label[:length],
            "reason": reason[:500],
        },
    )
