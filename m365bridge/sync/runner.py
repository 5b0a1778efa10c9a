"""One tenant's sync task, and the sweep that finds lost ones.

A task claims chunks of due user bindings (each followed by the licences of the
accounts it created) and then of due group bindings, so that new members' accounts exist
before their groups are written (G1), then of due profile photos (one PUT each), until
nothing is due or its time is up; the caller re-queues. Every HTTP attempt renews the
task's lease (`engine.Lease`).

User chunks are pipelined: while up to `M365_SYNC_IN_FLIGHT` (default 4) `$batch`
requests are on the wire (each on a thread of the task, touching no database), the
task plans the next chunk and records the replies of the oldest one, in order. Graph
answers in about 80 ms or more; one request at a time would leave the write window's
burst unused while the worker waits.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections
from django.db.models import Min, Q
from django.utils import timezone

from .. import graph
from ..models import Tenant
from ..tenants import tenant_graph_session
from . import engine, groups, licences, photos, users
from .engine import SyncResult
from .intent import sync_send

log = logging.getLogger(__name__)

KINDS = [users.USERS, groups.GROUPS, photos.PHOTOS]
# Seconds a worker waits for the write budget before it leaves bulk work for later and
# is free for another tenant's (or a security-relevant) change.
BULK_PATIENCE = engine.BULK_PATIENCE


def tenant_sync(
    *, tenant_id: int, time_limit: float = 50.0, urgent_only: bool = False
) -> SyncResult:
    """Send every due change of one tenant (until `time_limit`; the caller re-queues).
    `urgent_only`: only its security-relevant changes, now, and nothing scheduled (what
    another tenant's task does between two of its chunks, `_serve_urgent_elsewhere`)."""
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
            _users_sync(client, tenant_id, lease, deadline, result, urgent_only=urgent_only)
            if not result.budget_wait and not urgent_only:
                # Groups come after their members' accounts (G1), photos last (bulk).
                for kind, chunk_sync in (
                    (groups.GROUPS, groups.chunk_sync),
                    (photos.PHOTOS, photos.chunk_sync),
                ):
                    if not result.budget_wait:
                        _kind_sync(kind, chunk_sync, client, tenant_id, lease, deadline, result)
    except graph.NeedsReauthorization:
        result.held = Tenant.NEEDS_REAUTHORIZATION  # work stays dirty for after re-authorizing
    except engine.LeaseLost:
        result.held = "lease_lost"  # its rows may be another worker's now: touch nothing more
    finally:
        lease.release()
    if urgent_only:
        return result  # the tenant's own task, queued with the change, does the rest
    _schedule_next(
        tenant_id,
        deadline_passed=time.monotonic() >= deadline,
        budget_wait=result.budget_wait,
    )
    return result


def in_flight() -> int:
    """`$batch` requests one task keeps on the wire at once."""
    return max(1, int(getattr(settings, "M365_SYNC_IN_FLIGHT", 4)))


def _users_sync(
    client, tenant_id: int, lease, deadline: float, result: SyncResult, *, urgent_only=False
) -> None:
    depth = in_flight()
    elsewhere = _UrgentElsewhere(tenant_id) if not urgent_only else None
    pending: deque = deque()  # (chunk, future) in the order they were claimed
    claiming, helper_asked = True, False
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="graph-send") as senders:
        try:
            while claiming or pending:
                if claiming and len(pending) < depth and time.monotonic() < deadline:
                    claimed = _claim_next(client, tenant_id, lease, result, urgent_only)
                    if claimed:
                        if len(claimed) == engine.CHUNK and not helper_asked:
                            # More work than one $batch: ask one more worker to join. Each
                            # helper does the same, so idle workers join within a few
                            # batches; the shared write budget keeps them all within
                            # Microsoft's quota.
                            sync_send(tenant_id=tenant_id)
                            helper_asked = True
                        chunk = users.chunk_begin(client, claimed, result)
                        if chunk.writes and not pending:
                            _token_here(client)
                        pending.append((chunk, senders.submit(_send, client, chunk)))
                        continue
                    claiming = False
                if not pending:
                    break
                chunk, future = pending.popleft()
                replies = _replies(future, lease)
                users.chunk_finish(client, chunk, replies, result)
                licences.chunk_sync(client, chunk.claimed, result)
                claiming = True  # what it recorded may be due again (restore, then update)
                if elsewhere is not None:
                    elsewhere.serve()
        finally:
            for _, future in pending:  # a failure (lease lost): let the others land
                future.cancel()


def _claim_next(client, tenant_id: int, lease, result: SyncResult, urgent: bool) -> list:
    """The next chunk: security-relevant rows first; only those while the write budget
    has no room for bulk work (then `result.budget_wait` says for how long)."""
    wait_ = 0.0 if urgent else _bulk_wait(client)
    wait_ = max(wait_, result.budget_wait)
    urgent_only = urgent or wait_ > BULK_PATIENCE
    claimed = engine.claim(
        users.USERS, tenant_id=tenant_id, token=lease.token, urgent_only=urgent_only
    )
    if not claimed and urgent_only:
        result.budget_wait = max(result.budget_wait, wait_)
    return claimed


class _UrgentElsewhere:
    """Between two chunks of a long sync (a bulk bind), the security-relevant changes
    of other tenants are sent from here: their own tasks may be queued behind this one
    while every worker is busy with the bind. Looked for at most every `EVERY`
    seconds (one query on the index of due rows whose account exists)."""

    EVERY = 0.25
    STATEMENTS: dict = {}  # the query, compiled once (`engine.compiled_once`)

    def __init__(self, tenant_id: int):
        self.tenant_id = tenant_id
        self.looked = time.monotonic()

    @staticmethod
    def _others(now, tenant_id):
        """Up to five other tenants with security-relevant changes due."""
        kind = users.USERS
        return (
            engine.due(kind.model, now=now, ready=kind.ready)
            .filter(kind.urgent, tenant__status=Tenant.CONNECTED)
            .exclude(tenant_id=tenant_id)
            .values_list("tenant_id", flat=True)
            .distinct()[:5]
        )

    def serve(self) -> None:
        if time.monotonic() - self.looked < self.EVERY:
            return
        self.looked = time.monotonic()
        sql, params = engine.compiled_once(self.STATEMENTS, "others", self._others)
        values = engine.compiled_values(params, now=timezone.now(), tenant_id=self.tenant_id)
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            others = [tenant_id for (tenant_id,) in cursor.fetchall()]
        for other in others:
            try:
                tenant_sync(tenant_id=other, time_limit=5.0, urgent_only=True)
            except Exception:  # another tenant's trouble never stops this sync
                log.exception("sending tenant %s's urgent changes failed", other)


def _token_here(client) -> None:
    """A token refresh writes the tenant row: get it on the task's own thread before
    the senders need it (a failure is theirs to report, as every item's)."""
    try:
        client.tokens.token()
    except graph.Transient:
        pass


def _send(client, chunk) -> dict:
    """On a sender thread: the chunk's HTTP requests (a token refresh may write the
    tenant row: the thread's own database connection is closed afterwards)."""
    try:
        return users.chunk_send(client, chunk)
    finally:
        connections.close_all()


def _replies(future, lease) -> dict:
    """The replies of a chunk in flight, renewing the lease while waiting for them."""
    every = min(1.0, engine.RENEW_SHARE * engine.lease_length().total_seconds())
    while True:
        done, _ = wait([future], timeout=every, return_when=FIRST_COMPLETED)
        if done:
            return future.result()
        lease.renew()


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
