"""The mass-deprovision brake: a tenant's blocks (sign-in turned off, by a suspension,
an unbind, a deletion, a password expiry or a drift put right) pass through here right
before they are sent. At most `DeprovisionBrake.limit` of them go out in any window of
`M365_BRAKE_WINDOW_MINUTES`; the block that would cross it, and every block of the
tenant after it, is held: its binding keeps its intent (`needs_sync`) and a `HeldBlock`
row says who and what caused it, the sync skips it (`not_held`), and the tenant's owners
get one email. An owner then releases (each held block is sent once) or discards them
(`services.brake`). Below the limit nothing is held, so a single security action (one
user suspended) always reaches Microsoft at once.

Admission runs with the tenant's brake row locked, so workers syncing the same tenant
at once never let more than the limit through between them.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from directory.emails import email_queue
from directory.models import User

from ..events import tenant_event
from ..models import BlockSent, DeprovisionBrake, HeldBlock, Tenant, UserBinding


def window() -> timedelta:
    return timedelta(minutes=getattr(settings, "M365_BRAKE_WINDOW_MINUTES", 10))


def not_held():
    """User bindings the sync may take: none whose block waits for an owner."""
    return ~Exists(HeldBlock.objects.filter(binding_id=OuterRef("pk"), released_at__isnull=True))


def brake_for(tenant: Tenant) -> DeprovisionBrake:
    brake, _ = DeprovisionBrake.objects.get_or_create(
        tenant=tenant, defaults={"organization_id": tenant.organization_id}
    )
    return brake


def brake_limit(brake: DeprovisionBrake) -> int:
    """Blocks allowed in one window: the larger of the two thresholds."""
    bound = (
        UserBinding.objects.filter(tenant_id=brake.tenant_id, bound=True)
        .exclude(microsoft_id="")
        .count()
    )
    return max(brake.max_accounts, math.ceil(bound * brake.max_percent / 100))


def blocks_sent_recently(tenant_id: int) -> int:
    return BlockSent.objects.filter(
        tenant_id=tenant_id, sent_at__gt=timezone.now() - window()
    ).count()


def blocks_admit(*, tenant: Tenant, blocks: list) -> tuple[list, list]:
    """Split `blocks` ((binding, plan, reason) of one tenant, about to be sent) into
    those to send now and those now held. Released blocks go out without counting."""
    if not blocks:
        return [], []
    with transaction.atomic():
        brake = brake_for(tenant)
        brake = DeprovisionBrake.objects.select_for_update().get(pk=brake.pk)
        released = set(
            HeldBlock.objects.filter(
                binding_id__in=[b.pk for b, _, _ in blocks], released_at__isnull=False
            ).values_list("binding_id", flat=True)
        )
        admitted = [item for item in blocks if item[0].pk in released]
        others = [item for item in blocks if item[0].pk not in released]
        room = 0
        if brake.engaged_at is None:
            room = max(brake_limit(brake) - blocks_sent_recently(tenant.pk), 0)
        admitted += others[:room]
        held = others[room:]
        HeldBlock.objects.filter(binding_id__in=released).delete()
        BlockSent.objects.bulk_create([BlockSent(tenant_id=tenant.pk) for _ in others[:room]])
        if held:
            _hold(tenant, brake, held)
    return admitted, held


def released_settle(*, binding_ids: list[int]) -> None:
    """Forget the released holds of these bindings, whose plan is no block any more (the
    user was reactivated before the release): a later block is counted afresh."""
    if binding_ids:
        HeldBlock.objects.filter(binding_id__in=binding_ids, released_at__isnull=False).delete()


def _hold(tenant: Tenant, brake: DeprovisionBrake, held: list) -> None:
    HeldBlock.objects.bulk_create(
        [
            HeldBlock(
                organization_id=tenant.organization_id,
                tenant=tenant,
                binding_id=binding.pk,
                user_label=binding.user_label or (binding.user.email if binding.user else ""),
                reason=reason,
                actor_id=binding.intent_actor_id,
            )
            for binding, _, reason in held
        ],
        ignore_conflicts=True,  # already held: its first cause stays
    )
    UserBinding.objects.filter(pk__in=[b.pk for b, _, _ in held]).update(
        state=UserBinding.HELD, updated_at=timezone.now()
    )
    if brake.engaged_at is None:
        brake.engaged_at = timezone.now()
        brake.save(update_fields=["engaged_at", "updated_at"])
        tenant_event(
            tenant=tenant,
            type="m365_deprovision_brake_engaged",
            actor=None,
            details={
                "limit": brake_limit(brake),
                "window_minutes": int(window().total_seconds() // 60),
                "first_held": len(held),
            },
        )
        _email_owners(tenant, brake)


def _email_owners(tenant: Tenant, brake: DeprovisionBrake) -> None:
    """One email to each owner when the brake engages (not one per held block)."""
    url = settings.BASE_URL.rstrip("/") + reverse("m365:tenant", args=[tenant.pk]) + "#held"
    context = {
        "tenant": tenant,
        "url": url,
        "limit": brake_limit(brake),
        "window_minutes": int(window().total_seconds() // 60),
    }
    owners = User.objects.for_organization(tenant.organization).filter(
        role=User.OWNER, status=User.ACTIVE
    )
    for owner in owners:
        email_queue(
            organization=tenant.organization,
            to=owner.email,
            kind="m365_deprovision_held",
            subject=f"Stratus is holding blocks of Microsoft 365 accounts in {tenant}",
            text=render_to_string("m365/emails/deprovision_held.txt", context),
            user=owner,
            dedupe_key=f"m365-brake-{tenant.pk}-{brake.engaged_at:%Y%m%d%H%M%S%f}",
        )
