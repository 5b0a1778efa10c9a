"""Licences (P8), optional per tenant: a default licence (one of the tenant's
`subscribedSkus`) and a default usage location, given to the accounts Stratus creates.

Off by default. When set, the usage location stands in for users who have none (Microsoft
refuses a licence without one), and each account Stratus creates gets the licence right
after its create (the binding's `licence_pending`, written in the same transaction as the
create, so a worker that dies in between still assigns it on the next round). Microsoft
running out of seats puts that binding in `error` with a message naming the SKU and the
seats; the others go on. A retry assigns it again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from directory.errors import InvalidInput
from directory.models import User

from . import graph
from .events import binding_event, tenant_event
from .graph import BatchRequest
from .models import Tenant, UserBinding
from .tenants import tenant_graph_session

log = logging.getLogger(__name__)

NO_SEATS_CODE = "licence_no_free_seats"
FAILED_CODE = "licence_not_assigned"
_NO_SEATS = "does not have any available licenses"
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class Sku:
    sku_id: str
    part_number: str
    seats: int  # enabled prepaid units
    in_use: int  # consumed units

    @property
    def free(self) -> int:
        return max(self.seats - self.in_use, 0)

    @property
    def label(self) -> str:
        return f"{self.part_number} — {self.free} of {self.seats} free"


def _skus(data: dict) -> list[Sku]:
    return [
        Sku(
            sku_id=str(item.get("skuId", "")),
            part_number=item.get("skuPartNumber", ""),
            seats=int((item.get("prepaidUnits") or {}).get("enabled") or 0),
            in_use=int(item.get("consumedUnits") or 0),
        )
        for item in (data or {}).get("value", [])
        if item.get("skuId")
    ]


def _read_skus(client) -> list[Sku]:
    return _skus(
        client.get(
            "subscribedSkus", params={"$select": "skuId,skuPartNumber,prepaidUnits,consumedUnits"}
        )
    )


def tenant_skus(*, tenant: Tenant) -> list[Sku]:
    """The tenant's subscribed licences with their seats, read live from Microsoft."""
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        return _read_skus(client)


# --- settings ------------------------------------------------------------------------------


def tenant_licence_update(
    *, actor: User, tenant: Tenant, sku_id: str, usage_location: str, skus: list[Sku]
) -> Tenant:
    """Set (or, with empty values, turn off) the tenant's default licence and usage
    location. `skus` are the licences Microsoft listed for the form."""
    sku_id = (sku_id or "").strip().lower()
    usage_location = (usage_location or "").strip().upper()
    errors: dict[str, list[str]] = {}
    chosen = next((s for s in skus if s.sku_id.lower() == sku_id), None)
    if sku_id and chosen is None:
        errors["licence"] = ["Choose one of the tenant's licences, or no licence."]
    if usage_location and not _COUNTRY.match(usage_location):
        errors["usage_location"] = [
            "Enter a two-letter country code (ISO 3166-1 alpha-2), such as DE or US."
        ]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], fields=errors)
    fields = {
        "licence_sku_id": chosen.sku_id if chosen else "",
        "licence_sku_part_number": chosen.part_number if chosen else "",
        "default_usage_location": usage_location,
    }
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(**fields)
        for name, value in fields.items():
            setattr(tenant, name, value)
        tenant_event(
            tenant=tenant,
            type="m365_tenant_update",
            actor=actor,
            details={
                "licence": fields["licence_sku_part_number"] or None,
                "default_usage_location": usage_location or None,
            },
        )
    return tenant


def usage_location_default(desired: dict[str, Any], tenant: Tenant | None) -> None:
    """The tenant's default usage location for a user who has none (in place)."""
    if tenant is not None and tenant.default_usage_location and not desired.get("usageLocation"):
        desired["usageLocation"] = tenant.default_usage_location


# --- assigning (called by the sync worker after each chunk) -------------------------------------


def bindings_licence_assign(*, client, tenant: Tenant, binding_ids: list[int], result) -> None:
    """Assign the licence still pending on these bindings (accounts just created, or a
    retry after running out of seats), one `$batch`; record each outcome."""
    from .sync.apply import _send

    rows = list(
        UserBinding.objects.filter(pk__in=binding_ids, bound=True)
        .exclude(licence_pending="")
        .exclude(microsoft_id="")
        .select_related("tenant__organization", "intent_actor")
    )
    if not rows:
        return
    outcomes = _send(
        client,
        [
            BatchRequest(
                id=str(row.pk),
                method="POST",
                url=f"/users/{row.microsoft_id}/assignLicense",
                body={
                    "addLicenses": [{"skuId": row.licence_pending, "disabledPlans": []}],
                    "removeLicenses": [],
                },
            )
            for row in rows
        ],
    )
    skus: list[Sku] | None = None
    for row in rows:
        outcome = outcomes[str(row.pk)]
        if not isinstance(outcome, graph.GraphError):
            _record_assigned(row)
            continue
        if outcome.retryable:
            _record_later(row, outcome)
            continue
        if _NO_SEATS in outcome.message and skus is None:
            try:
                skus = _read_skus(client)
            except graph.GraphError:
                skus = []
        _record_refused(row, outcome, skus or [])
        result.failed += 1


def _part_number(row: UserBinding) -> str:
    tenant = row.tenant
    if tenant.licence_sku_id.lower() == row.licence_pending.lower():
        return tenant.licence_sku_part_number or row.licence_pending
    return row.licence_pending


def _event(row: UserBinding, *, outcome: str, details: dict) -> None:
    binding_event(
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
    """Microsoft is busy: the next round (in a minute) assigns it."""
    from .sync.intent import binding_mark_dirty

    binding_mark_dirty(
        bindings=UserBinding.objects.filter(pk=row.pk),
        actor_id=row.intent_actor_id,
        next_attempt_at=timezone.now() + timedelta(seconds=60),
    )
    log.info("licence of binding %s not assigned yet (%s)", row.pk, error.code)


def refusal_message(part_number: str, error: graph.GraphError, skus: list[Sku]) -> tuple[str, str]:
    """(code, message) an admin reads for a licence Microsoft refused."""
    if _NO_SEATS in error.message:
        sku = next((s for s in skus if s.part_number == part_number), None)
        seats = f" ({sku.in_use} of {sku.seats} in use)" if sku else ""
        return NO_SEATS_CODE, f"No free seats for licence {part_number}{seats}."
    return FAILED_CODE, f"Licence {part_number} could not be assigned: {error.message}"


def _record_refused(row: UserBinding, error: graph.GraphError, skus: list[Sku]) -> None:
    code, message = refusal_message(_part_number(row), error, skus)
    with transaction.atomic():
        locked = UserBinding.objects.select_for_update(of=("self",)).filter(pk=row.pk).first()
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
