"""The licence kind (P8): after each chunk of users, the licence still pending on those
bindings (accounts just created, or a retry after running out of seats) is assigned in
one `$batch`, and each outcome recorded with its event. Rows are the user bindings the
chunk already holds, so no claim of their own.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .. import graph
from ..graph import BatchRequest
from ..licences import NO_SEATS_MARK, Sku, read_skus, refusal_message
from ..models import UserBinding
from . import engine, intent
from .engine import SyncResult
from .users import USERS

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(seconds=60)  # Microsoft busy: the next round in a minute assigns it


def _assign_request(row: UserBinding) -> BatchRequest:
    return BatchRequest(
        id=str(row.pk),
        method="POST",
        url=f"/users/{row.microsoft_id}/assignLicense",
        body={
            "addLicenses": [{"skuId": row.licence_pending, "disabledPlans": []}],
            "removeLicenses": [],
        },
    )


def chunk_sync(client, bindings: list[UserBinding], result: SyncResult) -> None:
    """Assign the pending licence of these bindings (as claimed); record each outcome.
    Without a licence set on the tenant nor one pending on a binding, nothing is read."""
    if not any(b.tenant.licence_sku_id or b.licence_pending for b in bindings):
        return
    binding_ids = [b.pk for b in bindings]
    rows = list(
        UserBinding.objects.filter(pk__in=binding_ids, bound=True)
        .exclude(licence_pending="")
        .exclude(microsoft_id="")
        .select_related("tenant__organization", "intent_actor")
    )
    if not rows:
        return
    replies = engine.send(client, [_assign_request(row) for row in rows])
    skus: list[Sku] | None = None
    for row in rows:
        reply = replies[str(row.pk)]
        if not isinstance(reply, graph.GraphError):
            _record_assigned(row)
        elif reply.retryable:
            _record_later(row, reply)
        else:
            if NO_SEATS_MARK in reply.message and skus is None:
                skus = _skus_or_none(client)
            _record_refused(row, reply, skus or [])
            result.failed += 1


def _skus_or_none(client) -> list[Sku]:
    try:
        return read_skus(client)
    except graph.GraphError:
        return []


def _part_number(row: UserBinding) -> str:
    tenant = row.tenant
    if tenant.licence_sku_id.lower() == row.licence_pending.lower():
        return tenant.licence_sku_part_number or row.licence_pending
    return row.licence_pending


def _event(row: UserBinding, *, outcome: str, details: dict) -> None:
    USERS.event(
        row,
        "user_update_provision",
        outcome=outcome,
        details={"microsoft_id": row.microsoft_id, **details},
    )


def _record_assigned(row: UserBinding) -> None:
    with transaction.atomic():
        if UserBinding.objects.filter(pk=row.pk, licence_pending=row.licence_pending).update(
            licence_pending="", updated_at=timezone.now()
        ):
            _event(row, outcome="success", details={"licence": _part_number(row)})


def _record_later(row: UserBinding, error: graph.GraphError) -> None:
    intent.binding_mark_dirty(
        bindings=UserBinding.objects.filter(pk=row.pk),
        actor_id=row.intent_actor_id,
        next_attempt_at=timezone.now() + RETRY_AFTER,
    )
    log.info(
        "licence of binding %s not assigned yet (%s)", row.pk, error.code, extra={"binding": row.pk}
    )


def _record_refused(row: UserBinding, error: graph.GraphError, skus: list[Sku]) -> None:
    """The account exists; only its licence failed: the binding shows why (naming the
    SKU and its seats) and a retry assigns it once a seat is free."""
    code, message = refusal_message(_part_number(row), error, skus)
    with transaction.atomic():
        locked = engine.locked(USERS, row.pk)
        if locked is None or locked.licence_pending != row.licence_pending:
            return
        locked.state = UserBinding.ERROR
        locked.last_error_code, locked.last_error_message = code, message
        locked.last_error_request_id = (error.request_id or error.client_request_id or "")[:64]
        locked.last_error_at = timezone.now()
        locked.save(
            update_fields=[
                "state",
                "last_error_code",
                "last_error_message",
                "last_error_request_id",
                "last_error_at",
                "updated_at",
            ]
        )
        _event(
            row,
            outcome="failure",
            details={
                "licence": _part_number(row),
                "code": code,
                "message": message,
                "graph_code": error.code,
                "request_id": locked.last_error_request_id,
            },
        )
