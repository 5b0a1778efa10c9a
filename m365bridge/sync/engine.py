"""The engine every synced row goes through, whatever it is (a user's account, a
security group, a licence): claim, lease, send, record, release, retry.

- **Claim.** A worker claims up to one `$batch` of due rows of one tenant with a
  conditional UPDATE (a claim token and a lease set on the keys a `SELECT … FOR UPDATE
  SKIP LOCKED` picks, in one statement), so two workers never send the same change.
- **Lease.** A claim holds for `M365_SYNC_LEASE_SECONDS` (default 300). `Lease.renew`
  runs right before every HTTP attempt of the tenant's client (it is the client's
  `before_request`) and extends the claims in the database at most every
  `RENEW_SHARE` of the lease, so a claim always has 90 % of the lease left when a
  request leaves. The client is built so that no gap between two renewals (one request,
  one pause, one budget wait, one token refresh: `longest_gap`) reaches 80 % of the
  lease, and `lease_check` proves it, so a row is never taken by a second worker while
  its write is on the wire. Requests sent from other threads of the task (the runner
  keeps a few `$batch` requests in flight) only check the lease: they refuse to leave
  once the owner has not renewed it for half of it. A worker that stalled past its
  lease (paused, swapped out) stops before its next request instead of sending a change
  someone else now owns.
- **Send.** Requests go out 20 per `$batch` within the tenant's write budget (`send`).
  Security-relevant rows (a kind's `urgent` condition: blocks, passwords, unblocks) are
  claimed before the others and sent at `high` priority, which may use the reserve of
  the budget that bulk work cannot take. Bulk work waits at most `BULK_PATIENCE` for
  the budget; beyond that it is left for later, unsent.
- **Record.** A row's outcome is written together with its event on the locked current
  row; the intent is done only if the row's generation did not move meanwhile
  (compare-and-set), so a newer change is sent by the next round. One row in its own
  transaction (`record`), or a whole chunk in one (`chunk_record.record_chunk`), which
  falls back to one row at a time if any row of it fails.
- **Retry.** A transient failure keeps the intent and comes back after Microsoft's
  `Retry-After` or a growing wait (`directory.backoff`); a refusal is shown on the row
  and waits for a fix or a retry.

A kind of row is described by a `Kind` (its model, what to load with it, how to name it
in events); the kinds themselves (`users`, `groups`, `licences`) plan their requests and
read the replies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from directory.rows_load import RowsLoad

from .. import graph
from ..events import tenant_event
from ..graph import BatchRequest

log = logging.getLogger(__name__)

CHUNK = graph.client.BATCH_SIZE  # rows claimed at once: one $batch
MAX_RETRY_WAIT = 30.0  # a longer Retry-After is scheduled on the row, not slept on
SWEEP_GRACE = 20  # seconds an intent may wait for its own task before the sweep resends
DELETED = object()  # what `record`'s update returns when it deleted the row
# Seconds bulk work waits for the write budget before it is left for later, so the
# worker is free for another tenant's (or a security-relevant) change.
BULK_PATIENCE = 1.0
RENEW_SHARE = 0.1  # of the lease: claims are extended in the database at most this often


@dataclass(frozen=True)
class Kind:
    """What the engine needs to know about one kind of synced row."""

    model: type
    related: tuple[str, ...]  # loaded with claimed and locked rows
    # Rows of this kind the sync may take (a filter expression, built when asked), e.g.
    # user bindings whose block is not held by the deprovision brake (`sync.brake`).
    ready: Callable | None = None
    urgent: Q | None = None  # rows whose change is security-relevant: claimed first

    def event(self, row, type_: str, *, outcome: str = "success", details=None) -> None:
        row_event(row, type_, outcome=outcome, details=details)

    @cached_property
    def claimed_load(self) -> RowsLoad:
        """Claimed rows, with `related` and the actor of each intent."""
        # What every row of a claim shares (its tenant, with the token cache) is read once.
        apart = tuple(p for p in self.related if p.split("__")[0] == "tenant")
        related = tuple(p for p in self.related if p not in apart)
        return RowsLoad(self.model, related=(*related, "intent_actor"), apart=apart)

    @cached_property
    def claim_statements(self) -> dict:
        """The claim's locking SELECTs, compiled once by shape (`_claim_statement`)."""
        return {}

    @cached_property
    def locked_load(self) -> RowsLoad:
        """Rows locked to record outcomes (their related objects come from the claim)."""
        return RowsLoad(self.model, lock=True)


def row_event(row, type_: str, *, outcome: str = "success", details=None) -> None:
    """An event about a synced row, acted by whoever asked for the change."""
    tenant_event(
        tenant=row.tenant,
        type=type_,
        actor=row.intent_actor,
        target=row,
        outcome=outcome,
        details=details,
    )


@dataclass
class SyncResult:
    tenant_id: int
    held: str = ""  # why nothing was done ("needs_reauthorization", ...)
    applied: int = 0
    failed: int = 0
    retrying: int = 0
    budget_wait: float = 0.0  # bulk work left for when the write budget has room again
    counts: dict = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def merge(self, other: SyncResult) -> None:
        """Add what `other` (a chunk's tally, kept apart until it committed) counted."""
        self.applied += other.applied
        self.failed += other.failed
        self.retrying += other.retrying
        self.budget_wait = max(self.budget_wait, other.budget_wait)
        for what, number in other.counts.items():
            self.counts[what] = self.counts.get(what, 0) + number


# --- claiming ------------------------------------------------------------------------------


def due(model, *, now, tenant_id: int | None = None, ready: Callable | None = None):
    """Rows with intent that no worker holds and whose next attempt is due (and, with
    `ready`, that the kind lets the sync take)."""
    rows = model.objects.filter(needs_sync=True)
    if ready is not None:
        rows = rows.filter(ready())
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    return rows.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def claim(
    kind: Kind, *, tenant_id: int, token: str, limit: int = CHUNK, urgent_only: bool = False
) -> list:
    """Claim up to `limit` due rows of one tenant, security-relevant ones first (only
    those with `urgent_only`); returned in primary-key order, with `kind.related` and
    the actor of each intent."""
    now = timezone.now()
    until = now + lease_length()
    with transaction.atomic():
        ids = []
        if kind.urgent is not None:
            ids = _claim_first(
                kind, True, limit, tenant_id=tenant_id, now=now, token=token, until=until
            )
        if not urgent_only and len(ids) < limit:
            # The rows just claimed are no longer due (their lease runs until `until`).
            ids += _claim_first(
                kind,
                False,
                limit - len(ids),
                tenant_id=tenant_id,
                now=now,
                token=token,
                until=until,
            )
        return kind.claimed_load.load(ids)


# What a statement compiled once (`compiled_once`) is built with, then replaced by each
# call's values (`compiled_values`).
_NOW = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
_TENANT = -190_283_746


def compiled_once(cache: dict, key, build: Callable) -> tuple[str, list]:
    """The SQL and parameters of the queryset `build(now, tenant_id)` gives, compiled by
    Django once per `key` into `cache` (for the statements every chunk of a sync runs,
    whose compile cost more than running them): "now" and the tenant stand as `_NOW` and
    `_TENANT` among the parameters until `compiled_values` puts each call's in."""
    if key not in cache:
        sql, params = build(_NOW, _TENANT).query.sql_with_params()
        cache[key] = (sql, list(params))
    return cache[key]


def compiled_values(params: list, *, now, tenant_id) -> list:
    return [now if p == _NOW else tenant_id if p == _TENANT else p for p in params]


def _claim_first(
    kind: Kind, urgent: bool, limit: int, *, tenant_id, now, token, until
) -> list[int]:
    """Claim the first `limit` due rows of the tenant (only security-relevant ones when
    `urgent`) by primary key that no other transaction holds, in one statement (an UPDATE
    of the keys a locking SELECT picks, returning them). Only keys are selected: a plan
    that is poor because the statistics lag behind a bulk bind still costs little."""
    sql, params = _claim_statement(kind, urgent, limit)
    until = kind.model._meta.get_field("claimed_until").get_db_prep_save(until, connection)
    values = compiled_values(params, now=now, tenant_id=tenant_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, [token, until, *values])
        return [key for (key,) in cursor.fetchall()]


def _claim_statement(kind: Kind, urgent: bool, limit: int) -> tuple[str, list]:
    """The claim: an UPDATE of the keys its locking SELECT picks, that SELECT compiled
    once per kind and shape (`compiled_once`)."""

    def locking(now, tenant_id):
        rows = due(kind.model, now=now, tenant_id=tenant_id, ready=kind.ready)
        if urgent:
            rows = rows.filter(kind.urgent)
        return (
            rows.order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:limit]
        )

    sql, params = compiled_once(kind.claim_statements, (urgent, limit), locking)
    meta = kind.model._meta
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    token_column = quote(meta.get_field("claim_token").column)
    until_column = quote(meta.get_field("claimed_until").column)
    return (
        f"UPDATE {table} SET {token_column} = %s, {until_column} = %s "  # noqa: S608 - names from the model
        f"WHERE {pk} IN ({sql}) RETURNING {pk}",
        params,
    )


def claims_release(kind: Kind, token: str) -> None:
    kind.model.objects.filter(claim_token=token).update(claim_token="", claimed_until=None)


# --- the lease -----------------------------------------------------------------------------


class LeaseLost(Exception):
    """This worker stalled past its lease: another may own its rows now."""


def lease_length() -> timedelta:
    return timedelta(seconds=getattr(settings, "M365_SYNC_LEASE_SECONDS", 300))


class Lease:
    """The claims of one sync task (one token, over every kind), renewed before each HTTP
    attempt of the tenant's client, by the thread that made it."""

    def __init__(self, token: str, kinds: list[Kind]):
        self.token = token
        self.kinds = kinds
        self.renewed = time.monotonic()
        self.owner = threading.get_ident()

    def renew(self) -> None:
        """Before an HTTP attempt: stop if the lease may have passed; on the owner's
        thread, extend the claims once `RENEW_SHARE` of the lease has gone by."""
        now = time.monotonic()
        length = lease_length().total_seconds()
        stalled = now - self.renewed
        if threading.get_ident() != self.owner:
            # Another thread of the task (a request in flight) renews nothing: it only
            # goes while the claims have half of the lease left, far more than one
            # request can take (`lease_check`).
            if stalled >= 0.5 * length:
                raise LeaseLost(f"sync {self.token} not renewed for {stalled:.0f} s")
            return
        if stalled >= length:
            raise LeaseLost(f"sync {self.token} stalled for {stalled:.0f} s")
        if stalled < RENEW_SHARE * length:
            return
        until = timezone.now() + lease_length()
        for kind in self.kinds:
            kind.model.objects.filter(claim_token=self.token).update(claimed_until=until)
        self.renewed = now

    def release(self) -> None:
        for kind in self.kinds:
            claims_release(kind, self.token)


def longest_gap(client: graph.GraphClient) -> float:
    """The most time between two `before_request` calls of this client: one request, one
    pause before a retry, one wait for the write budget and one token refresh (each
    request, MSAL's included, bounded by the connect and read time-outs)."""
    budget_wait = client.budget.max_wait if client.budget is not None else 0.0
    request = client.config.connect_timeout + client.config.read_timeout
    return 2 * request + client.config.max_retry_wait + budget_wait


def lease_check(client: graph.GraphClient) -> None:
    """Refuse a client whose slowest request could outlast the lease (the runner builds
    its client `within` the lease, so this holds by construction)."""
    gap, lease = longest_gap(client), lease_length().total_seconds()
    if gap >= lease:
        raise ValueError(f"a gap of {gap:.0f} s between two requests would outlast the lease")


# --- sending -------------------------------------------------------------------------------


def send(
    client: graph.GraphClient,
    requests_: list[BatchRequest],
    *,
    priority: str = "normal",
    patience: float | None = None,
) -> dict[str, object]:
    """Each request's reply: the object Microsoft returned (dict), True, or its
    GraphError. A failure of the whole `$batch` (budget exhausted, Microsoft unreachable)
    is every item's failure. `patience`: the most seconds to wait for the budget (then
    the items fail with `Throttled`, code `write_budget`, unsent)."""
    if not requests_:
        return {}
    try:
        results = client.batch(requests_, priority=priority, patience=patience)
    except graph.NeedsReauthorization:
        raise
    except graph.GraphError as exc:
        return {r.id: exc for r in requests_}
    return {
        r.id: (r.error if r.error else (r.body if isinstance(r.body, dict) else True))
        for r in results
    }


def as_graph_error(exc: Exception) -> graph.GraphError:
    """A failure of Stratus's own while preparing a change, in the shape admins read."""
    if isinstance(exc, graph.GraphError):
        return exc
    return graph.GraphError(
        f"Stratus could not prepare this change ({type(exc).__name__}).", code="internal_error"
    )


# --- recording (one transaction per row, with its event) ---------------------------------


def locked(kind: Kind, pk: int):
    """The row as it is now, locked; None if it is gone (unbound, tenant deauthorized)."""
    return (
        kind.model.objects.select_for_update(of=("self",))
        .select_related(*kind.related, "intent_actor")
        .filter(pk=pk)
        .first()
    )


def record(kind: Kind, pk: int, generation: int | None, update: Callable) -> bool:
    """Lock the row, let `update(row)` write the outcome and its event, then release the
    claim and save, all in one transaction. `update` returns True when the intent it
    handled is done (clean, compare-and-set on `generation`), False to keep it, or
    `DELETED` after deleting the row. Returns False when the row was already gone."""
    with transaction.atomic():
        row = locked(kind, pk)
        if row is None:
            return False
        done = update(row)
        if done is DELETED:
            return True
        row.release_claim(applied_generation=generation if done else None)
        row.save()
    return True


def record_retry(kind: Kind, pk: int, error: graph.GraphError, result: SyncResult) -> None:
    """Microsoft is busy or unreachable: keep the intent, come back later."""

    def update(row):
        row.retry_later(error)
        return False

    record(kind, pk, None, update)
    result.retrying += 1


def record_failure(
    kind: Kind,
    pk: int,
    generation: int | None,
    error: graph.GraphError,
    result: SyncResult,
    *,
    event_type: str,
    details: dict | None = None,
) -> None:
    """Microsoft refused this change: the row shows why and waits for a fix or a retry
    (not retried by itself: it would fail the same way); the others go on."""

    def update(row):
        row.fail(error)
        kind.event(
            row,
            event_type,
            outcome="failure",
            details={**row.error_details(), **(details or {})},
        )
        return True

    record(kind, pk, generation, update)
    result.failed += 1
