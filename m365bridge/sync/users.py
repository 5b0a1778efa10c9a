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
from functools import partial
from urllib.parse import quote

from django.db import IntegrityError
from django.db.models import F, Q
from django.utils import timezone

from directory.models import User

from .. import graph
from ..graph import BatchRequest
from ..models import UserBinding
from . import brake, engine, intent, restore, user_events
from . import plan as planning
from .chunk_record import Outcome, record_chunk
from .engine import DELETED, SyncResult

log = logging.getLogger(__name__)

# A change that blocks or allows sign-in or sets a password of an account that exists:
# claimed before creates and attribute updates (the same tests as `plan.binding_plan`).
_SIGN_IN_ALLOWED = ~Q(user__status=User.SUSPENDED) & Q(user__password_expired_at__isnull=True)
SECURITY_RELEVANT = ~Q(microsoft_id="") & (
    Q(bound=False)
    | Q(user__isnull=True)
    | (~Q(password_encrypted="") & Q(password_version__gt=F("password_pushed_version")))
    | (Q(known_enabled=True) & ~_SIGN_IN_ALLOWED)
    | (Q(known_enabled=False) & _SIGN_IN_ALLOWED)
)

USERS = engine.Kind(
    model=UserBinding,
    related=("user", "tenant__organization"),
    ready=brake.not_held,
    urgent=SECURITY_RELEVANT,
)

ALREADY_LINKED = "This Microsoft 365 account is already bound to another Stratus user."


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
            _record_failure(binding, None, engine.as_graph_error(exc), result)
            continue
        if binding.state == UserBinding.HELD and not is_block(plan):
            unheld.append(binding.pk)
        if plan.action == planning.NOTHING:
            nothing.append((binding, plan, None))
        elif plan.action == planning.REMOVE:
            _record_removed(binding, plan, result)
        elif plan.action == planning.RESTORE:
            restores.append((binding, plan))
        else:
            writes.append((binding, plan))
    _record_successes(bindings, nothing, result)
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
                _record_error(binding, plan, reply, result)
        elif plan.action == planning.BLOCK_AND_REMOVE:
            _record_removed(binding, plan, result, blocked=True)
        elif plan.action == planning.UPDATE and plan.revoke_sessions:
            revokes.append((binding, plan))
        else:
            successes.append((binding, plan, reply))
    _record_successes(chunk.claimed, successes, result)
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
    if pks:
        UserBinding.objects.filter(pk__in=pks).update(creates_sent=F("creates_sent") + 1)


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
            _record_error(binding, plan, reply, result)
        else:
            _record_success(binding, plan, result)


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
            _record_waiting(binding, plan, account, result)
        elif isinstance(account, graph.GraphError):
            _record_error(binding, plan, account, result)
        elif not isinstance(account, dict):
            error = graph.GraphError("Microsoft 365 returned no account.")
            _record_error(binding, plan, error, result)
        elif _linked_elsewhere(binding, account["id"]):
            error = graph.Conflict(ALREADY_LINKED, code="already_linked")
            _record_failure(binding, plan, error, result)
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
            _record_error(binding, takeover, reply, result)
        else:
            _record_success(binding, takeover, result, created={"id": microsoft_id}, took_over=True)


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
            _record_gone_for_good(binding, result)
        elif isinstance(reply, graph.GraphError):
            _record_error(binding, plan, reply, result)
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
            _record_error(binding, update, reply, result)
        else:
            _record_success(binding, update, result, created={"id": binding.microsoft_id})


# --- recording outcomes -------------------------------------------------------------------------


def _record_successes(claimed, successes, result: SyncResult) -> None:
    """Accepted writes (and rows that needed none) of one chunk, recorded in one
    transaction (`chunk_record`): one event per accepted write, compare-and-set on each
    row's generation; one row at a time if the chunk cannot be recorded whole."""
    if not successes:
        return
    tally, follow = SyncResult(tenant_id=result.tenant_id), []
    outcomes = [
        Outcome(
            pk=binding.pk,
            generation=plan.generation,
            update=partial(_applied, plan=plan, result=tally, created=reply, follow=follow),
            alone=partial(_record_success, binding, plan, result, created=reply),
        )
        for binding, plan, reply in successes
    ]

    def after(rows) -> None:
        intent.members_accounts_changed(tenant_id=result.tenant_id, changes=follow)

    if record_chunk(USERS, outcomes, claimed={b.pk: b for b in claimed}, after=after):
        result.merge(tally)


def _record_success(binding, plan, result, *, created=None, took_over=False) -> None:
    tally = SyncResult(tenant_id=result.tenant_id)  # counted once it is committed
    try:
        engine.record(
            USERS,
            binding.pk,
            plan.generation,
            lambda row: _applied(
                row, plan=plan, result=tally, created=created, took_over=took_over
            ),
        )
    except IntegrityError:  # the Microsoft account is already linked to another binding
        error = graph.Conflict(ALREADY_LINKED, code="already_linked")
        _record_failure(binding, plan, error, result)
    else:
        result.merge(tally)


def _applied(row, *, plan, result, created, took_over=False, follow=None) -> bool:
    """Apply an accepted write to its locked row (with its events). `follow`, when
    given, gathers the group follow-ups of created accounts for the whole chunk."""
    now = timezone.now()
    creating = plan.action == planning.CREATE
    if creating:
        row.microsoft_id = str((created or {}).get("id") or row.microsoft_id)
    if plan.action != planning.NOTHING:
        row.known_properties = plan.desired
        row.known_enabled = plan.enabled
        if plan.drift and row.drift == plan.drift:
            row.drift = {}  # overwritten; a newer reconcile's finding stays
        if plan.password is not None and plan.password_retained:
            row.password_pushed_version = max(row.password_pushed_version, plan.password_version)
            row.password_pushed_at = now
        if creating:
            user_events.created(row, plan, took_over=took_over)
        else:
            user_events.updated(row, plan)
        restore.on_applied(row, plan, creating=creating, took_over=took_over)
        if creating:
            row.creates_sent = 0
            change = (row.user_id, [row.microsoft_id], row.intent_actor_id)
            if follow is not None:
                follow.append(change)
            else:
                intent.members_accounts_changed(tenant_id=row.tenant_id, changes=[change])
        result.applied += 1
        result.count(plan.action)
    if row.known_enabled is not None:
        row.state = UserBinding.PROVISIONED if row.known_enabled else UserBinding.BLOCKED
    row.synced_at = now
    row.succeed()
    return True


def _record_removed(binding, plan, result, *, blocked: bool = False) -> None:
    """The account is blocked (or never existed): forget the binding, unless it was
    bound again meanwhile (then the next round unblocks it)."""

    def update(row):
        if blocked:
            row.known_enabled = False
            row.state = UserBinding.BLOCKED
            USERS.event(
                row,
                "user_deprovision",
                details={
                    "microsoft_id": row.microsoft_id,
                    "account_enabled": False,
                    "unbound": True,
                    "reason": user_events.block_reason(row, plan),
                },
            )
            result.applied += 1
            result.count("block")
        if not row.bound and row.generation == plan.generation:
            # Its security groups drop the account (G1).
            intent.member_account_changed(
                tenant_id=row.tenant_id,
                user_id=None,
                microsoft_ids=[row.microsoft_id],
                actor_id=row.intent_actor_id,
            )
            row.delete()
            return DELETED
        return False

    engine.record(USERS, binding.pk, plan.generation, update)


def _record_error(binding, plan, error: graph.GraphError, result) -> None:
    if error.retryable:
        engine.record_retry(USERS, binding.pk, error, result)
    elif isinstance(error, graph.NotFound) and plan is not None and plan.action == planning.UPDATE:
        _record_account_gone(binding, result)
    elif (
        isinstance(error, graph.NotFound)
        and plan is not None
        and plan.action == planning.BLOCK_AND_REMOVE
    ):
        _record_removed(binding, plan, result)
    else:
        _record_failure(binding, plan, error, result)


def _record_waiting(binding, plan, error, result) -> None:
    """The address is taken by an account in Microsoft's deleted items (P7): wait, with
    backoff, and tell the admin why."""
    waiting = True

    def update(row):
        nonlocal waiting
        row.attempts += 1
        row.record_error(error)
        # Growing intervals for up to 30 days, then an error (sync.restore).
        waiting = restore.binding_wait(row, plan)
        if not waiting:
            USERS.event(
                row,
                "user_create_provision",
                outcome="failure",
                details={"code": row.last_error_code, "message": row.last_error_message},
            )
        return not waiting

    engine.record(USERS, binding.pk, plan.generation, update)
    if waiting:
        result.retrying += 1
    else:
        result.failed += 1


def _record_account_gone(binding, result) -> None:
    """The linked account no longer exists: the next round restores it from Microsoft's
    deleted items, or creates it again (P7, sync.restore)."""

    def update(row):
        restore.binding_missing(row)
        return False

    engine.record(USERS, binding.pk, None, update)
    result.retrying += 1


def _record_gone_for_good(binding, result) -> None:
    def update(row):
        restore.binding_gone_for_good(row)
        return False

    engine.record(USERS, binding.pk, None, update)
    result.retrying += 1


_EVENT_FOR_ACTION = {
    planning.CREATE: "user_create_provision",
    planning.BLOCK_AND_REMOVE: "user_deprovision",
}


def _failed_event_type(plan) -> str:
    if plan is None:
        return "user_update_provision"
    if plan.action in _EVENT_FOR_ACTION:
        return _EVENT_FOR_ACTION[plan.action]
    if "accountEnabled" in plan.body:
        return "user_reactivate_provision" if plan.enabled else "user_deprovision"
    if not plan.properties and plan.password is not None:
        return "user_password_update_provision"
    return "user_update_provision"


def _record_failure(binding, plan, error: graph.GraphError, result) -> None:
    details = {"properties": plan.properties} if plan is not None and plan.properties else {}
    engine.record_failure(
        USERS,
        binding.pk,
        plan.generation if plan is not None else None,
        error,
        result,
        event_type=_failed_event_type(plan),
        details=details,
    )
