"""Resolving an import conflict by linking (issue 12): a Microsoft 365 user to the
Stratus user that already has one of its addresses, a Microsoft 365 group to the Stratus
group that already has its name. A link is then a normal binding and Stratus is the
source of truth (P5): what differs is sent to Microsoft by the next sync. A linked user
joins the bound groups whose Microsoft group has them as a member, as an imported one
does (`group_imports.bound_users_join_groups`)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from directory.errors import Conflict, InvalidInput
from directory.models import Group, User

from ..events import tenant_event
from ..models import GroupBinding, MirroredGroup, MirroredUser, Tenant, UserBinding
from ..selectors import tenant_for_email
from ..sync.group_mirror import mirrored_groups_reclassify
from ..sync.intent import binding_mark_dirty, sync_after_commit
from .group_imports import bound_users_join_groups, group_binding_create
from .imports import binding_new
from .passwords import retained_passwords_take


@transaction.atomic
def mirrored_user_link(
    *, actor: User | None, tenant: Tenant, row: MirroredUser, user: User
) -> UserBinding:
    """Resolve a conflict: bind the existing Stratus user to that Microsoft account. It
    is then a normal binding and Stratus is the source of truth (P5): what differs is
    sent to Microsoft by the next sync."""
    if user.organization_id != tenant.organization_id:
        raise InvalidInput.for_field("user_id", "No such user in your organization.")
    if row.status == MirroredUser.NOT_IMPORTABLE:
        raise InvalidInput.for_field("microsoft_id", row.reason)
    bound = Q(user=user) | Q(tenant=tenant, microsoft_id=row.microsoft_id)
    if UserBinding.objects.filter(bound).exists():
        raise Conflict(
            "That user or that Microsoft 365 account is already bound.", code="already_bound"
        )
    if tenant_for_email(organization=tenant.organization, email=user.email).pk != tenant.pk:
        raise InvalidInput.for_field(
            "user_id", f"{user.email} is not on a verified domain of this tenant."
        )
    passwords = retained_passwords_take(users=[user], tenant_name=tenant.display_name)
    binding = binding_new(tenant, user, row, actor_id=getattr(actor, "pk", None))
    binding.save()
    if user.pk in passwords:
        UserBinding.objects.filter(pk=binding.pk).update(
            password_encrypted=passwords[user.pk], password_version=1
        )
    MirroredUser.objects.filter(pk=row.pk).update(status=MirroredUser.IMPORTED, reason="")
    joined = bound_users_join_groups(tenant=tenant, actor=actor, users={row.microsoft_id: user})
    details = {"groups_joined": joined[row.microsoft_id]} if joined else {}
    return _linked(actor, tenant, binding, user, details)


def _linked(actor, tenant: Tenant, binding, target, details: dict | None = None):
    """A new link's binding marked for sync (Stratus's values go to Microsoft), its event,
    and the sync queued after commit."""
    binding_mark_dirty(
        bindings=type(binding).objects.filter(pk=binding.pk), actor_id=getattr(actor, "pk", None)
    )
    tenant_event(
        tenant=tenant,
        type="m365_import_link",
        actor=actor,
        target=target,
        details={"microsoft_id": binding.microsoft_id, **(details or {})},
    )
    sync_after_commit(tenant_id=tenant.pk)
    binding.refresh_from_db()
    return binding


@transaction.atomic
def mirrored_group_link(
    *, actor: User | None, tenant: Tenant, row: MirroredGroup, group: Group
) -> GroupBinding:
    """Resolve a group conflict: bind the existing Stratus group to that Microsoft group.
    It is then a normal group binding and Stratus is the source of truth: its name,
    description and members are sent by the next sync, only where they differ."""
    if group.organization_id != tenant.organization_id:
        raise InvalidInput.for_field("group_id", "No such group in your organization.")
    if row.status == MirroredGroup.NOT_IMPORTABLE:
        raise InvalidInput.for_field("microsoft_id", row.reason)
    taken = Q(group=group, tenant=tenant) | Q(tenant=tenant, microsoft_id=row.microsoft_id)
    if GroupBinding.objects.filter(taken).exists():
        raise Conflict(
            "That group or that Microsoft 365 group is already bound.", code="already_bound"
        )
    binding = group_binding_create(tenant, group, row, actor_id=getattr(actor, "pk", None))
    mirrored_groups_reclassify(tenant=tenant, microsoft_ids=[row.microsoft_id])
    return _linked(actor, tenant, binding, group)
