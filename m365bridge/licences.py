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

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from directory.errors import InvalidInput
from directory.models import User

from . import graph
from .events import tenant_event
from .models import Tenant
from .tenants import tenant_graph_session

NO_SEATS_CODE = "licence_no_free_seats"
FAILED_CODE = "licence_not_assigned"
NO_SEATS_MARK = "does not have any available licenses"  # in Microsoft's message
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


def read_skus(client) -> list[Sku]:
    return _skus(
        client.get(
            "subscribedSkus", params={"$select": "skuId,skuPartNumber,prepaidUnits,consumedUnits"}
        )
    )


def tenant_skus(*, tenant: Tenant) -> list[Sku]:
    """The tenant's subscribed licences with their seats, read live from Microsoft."""
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        return read_skus(client)


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


def refusal_message(part_number: str, error: graph.GraphError, skus: list[Sku]) -> tuple[str, str]:
    """(code, message) an admin reads for a licence Microsoft refused."""
    if NO_SEATS_MARK in error.message:
        sku = next((s for s in skus if s.part_number == part_number), None)
        seats = f" ({sku.in_use} of {sku.seats} in use)" if sku else ""
        return NO_SEATS_CODE, f"No free seats for licence {part_number}{seats}."
    return FAILED_CODE, f"Licence {part_number} could not be assigned: {error.message}"
