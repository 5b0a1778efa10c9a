"""One tenant's sync task, and the sweep that finds lost ones.

A task claims chunks of due user bindings (each followed by the licences of the
accounts it created), then of due group bindings, so that new members' accounts exist
before their groups are written (G1), then of due profile photos (one PUT each), until
nothing is due or its time is up; the caller re-queues. Every HTTP attempt renews the
task's lease (`engine.Lease`).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import timedelta

from django.db.models import Min, Q
from django.utils import timezone

from .. import graph
from ..models import Tenant
from ..tenants import tenant_graph_session
from . import engine, groups, licences, photos, users
from .engine import SyncResult
from .intent import sync_send

KINDS = [users.USERS, groups.GROUPS, photos.PHOTOS]
# Seconds a worker waits for the write budget before it leaves bulk work for later and
# is free for another tenant's (or a security-relevant) change.
BULK_PATIENCE = 1.0


def tenant_sync(*, tenant_id: int, time_limit: float = 50.0) -> SyncResult:
    """Send every due change of one tenant (until `time_limit`; the caller re-queues)."""
    result = SyncResult(tenant_id=tenant_id)
    tenant = Tenant.objects.select_related("organization").filter(pk=tenant_id).first()
    if tenant is None or not tenant.can_sync:
        result.held = tenant.status if tenant else "missing"
        return result
    lease = engine.Lease(uuid.uuid4().hex, KINDS)
    deadline = time.monotonic() + time_limit
    try:
        within = 0.8 * engine.lease_length().total_seconds()
        with tenant_graph_session(tenant=tenant, within=within) as client:
            client.config = dataclasses.replace(
                client.config,
                max_retry_wait=min(client.config.max_retry_wait, engine.MAX_RETRY_WAIT),
            )
            engine.lease_check(client)
            client.before_request = lease.renew
            _users_sync(client, tenant_id, lease, deadline, result)
            if not result.budget_wait:  # groups come after their members' accounts (G1)
                _kind_sync(
                    groups.GROUPS, groups.chunk_sync, client, tenant_id, lease, deadline, result
                )
            if not result.budget_wait:  # photos last: bulk, and after their accounts
                _kind_sync(
                    photos.PHOTOS, photos.chunk_sync, client, tenant_id, lease, deadline, result
                )
    except graph.NeedsReauthorization:
        result.held = Tenant.NEEDS_REAUTHORIZATION  # work stays dirty for after re-authorizing
    except engine.LeaseLost:
        result.held = "lease_lost"  # its rows may be another worker's now: touch nothing more
    finally:
        lease.release()
    _schedule_next(
        tenant_id,
        deadline_passed=time.monotonic() >= deadline,
        budget_wait=result.budget_wait,
    )
    return result


def _users_sync(client, tenant_id: int, lease, deadline: float, result: SyncResult) -> None:
    helper_asked = False
    while time.monotonic() < deadline:
        wait = _bulk_wait(client)
        claimed = engine.claim(
            users.USERS, tenant_id=tenant_id, token=lease.token, urgent_only=wait > BULK_PATIENCE
        )
        if not claimed:
            result.budget_wait = wait if wait > BULK_PATIENCE else 0.0
            return
        if len(claimed) == engine.CHUNK and not helper_asked:
            # More work than one $batch: ask one more worker to join. Each helper does
            # the same, so idle workers join within a few batches; the shared write
            # budget keeps them all within Microsoft's quota.
            sync_send(tenant_id=tenant_id)
            helper_asked = True
        users.chunk_sync(client, claimed, result)
        licences.chunk_sync(client, [b.pk for b in claimed], result)


def _kind_sync(kind, chunk_sync, client, tenant_id: int, lease, deadline, result) -> None:
    """Claim and send chunks of one kind (groups, photos) until none is due or time is up."""
    while time.monotonic() < deadline:
        claimed = engine.claim(kind, tenant_id=tenant_id, token=lease.token)
        if not claimed:
            return
        chunk_sync(client, claimed, result)


def _bulk_wait(client) -> float:
    """How long a chunk of bulk writes would wait for the budget now (Redis down: the
    budget's own pause)."""
    if client.budget is None:
        return 0.0
    try:
        return client.budget.wait_for(engine.CHUNK, priority="low")
    except graph.Throttled as exc:
        return exc.retry_after or 0.0


def _schedule_next(tenant_id: int, *, deadline_passed: bool, budget_wait: float = 0.0) -> None:
    """Come back soon for what is due shortly (Retry-After) or left over; the sweep
    covers anything further away."""
    if deadline_passed:
        sync_send(tenant_id=tenant_id)
        return
    if budget_wait:
        sync_send(tenant_id=tenant_id, countdown=budget_wait)
        return
    soonest = users.USERS.model.objects.filter(
        tenant_id=tenant_id, needs_sync=True, next_attempt_at__isnull=False
    ).aggregate(soonest=Min("next_attempt_at"))["soonest"]
    if soonest is not None:
        wait = (soonest - timezone.now()).total_seconds()
        if 0 < wait <= 60:
            sync_send(tenant_id=tenant_id, countdown=wait + 0.2)


def sweep_due_tenants() -> list[int]:
    """Tenants with intent that no task is working on (lost message, dead worker, Redis
    flushed): send their sync again. Returns the tenant ids sent. An intent younger than
    `SWEEP_GRACE` seconds is left to its own task."""
    now = timezone.now()
    stale = now - timedelta(seconds=engine.SWEEP_GRACE)
    waiting_long = (
        Q(next_attempt_at__isnull=False) | Q(dirty_since__lte=stale) | Q(dirty_since__isnull=True)
    )
    tenant_ids: set[int] = set()
    for kind in KINDS:
        tenant_ids.update(
            engine.due(kind.model, now=now, ready=kind.ready)
            .filter(waiting_long, tenant__status=Tenant.CONNECTED)
            .values_list("tenant_id", flat=True)
            .distinct()
        )
    for tenant_id in sorted(tenant_ids):
        sync_send(tenant_id=tenant_id)
    return sorted(tenant_ids)
