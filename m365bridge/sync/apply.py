"""Claim dirty bindings of one tenant, send their writes, record each outcome.

A worker claims a chunk with a conditional UPDATE (rows whose lease is free and whose
next attempt is due, `SKIP LOCKED`), so two workers never send the same change. Writes
go out 20 per `$batch` within the tenant's shared write budget. Each binding's outcome
is recorded in its own transaction together with its event; the binding is clean only
if its generation did not move meanwhile (compare-and-set), otherwise the newer intent
is sent by the next round. A create that Microsoft answers "already exists" links the
existing account instead (takeover), which also makes a crash between Microsoft's 201
and our commit harmless: the retry links, never duplicates.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from .. import graph
from ..events import binding_event
from ..graph import BatchRequest
from ..licences import bindings_licence_assign
from ..models import GroupBinding, Tenant, UserBinding
from ..tenants import tenant_graph_session
from . import groups, lifecycle
from . import plan as planning
from .intent import sync_send

log = logging.getLogger(__name__)

CHUNK = graph.client.BATCH_SIZE  # bindings claimed at once: one $batch
MAX_RETRY_WAIT = 30.0  # a longer Retry-After is scheduled on the binding, not slept on
SWEEP_GRACE = 20  # seconds an intent may wait for its own task before the sweep resends


def _lease() -> timedelta:
    """How long a claim holds. It must outlast the slowest chunk (write budget wait up to
    120 s, a few Retry-After rounds up to 30 s): a shorter lease could let a second
    worker send the same change. A dead worker's claims are free again after it."""
    return timedelta(seconds=getattr(settings, "M365_SYNC_LEASE_SECONDS", 300))


@dataclass
class SyncResult:
    tenant_id: int
    held: str = ""  # why nothing was done ("needs_reauthorization", ...)
    applied: int = 0
    failed: int = 0
    retrying: int = 0
    counts: dict = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


# --- claiming ----------------------------------------------------------------------------


def _due(tenant_id: int, now):
    return (
        UserBinding.objects.filter(tenant_id=tenant_id, needs_sync=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    )


def bindings_claim(*, tenant_id: int, token: str, limit: int = CHUNK) -> list[UserBinding]:
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            _due(tenant_id, now)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        UserBinding.objects.filter(pk__in=ids).update(
            claim_token=token, claimed_until=now + _lease()
        )
    return list(
        UserBinding.objects.filter(pk__in=ids, claim_token=token)
        .select_related("user", "tenant")
        .order_by("pk")
    )


def _claims_release(token: str) -> None:
    UserBinding.objects.filter(claim_token=token).update(claim_token="", claimed_until=None)


# --- one tenant ---------------------------------------------------------------------------


def tenant_sync(*, tenant_id: int, time_limit: float = 50.0) -> SyncResult:
    """Apply every due change of one tenant (until `time_limit`; the caller re-queues)."""
    result = SyncResult(tenant_id=tenant_id)
    tenant = Tenant.objects.select_related("organization").filter(pk=tenant_id).first()
    if tenant is None or not tenant.can_sync:
        result.held = tenant.status if tenant else "missing"
        return result
    token = uuid.uuid4().hex
    deadline = time.monotonic() + time_limit
    try:
        with tenant_graph_session(tenant=tenant) as client:
            client.config = dataclasses.replace(client.config, max_retry_wait=MAX_RETRY_WAIT)
            helper_asked = False
            while time.monotonic() < deadline:
                claimed = bindings_claim(tenant_id=tenant_id, token=token)
                if not claimed:
                    break
                if len(claimed) == CHUNK and not helper_asked:
                    # More work than one $batch: ask one more worker to join. Each
                    # helper does the same, so idle workers join within a few batches;
                    # the shared write budget keeps them all within Microsoft's quota.
                    sync_send(tenant_id=tenant_id)
                    helper_asked = True
                _apply_chunk(client, tenant, claimed, token, result)
                bindings_licence_assign(
                    client=client, tenant=tenant, binding_ids=[b.pk for b in claimed], result=result
                )
            # Security groups after the users, so that new members' accounts exist (G1).
            groups.groups_sync(
                client=client, tenant=tenant, result=result, deadline=deadline, lease=_lease()
            )
    except graph.NeedsReauthorization:
        result.held = Tenant.NEEDS_REAUTHORIZATION  # work stays dirty for after re-authorizing
    finally:
        _claims_release(token)
    _schedule_next(tenant_id, deadline_passed=time.monotonic() >= deadline)
    return result


def _schedule_next(tenant_id: int, *, deadline_passed: bool) -> None:
    """Come back soon for what is due shortly (Retry-After) or left over; the sweep
    covers anything further away."""
    if deadline_passed:
        sync_send(tenant_id=tenant_id)
        return
    soonest = UserBinding.objects.filter(
        tenant_id=tenant_id, needs_sync=True, next_attempt_at__isnull=False
    ).aggregate(soonest=Min("next_attempt_at"))["soonest"]
    if soonest is not None:
        wait = (soonest - timezone.now()).total_seconds()
        if 0 < wait <= 60:
            sync_send(tenant_id=tenant_id, countdown=wait + 0.2)


def _apply_chunk(client, tenant, bindings, token, result) -> None:
    plans: dict[int, planning.Plan] = {}
    for binding in bindings:
        try:
            plans[binding.pk] = planning.binding_plan(binding)
        except Exception as exc:  # one bad binding never stops the others
            log.exception("planning binding %s failed", binding.pk)
            _record_failure(binding, None, _internal_error(exc), token, result)
    by_pk = {b.pk: b for b in bindings}
    requests_, sent, restores = [], {}, []
    for pk, plan in plans.items():
        binding = by_pk[pk]
        if plan.action == planning.NOTHING:
            _record_success(binding, plan, token, result)
        elif plan.action == planning.REMOVE:
            _record_removed(binding, plan, token, result)
        elif plan.action == planning.RESTORE:
            restores.append((binding, plan))
        elif plan.action == planning.CREATE:
            requests_.append(
                BatchRequest(id=str(pk), method="POST", url="/users", body=plan.graph_body())
            )
            sent[str(pk)] = plan
        else:
            requests_.append(
                BatchRequest(
                    id=str(pk),
                    method="PATCH",
                    url=f"/users/{binding.microsoft_id}",
                    body=plan.graph_body(),
                )
            )
            sent[str(pk)] = plan
    if restores:  # accounts deleted in Microsoft 365 (P7)
        lifecycle.accounts_restore(client, restores, token, result)
    if not requests_:
        return
    _note_creates_sent(
        [int(i) for i, plan in sent.items() if plan.action == planning.CREATE], token
    )
    takeovers, revokes = [], []
    for request_id, outcome in _send(client, requests_).items():
        plan, binding = sent[request_id], by_pk[int(request_id)]
        if isinstance(outcome, graph.GraphError):
            if plan.action == planning.CREATE and isinstance(outcome, graph.Conflict):
                takeovers.append((binding, plan))
            else:
                _record_error(binding, plan, outcome, token, result)
        elif plan.action == planning.BLOCK_AND_REMOVE:
            _record_removed(binding, plan, token, result, blocked=True)
        elif plan.action == planning.UPDATE and plan.revoke_sessions:
            revokes.append((binding, plan))
        else:
            _record_success(binding, plan, token, result, created=outcome)
    if takeovers:
        _take_over(client, takeovers, token, result)
    if revokes:
        _revoke_sessions(client, revokes, token, result)


def _note_creates_sent(pks: list[int], token: str) -> None:
    """Committed before the creates leave, so that a worker dying after Microsoft's 201
    leaves a trace: the retry then reports the account it links as its own earlier
    create, not as someone else's account taken over."""
    if pks:
        UserBinding.objects.filter(pk__in=pks, claim_token=token).update(
            creates_sent=F("creates_sent") + 1
        )


def _revoke_sessions(client, revokes, token, result) -> None:
    """A password changed in Microsoft 365 was overwritten (P5): end the sessions signed
    in with it. If that fails the push counts as not done, so it is sent again with its
    revoke (pushing the same password twice changes nothing)."""
    requests_ = [
        BatchRequest(
            id=str(b.pk), method="POST", url=f"/users/{b.microsoft_id}/revokeSignInSessions"
        )
        for b, _ in revokes
    ]
    outcomes = _send(client, requests_)
    for binding, plan in revokes:
        outcome = outcomes[str(binding.pk)]
        if isinstance(outcome, graph.GraphError):
            _record_error(binding, plan, outcome, token, result)
        else:
            _record_success(binding, plan, token, result)


def _send(client, requests_: list[BatchRequest]) -> dict[str, object]:
    """Each request's created object (dict), True, or its GraphError. A failure of the
    whole `$batch` (budget exhausted, Microsoft unreachable) is every item's failure."""
    try:
        results = client.batch(requests_)
    except graph.NeedsReauthorization:
        raise
    except graph.GraphError as exc:
        return {r.id: exc for r in requests_}
    return {
        r.id: (r.error if r.error else (r.body if isinstance(r.body, dict) else True))
        for r in results
    }


def _take_over(client, takeovers, token, result) -> None:
    """Microsoft already has an account with this UPN: find it, link it, overwrite it."""
    lookups = [
        BatchRequest(
            id=str(b.pk),
            method="GET",
            url=(
                f"/users/{quote(p.desired['userPrincipalName'], safe='@')}"
                "?$select=id,accountEnabled,userPrincipalName"
            ),
        )
        for b, p in takeovers
    ]
    found = _send(client, lookups)
    patches, plans = [], {}
    for binding, plan in takeovers:
        account = found[str(binding.pk)]
        if isinstance(account, graph.NotFound):
            # The address is held by a deleted account (Microsoft keeps it 30 days).
            _record_waiting(binding, plan, account, token, result)
            continue
        if isinstance(account, graph.GraphError) or not isinstance(account, dict):
            _record_error(
                binding,
                plan,
                account
                if isinstance(account, graph.GraphError)
                else graph.GraphError("Microsoft 365 returned no account."),
                token,
                result,
            )
            continue
        other = UserBinding.objects.filter(
            tenant_id=binding.tenant_id, microsoft_id=account["id"]
        ).exclude(pk=binding.pk)
        if other.exists():
            _record_failure(
                binding,
                plan,
                graph.Conflict(
                    "The Microsoft 365 account with this address is already bound to another "
                    "Stratus user.",
                    code="already_linked",
                ),
                token,
                result,
            )
            continue
        takeover = planning.takeover_plan(plan)
        takeover.previously_enabled = account.get("accountEnabled")
        plans[str(binding.pk)] = (binding, takeover, account["id"])
        patches.append(
            BatchRequest(
                id=str(binding.pk),
                method="PATCH",
                url=f"/users/{account['id']}",
                body=takeover.graph_body(),
            )
        )
    if not patches:
        return
    for request_id, outcome in _send(client, patches).items():
        binding, takeover, microsoft_id = plans[request_id]
        if isinstance(outcome, graph.GraphError):
            _record_error(binding, takeover, outcome, token, result)
        else:
            _record_success(
                binding, takeover, token, result, created={"id": microsoft_id}, took_over=True
            )


# --- recording outcomes (one transaction per binding, with its event) ------------------------


def _locked(binding: UserBinding) -> UserBinding | None:
    """The binding's current row, locked; None if it is gone (tenant deauthorized)."""
    return (
        UserBinding.objects.select_for_update(of=("self",))
        .select_related("tenant__organization", "user", "intent_actor")
        .filter(pk=binding.pk)
        .first()
    )


def _release(row: UserBinding, plan: planning.Plan | None, *, clean: bool) -> None:
    row.release_claim(applied_generation=plan.generation if clean and plan is not None else None)


def _event(row: UserBinding, type_: str, *, outcome: str = "success", details=None) -> None:
    binding_event(row, type_, outcome=outcome, details=details)


def _events_for(row: UserBinding, plan: planning.Plan, *, created: bool, took_over: bool) -> None:
    base = {"microsoft_id": row.microsoft_id}
    if created:
        # An earlier create of ours whose reply was lost is linked, not "taken over".
        own_earlier = took_over and row.creates_sent > 1
        details = {
            **base,
            "took_over_existing": took_over and not own_earlier,
            "password_set": "stratus"
            if plan.password_retained
            else ("unchanged" if took_over else "random"),
            "account_enabled": plan.enabled,
        }
        if own_earlier:
            details["linked_after_lost_reply"] = True
        details.update(lifecycle.create_details(plan))
        _event(row, "user_create_provision", details=details)
        if took_over and getattr(plan, "previously_enabled", None) is False and plan.enabled:
            _event(row, "user_reactivate_provision", details={**base, "took_over_existing": True})
        return
    drift = plan.drift
    if plan.properties:
        details = {**base, "properties": plan.properties}
        if drift.get("properties"):
            details.update(reason="drift", drifted=sorted(drift["properties"]))
        _event(row, "user_update_provision", details=details)
    if plan.password is not None:
        details = dict(base)
        if drift.get("password"):
            details.update(reason="drift", sessions_revoked=plan.revoke_sessions)
        _event(row, "user_password_update_provision", details=details)
    if "accountEnabled" in plan.body:
        details = {**base, "account_enabled": plan.enabled, **lifecycle.enabled_details(row, plan)}
        if drift.get("enabled"):
            details["reason"] = "drift"
        _event(
            row,
            "user_reactivate_provision" if plan.enabled else "user_deprovision",
            details=details,
        )


def _record_success(binding, plan, token, result, *, created=None, took_over=False) -> None:
    try:
        _record_applied(binding, plan, result, created=created, took_over=took_over)
    except IntegrityError:  # the Microsoft account is already linked to another binding
        _record_failure(
            binding,
            plan,
            graph.Conflict(
                "This Microsoft 365 account is already bound to another Stratus user.",
                code="already_linked",
            ),
            token,
            result,
        )


def _record_applied(binding, plan, result, *, created=None, took_over=False) -> None:
    with transaction.atomic():
        row = _locked(binding)
        if row is None:
            return
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
                row.password_pushed_version = max(
                    row.password_pushed_version, plan.password_version
                )
                row.password_pushed_at = now
            _events_for(row, plan, created=creating, took_over=took_over)
            lifecycle.on_applied(row, plan, creating=creating, took_over=took_over)
            if creating:
                row.creates_sent = 0
                groups.member_account_changed(
                    tenant_id=row.tenant_id,
                    user_id=row.user_id,
                    microsoft_ids=[row.microsoft_id],
                    actor_id=row.intent_actor_id,
                )
            result.applied += 1
            result.count(plan.action)
        if row.known_enabled is not None:
            row.state = UserBinding.PROVISIONED if row.known_enabled else UserBinding.BLOCKED
        row.synced_at = now
        row.succeed()
        _release(row, plan, clean=True)
        row.save()


def _record_removed(binding, plan, token, result, *, blocked: bool = False) -> None:
    """The account is blocked (or never existed): forget the binding, unless it was
    bound again meanwhile (then the next round unblocks it)."""
    with transaction.atomic():
        row = _locked(binding)
        if row is None:
            return
        if blocked:
            row.known_enabled = False
            row.state = UserBinding.BLOCKED
            _event(
                row,
                "user_deprovision",
                details={
                    "microsoft_id": row.microsoft_id,
                    "account_enabled": False,
                    "unbound": True,
                },
            )
            result.applied += 1
            result.count("block")
        if not row.bound and row.generation == plan.generation:
            # Its security groups drop the account (G1).
            groups.member_account_changed(
                tenant_id=row.tenant_id,
                user_id=None,
                microsoft_ids=[row.microsoft_id],
                actor_id=row.intent_actor_id,
            )
            row.delete()
            return
        _release(row, plan, clean=False)
        row.save()


def _record_error(binding, plan, error: graph.GraphError, token, result) -> None:
    if error.retryable:
        _record_transient(binding, plan, error, token, result)
    elif isinstance(error, graph.NotFound) and plan is not None and plan.action == planning.UPDATE:
        _record_account_gone(binding, plan, token, result)
    elif (
        isinstance(error, graph.NotFound)
        and plan is not None
        and plan.action == planning.BLOCK_AND_REMOVE
    ):
        _record_removed(binding, plan, token, result)
    else:
        _record_failure(binding, plan, error, token, result)


def _record_transient(binding, plan, error, token, result) -> None:
    """Microsoft is busy or unreachable: keep the intent, come back later."""
    with transaction.atomic():
        row = _locked(binding)
        if row is None:
            return
        row.retry_later(error)
        _release(row, plan, clean=False)
        row.save()
    result.retrying += 1


def _record_waiting(binding, plan, error, token, result) -> None:
    """The address is taken by an account in Microsoft's deleted items (P7): wait, with
    backoff, and tell the admin why."""
    waiting = True
    with transaction.atomic():
        row = _locked(binding)
        if row is None:
            return
        row.attempts += 1
        row.record_error(error)
        # Growing intervals for up to 30 days, then an error (sync.lifecycle).
        waiting = lifecycle.binding_wait(row, plan)
        if not waiting:
            _event(
                row,
                "user_create_provision",
                outcome="failure",
                details={"code": row.last_error_code, "message": row.last_error_message},
            )
        _release(row, plan, clean=not waiting)
        row.save()
    if waiting:
        result.retrying += 1
    else:
        result.failed += 1


def _record_account_gone(binding, plan, token, result) -> None:
    """The linked account no longer exists: the next round restores it from Microsoft's
    deleted items, or creates it again (P7, sync.lifecycle)."""
    with transaction.atomic():
        row = _locked(binding)
        if row is None:
            return
        lifecycle.binding_missing(row)
        _release(row, plan, clean=False)
        row.save()
    result.retrying += 1


_EVENT_FOR_ACTION = {
    planning.CREATE: "user_create_provision",
    planning.BLOCK_AND_REMOVE: "user_deprovision",
}


def _failed_event_type(row, plan) -> str:
    if plan is None:
        return "user_update_provision"
    if plan.action in _EVENT_FOR_ACTION:
        return _EVENT_FOR_ACTION[plan.action]
    if "accountEnabled" in plan.body:
        return "user_reactivate_provision" if plan.enabled else "user_deprovision"
    if not plan.properties and plan.password is not None:
        return "user_password_update_provision"
    return "user_update_provision"


def _record_failure(binding, plan, error: graph.GraphError, token, result) -> None:
    """Microsoft refused this change: the binding shows why and waits for a fix or a
    retry; the others go on."""
    with transaction.atomic():
        row = _locked(binding)
        if row is None:
            return
        row.fail(error)
        details = row.error_details()
        if plan is not None and plan.properties:
            details["properties"] = plan.properties
        _event(row, _failed_event_type(row, plan), outcome="failure", details=details)
        # Not retried by itself (it would fail the same way): clean unless changed since.
        _release(row, plan, clean=True)
        row.save()
    result.failed += 1


def _internal_error(exc: Exception) -> graph.GraphError:
    return graph.GraphError(
        f"Stratus could not prepare this change ({type(exc).__name__}).", code="internal_error"
    )


# --- the sweep ----------------------------------------------------------------------------------


def sweep_due_tenants() -> list[int]:
    """Tenants with intent that no task is working on (lost message, dead worker, Redis
    flushed): send their sync again. Returns the tenant ids sent."""
    now = timezone.now()
    stale = now - timedelta(seconds=SWEEP_GRACE)
    due = (
        UserBinding.objects.filter(needs_sync=True, tenant__status=Tenant.CONNECTED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at__isnull=True, dirty_since__lte=stale)
            | Q(next_attempt_at__isnull=True, dirty_since__isnull=True)
        )
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    groups_due = (
        GroupBinding.objects.filter(needs_sync=True, tenant__status=Tenant.CONNECTED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at__isnull=True, dirty_since__lte=stale)
            | Q(next_attempt_at__isnull=True, dirty_since__isnull=True)
        )
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    tenant_ids = sorted(set(due) | set(groups_due))
    for tenant_id in tenant_ids:
        sync_send(tenant_id=tenant_id)
    return tenant_ids
