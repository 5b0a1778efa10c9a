"""Reading both sides after a run: what graphsim holds, what Stratus recorded."""

from collections import Counter

from audit.models import Event
from m365bridge.models import UserBinding

SWEEP_TASK = "workers.tasks.m365_sync_sweep"


def accounts_in(sim, tenant_id: str, domain: str, *, deleted: bool = False) -> list[dict]:
    suffix = "@" + domain.lower()
    return [
        u
        for u in sim.control.users(tenant_id, deleted=deleted)
        if u["userPrincipalName"].lower().endswith(suffix)
    ]


def events_of(type_: str, **filters) -> list[Event]:
    return list(Event.objects.filter(type=type_, **filters))


def per_target(events) -> Counter:
    return Counter(str(e.target_id) for e in events)


def dirty_count(tenant) -> int:
    return UserBinding.objects.filter(tenant=tenant, needs_sync=True).count()


def binding_states(tenant) -> dict:
    return dict(Counter(UserBinding.objects.filter(tenant=tenant).values_list("state", flat=True)))


def sweep_every(stack, seconds: float):
    """What beat does every 30 s in production, every few seconds here."""
    return stack.procs.ticker(lambda: stack.celery.send_task(SWEEP_TASK), seconds)
