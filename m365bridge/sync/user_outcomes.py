"""The user kind (`USERS`: what the engine claims, security-relevant rows first) and how
the outcome of each write to a user's Microsoft 365 account is recorded, with its
event: a chunk of accepted writes at once (`record_successes`, `sync.chunk_record`),
everything else row by row (`engine.record`)."""

from __future__ import annotations

from functools import partial

from django.db import IntegrityError
from django.db.models import F, Q
from django.utils import timezone

from directory.models import User

from .. import graph
from ..models import UserBinding
from . import brake, engine, intent, restore, user_events
from . import plan as planning
from .chunk_record import Outcome, record_chunk
from .engine import DELETED, SyncResult

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


def record_successes(claimed, successes, result: SyncResult) -> None:
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
            alone=partial(record_success, binding, plan, result, created=reply),
        )
        for binding, plan, reply in successes
    ]

    def after(rows) -> None:
        intent.members_accounts_changed(tenant_id=result.tenant_id, changes=follow)

    if record_chunk(USERS, outcomes, claimed={b.pk: b for b in claimed}, after=after):
        result.merge(tally)


def record_success(binding, plan, result, *, created=None, took_over=False) -> None:
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
        record_failure(binding, plan, error, result)
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


def record_removed(binding, plan, result, *, blocked: bool = False) -> None:
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


def record_error(binding, plan, error: graph.GraphError, result) -> None:
    if error.retryable:
        engine.record_retry(USERS, binding.pk, error, result)
    elif isinstance(error, graph.NotFound) and plan is not None and plan.action == planning.UPDATE:
        _record_account_gone(binding, result)
    elif (
        isinstance(error, graph.NotFound)
        and plan is not None
        and plan.action == planning.BLOCK_AND_REMOVE
    ):
        record_removed(binding, plan, result)
    else:
        record_failure(binding, plan, error, result)


def record_waiting(binding, plan, error, result) -> None:
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


def record_gone_for_good(binding, result) -> None:
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


def record_failure(binding, plan, error: graph.GraphError, result) -> None:
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
