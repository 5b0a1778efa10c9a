"""The mass-deprovision brake as owners drive it (`sync.brake` holds the blocks): its
thresholds, and the owner's decision on what it holds. Releasing sends each held block
once; discarding drops them, leaving those accounts enabled in Microsoft 365. Either
lets blocks through again, with a fresh window."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from directory.errors import Conflict, InvalidInput, NotAllowed
from directory.models import User

from ..events import tenant_event
from ..models import BlockSent, DeprovisionBrake, HeldBlock, Tenant, UserBinding
from ..sync import brake as brake_sync
from ..sync.intent import member_account_changed, sync_after_commit

NOTHING_HELD = "No blocks are held for this tenant (an owner may have decided already)."


def _owner_only(actor: User | None, what: str) -> None:
    if actor is None or getattr(actor, "role", None) != User.OWNER:
        raise NotAllowed(f"Only an owner of the organization can {what}.", code="owner_only")


def _whole_number(field: str, value, low: int, high: int, unit: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise InvalidInput.for_field(field, f"Enter a whole number of {unit} from {low} to {high}.")
    return number


def tenant_brake_update(
    *, actor: User, tenant: Tenant, max_accounts, max_percent
) -> DeprovisionBrake:
    """Set the brake's thresholds (owners only): the larger of the two applies."""
    _owner_only(actor, "change the deprovision brake")
    accounts = _whole_number(
        "max_accounts", max_accounts, *DeprovisionBrake.MAX_ACCOUNTS_RANGE, "accounts"
    )
    percent = _whole_number(
        "max_percent", max_percent, *DeprovisionBrake.MAX_PERCENT_RANGE, "percent"
    )
    with transaction.atomic():
        brake = brake_sync.brake_for(tenant)
        brake.max_accounts, brake.max_percent = accounts, percent
        brake.save(update_fields=["max_accounts", "max_percent", "updated_at"])
        tenant_event(
            tenant=tenant,
            type="m365_tenant_update",
            actor=actor,
            details={"brake_max_accounts": accounts, "brake_max_percent": percent},
        )
    return brake


def held_blocks_decider_check(*, actor: User | None) -> None:
    """Raise NotAllowed unless the actor may release or discard held blocks (an owner)."""
    _owner_only(actor, "release or discard held blocks")


def _decide(tenant: Tenant) -> tuple[DeprovisionBrake, list[HeldBlock]]:
    """Lock the brake (admission waits) and take the blocks still held; with none held
    (another decision came first) a Conflict, so nothing is sent twice or recorded."""
    brake = brake_sync.brake_for(tenant)
    brake = DeprovisionBrake.objects.select_for_update().get(pk=brake.pk)
    held = list(
        HeldBlock.objects.select_for_update()
        .filter(tenant=tenant, released_at__isnull=True)
        .select_related("binding")
    )
    if not held:
        raise Conflict(NOTHING_HELD, code="nothing_held")
    brake.engaged_at = None
    brake.save(update_fields=["engaged_at", "updated_at"])
    BlockSent.objects.filter(tenant=tenant).delete()  # the owner has looked: a fresh window
    return brake, held


@transaction.atomic
def held_blocks_release(*, actor: User, tenant: Tenant) -> int:
    """Send every held block of the tenant, once; returns how many."""
    _owner_only(actor, "release held blocks")
    _, held = _decide(tenant)
    HeldBlock.objects.filter(pk__in=[h.pk for h in held]).update(released_at=timezone.now())
    tenant_event(
        tenant=tenant,
        type="m365_held_blocks_release",
        actor=actor,
        details={"released": len(held)},
    )
    sync_after_commit(tenant_id=tenant.pk)
    return len(held)


@transaction.atomic
def held_blocks_discard(*, actor: User, tenant: Tenant) -> int:
    """Send none of the held blocks: their accounts stay enabled in Microsoft 365 and
    Stratus records them as such (a later change of those users is planned afresh, and
    braked again); unbound ones are forgotten. Returns how many."""
    _owner_only(actor, "discard held blocks")
    _, held = _decide(tenant)
    bindings = [h.binding for h in held]
    HeldBlock.objects.filter(pk__in=[h.pk for h in held]).delete()
    for binding in bindings:
        _block_forget(binding)
    tenant_event(
        tenant=tenant,
        type="m365_held_blocks_discard",
        actor=actor,
        details={"discarded": len(held)},
    )
    return len(held)


def _block_forget(binding: UserBinding) -> None:
    if not binding.bound or binding.user_id is None:
        member_account_changed(
            tenant_id=binding.tenant_id, user_id=None, microsoft_ids=[binding.microsoft_id]
        )
        binding.delete()
        return
    UserBinding.objects.filter(pk=binding.pk).update(
        needs_sync=False,
        dirty_since=None,
        state=UserBinding.PROVISIONED if binding.known_enabled else UserBinding.PENDING,
        updated_at=timezone.now(),
    )
