"""The user kind: one chunk of claimed user bindings, from plans to recorded outcomes.

Each binding's plan (`sync.plan`) is one write: `POST /users` with every attribute and
a password, or a `PATCH` of only what changed. A create that Microsoft answers "already
exists" links the existing account instead (takeover), which also makes a crash
between Microsoft's 201 and our commit harmless: the retry links, never duplicates. An
account deleted in Microsoft is restored first (`sync.restore`, P7). A password that
overwrote one changed in Microsoft is followed by `revokeSignInSessions` (P5).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import quote

from django.db import connection
from django.db.models import F

from .. import graph
from ..graph import BatchRequest
from ..models import UserBinding
from . import brake, engine, restore, user_events
from . import plan as planning
from .engine import SyncResult
from .user_outcomes import (
    ALREADY_LINKED,
    record_error,
    record_failure,
    record_gone_for_good,
    record_removed,
    record_success,
    record_successes,
    record_waiting,
)
from .user_outcomes import USERS as USERS  # the kind, where the runner looks for it

log = logging.getLogger(__name__)


@dataclass
class ChunkWrites:
    """One chunk between planning and recording: the rows claimed and the writes to
    send for them."""

    claimed: list[UserBinding]
    writes: list = field(default_factory=list)  # (binding, plan)


def chunk_sync(client, bindings: list[UserBinding], result: SyncResult) -> None:
    """Plan, send and record one chunk of claimed user bindings."""
    chunk = chunk_begin(client, bindings, result)
    chunk_finish(client, chunk, chunk_send(client, chunk), result)


def chunk_begin(client, bindings: list[UserBinding], result: SyncResult) -> ChunkWrites:
    """Plan a chunk, record what needs no write, and note the creates about to leave;
    returns the writes for `chunk_send`."""
    writes, restores, unheld, nothing = [], [], [], []
    for binding in bindings:
        try:
            plan = planning.binding_plan(binding)
        except Exception as exc:  # one bad binding never stops the others
            log.exception("planning binding %s failed", binding.pk, extra={"binding": binding.pk})
            record_failure(binding, None, engine.as_graph_error(exc), result)
            continue
        if binding.state == UserBinding.HELD and not is_block(plan):
            unheld.append(binding.pk)
        if plan.action == planning.NOTHING:
            nothing.append((binding, plan, None))
        elif plan.action == planning.REMOVE:
            record_removed(binding, plan, result)
        elif plan.action == planning.RESTORE:
            restores.append((binding, plan))
        else:
            writes.append((binding, plan))
    record_successes(bindings, nothing, result)
    brake.released_settle(binding_ids=unheld)
    if restores:
        _restore(client, restores, result)
    writes = _through_brake(writes, result)
    _note_creates_sent([b.pk for b, p in writes if p.action == planning.CREATE])
    return ChunkWrites(claimed=bindings, writes=writes)


def chunk_send(client, chunk: ChunkWrites) -> dict[str, object]:
    """Put a chunk's writes on the wire; the database is not touched, so the runner
    may call this on another thread while it records the chunk before."""
    return _send_by_priority(client, chunk.writes) if chunk.writes else {}


def chunk_finish(client, chunk: ChunkWrites, replies: dict, result: SyncResult) -> None:
    """Record a chunk's replies (and send what follows from them: takeovers, revokes)."""
    if chunk.writes:
        _record_replies(client, chunk, replies, result)


def is_block(plan: planning.Plan) -> bool:
    """The write turns sign-in off: what the deprovision brake counts."""
    return plan.action == planning.BLOCK_AND_REMOVE or (
        plan.action == planning.UPDATE and plan.body.get("accountEnabled") is False
    )


def _through_brake(writes, result: SyncResult) -> list:
    """The writes to send now: blocks beyond the tenant's brake are held (`sync.brake`),
    keeping their intent, and counted in `result.counts["held"]`."""
    blocks = [(b, p, user_events.block_reason(b, p)) for b, p in writes if is_block(p)]
    if not blocks:
        return writes
    _, held = brake.blocks_admit(tenant=blocks[0][0].tenant, blocks=blocks)
    held_ids = {b.pk for b, _, _ in held}
    for _ in held:
        result.count("held")
    return [(b, p) for b, p in writes if b.pk not in held_ids]


def _write_request(binding: UserBinding, plan: planning.Plan) -> BatchRequest:
    if plan.action == planning.CREATE:
        return BatchRequest(id=str(binding.pk), method="POST", url="/users", body=plan.graph_body())
    return BatchRequest(
        id=str(binding.pk),
        method="PATCH",
        url=f"/users/{binding.microsoft_id}",
        body=plan.graph_body(),
    )


def security_relevant(plan: planning.Plan) -> bool:
    """Blocks sign-in, allows it again, or sets the password of an existing account."""
    if plan.action == planning.BLOCK_AND_REMOVE:
        return True
    return plan.action == planning.UPDATE and (
        plan.password is not None or "accountEnabled" in plan.body
    )


def _send_by_priority(client, writes) -> dict[str, object]:
    """Security-relevant writes first and at `high` priority (they may use the budget's
    reserve); creates and attribute updates after them, as bulk work (`low`), which
    waits at most `engine.BULK_PATIENCE` for the budget."""
    urgent = [(b, p) for b, p in writes if security_relevant(p)]
    bulk = [(b, p) for b, p in writes if not security_relevant(p)]
    replies = engine.send(client, [_write_request(b, p) for b, p in urgent], priority="high")
    replies.update(
        engine.send(
            client,
            [_write_request(b, p) for b, p in bulk],
            priority="low",
            patience=engine.BULK_PATIENCE,
        )
    )
    return replies


def _record_replies(client, chunk: ChunkWrites, replies: dict, result: SyncResult) -> None:
    takeovers, revokes, successes, later = [], [], [], []
    for binding, plan in chunk.writes:
        reply = replies[str(binding.pk)]
        if _left_for_later(reply):
            later.append((binding, plan, reply))
        elif isinstance(reply, graph.GraphError):
            if plan.action == planning.CREATE and isinstance(reply, graph.Conflict):
                takeovers.append((binding, plan))
            else:
                record_error(binding, plan, reply, result)
        elif plan.action == planning.BLOCK_AND_REMOVE:
            record_removed(binding, plan, result, blocked=True)
        elif plan.action == planning.UPDATE and plan.revoke_sessions:
            revokes.append((binding, plan))
        else:
            successes.append((binding, plan, reply))
    record_successes(chunk.claimed, successes, result)
    if later:
        _leave_for_later(later, result)
    if takeovers:
        _take_over(client, takeovers, result)
    if revokes:
        _revoke_sessions(client, revokes, result)


def _left_for_later(reply) -> bool:
    """Bulk work the write budget had no room for within its patience: never sent."""
    return isinstance(reply, graph.Throttled) and reply.code == "write_budget"


def _leave_for_later(later, result: SyncResult) -> None:
    """Release these rows unsent (their creates were not sent after all), and tell the
    runner when the budget has room again."""
    pks = [b.pk for b, _, _ in later]
    creates = [b.pk for b, p, _ in later if p.action == planning.CREATE]
    UserBinding.objects.filter(pk__in=creates, creates_sent__gt=0).update(
        creates_sent=F("creates_sent") - 1
    )
    UserBinding.objects.filter(pk__in=pks).update(claim_token="", claimed_until=None)
    wait = max((r.retry_after or engine.BULK_PATIENCE) for _, _, r in later)
    result.budget_wait = max(result.budget_wait, wait)
    result.count("left_for_later")


def _note_creates_sent(pks: list[int]) -> None:
    """Committed before the creates leave, so that a worker dying after Microsoft's 201
    leaves a trace: the retry then reports the account it links as its own earlier
    create, not as someone else's account taken over."""
    if not pks:
        return
    if connection.vendor != "postgresql":
        UserBinding.objects.filter(pk__in=pks).update(creates_sent=F("creates_sent") + 1)
        return
    meta = UserBinding._meta  # in SQL of its own: one per chunk, the compile cost the most
    quote = connection.ops.quote_name
    sent, pk = quote(meta.get_field("creates_sent").column), quote(meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {sent} = {sent} + 1 WHERE {pk} = ANY(%s)",  # noqa: S608 - names from the model
            [pks],
        )


def _revoke_sessions(client, revokes, result: SyncResult) -> None:
    """A password changed in Microsoft 365 was overwritten (P5): end the sessions signed
    in with it. If that fails the push counts as not done, so it is sent again with its
    revoke (pushing the same password twice changes nothing)."""
    replies = engine.send(
        client,
        [
            BatchRequest(
                id=str(b.pk), method="POST", url=f"/users/{b.microsoft_id}/revokeSignInSessions"
            )
            for b, _ in revokes
        ],
        priority="high",  # the rest of a password push: security-relevant
    )
    for binding, plan in revokes:
        reply = replies[str(binding.pk)]
        if isinstance(reply, graph.GraphError):
            record_error(binding, plan, reply, result)
        else:
            record_success(binding, plan, result)


def _take_over(client, takeovers, result: SyncResult) -> None:
    """Microsoft already has an account with this UPN: find it, link it, overwrite it."""
    found = engine.send(
        client,
        [
            BatchRequest(
                id=str(b.pk),
                method="GET",
                url=(
                    f"/users/{quote(p.desired['userPrincipalName'], safe='@')}"
                    "?$select=id,accountEnabled,userPrincipalName"
                ),
            )
            for b, p in takeovers
        ],
    )
    patches = []
    for binding, plan in takeovers:
        account = found[str(binding.pk)]
        if isinstance(account, graph.NotFound):
            # The address is held by a deleted account (Microsoft keeps it 30 days).
            record_waiting(binding, plan, account, result)
        elif isinstance(account, graph.GraphError):
            record_error(binding, plan, account, result)
        elif not isinstance(account, dict):
            error = graph.GraphError("Microsoft 365 returned no account.")
            record_error(binding, plan, error, result)
        elif _linked_elsewhere(binding, account["id"]):
            error = graph.Conflict(ALREADY_LINKED, code="already_linked")
            record_failure(binding, plan, error, result)
        else:
            takeover = planning.takeover_plan(plan)
            takeover.previously_enabled = account.get("accountEnabled")
            patches.append((binding, takeover, str(account["id"])))
    replies = engine.send(
        client,
        [
            BatchRequest(id=str(b.pk), method="PATCH", url=f"/users/{i}", body=t.graph_body())
            for b, t, i in patches
        ],
    )
    for binding, takeover, microsoft_id in patches:
        reply = replies[str(binding.pk)]
        if isinstance(reply, graph.GraphError):
            record_error(binding, takeover, reply, result)
        else:
            record_success(binding, takeover, result, created={"id": microsoft_id}, took_over=True)


def _linked_elsewhere(binding: UserBinding, microsoft_id: str) -> bool:
    return (
        UserBinding.objects.filter(tenant_id=binding.tenant_id, microsoft_id=microsoft_id)
        .exclude(pk=binding.pk)
        .exists()
    )


def _restore(client, restores, result: SyncResult) -> None:
    """Restore each missing account from Microsoft's deleted items, then PATCH it up to
    date; an account Microsoft no longer has is created again by the next round."""
    replies = engine.send(client, [restore.restore_request(b) for b, _ in restores])
    patches = []
    for binding, plan in restores:
        reply = replies[str(binding.pk)]
        if isinstance(reply, graph.NotFound):
            record_gone_for_good(binding, result)
        elif isinstance(reply, graph.GraphError):
            record_error(binding, plan, reply, result)
        else:
            update = planning.takeover_plan(plan)
            update.restored, update.drift = True, dict(plan.drift)
            patches.append((binding, update))
    replies = engine.send(
        client,
        [
            BatchRequest(
                id=str(b.pk), method="PATCH", url=f"/users/{b.microsoft_id}", body=u.graph_body()
            )
            for b, u in patches
        ],
    )
    for binding, update in patches:
        reply = replies[str(binding.pk)]
        if isinstance(reply, graph.GraphError):
            record_error(binding, update, reply, result)
        else:
            record_success(binding, update, result, created={"id": binding.microsoft_id})
