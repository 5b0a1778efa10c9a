"""Importing Microsoft 365 security groups into Stratus (issue 12, I3 and G1), and
linking a group conflict to the Stratus group that already has its name.

A job's groups are imported after its users (`imports.import_run`), so a group takes
every member that is, or in the same job was just, imported: a member with a binding of
this tenant. The other members are reported on the item and in the event, never
silently dropped. The Stratus group is bound to that very Microsoft group, state
`provisioned`, with what Microsoft holds as its known state (name, description and
every member id): the next reconcile finds no drift and nothing is sent. An import
writes nothing to Microsoft. From then on the group follows Stratus (G1): the members
that were left out leave the Microsoft group the next time Stratus syncs it, unless
they are imported or linked first: a user who becomes bound to the tenant later joins
the groups bound there whose Microsoft group has them (`bound_users_join_groups`),
still without a write."""

from __future__ import annotations

import operator
from collections import defaultdict
from functools import reduce

from django.db import IntegrityError, connection, transaction
from django.db.models import JSONField, OuterRef, Q, Subquery
from django.db.models.functions import Lower
from django.utils import timezone

from audit.services import events_record
from directory import services as directory_services
from directory.errors import Conflict, ServiceError
from directory.models import Group, Membership, User

from ..events import import_failure_event_new, tenant_event
from ..models import (
    GroupBinding,
    ImportItem,
    ImportJob,
    MirroredGroup,
    MirroredUser,
    Tenant,
    UserBinding,
)

ALREADY_IMPORTED = "Already imported."
GROUP_EXISTS = "A group with this name already exists in Stratus."
GROUP_GONE = "It is no longer in Microsoft 365 (deleted there after the preview)."
NESTED = "A group inside this group: Stratus groups hold users only."
MEMBER_NOT_MIRRORED = "Not a user of this tenant's mirror (read again with Sync now)."
MEMBER_NOT_IMPORTED = "Not imported into Stratus (its status: {status})."
LEFT_OUT_IN_EVENT = 50
CHUNK = 50


def group_known_state(row: MirroredGroup) -> dict:
    """What Microsoft holds for this group, as a binding's known state: the reconcile's
    drift check compares Microsoft with exactly this."""
    return {
        "known_properties": {"displayName": row.display_name, "description": row.description},
        "known_members": sorted({*row.members, *row.nested_groups}),
    }


def new_members_of(
    *, tenant: Tenant, group_ids: list[str], also: list[str] | None = None
) -> list[str]:
    """The Microsoft ids of the groups' members that can be imported (status `new`),
    with the ids in `also`: the users an import "with their members" takes."""
    member_ids: set[str] = set()
    for members in (
        MirroredGroup.objects.filter(tenant=tenant, microsoft_id__in=group_ids)
        .values_list("members", flat=True)
        .iterator(chunk_size=100)
    ):
        member_ids.update(members)
    new = MirroredUser.objects.filter(
        tenant=tenant, microsoft_id__in=member_ids, status=MirroredUser.NEW
    ).values_list("microsoft_id", flat=True)
    return sorted(set(new) | set(also or []))


def group_import_refusal(row: MirroredGroup | None, taken: set[str]) -> str:
    """Why this Microsoft group cannot be imported now, or ""."""
    if row is None:
        return GROUP_GONE
    if row.status == MirroredGroup.NOT_IMPORTABLE:
        return row.reason
    if row.display_name.strip().lower() in taken:
        return GROUP_EXISTS
    return ""


def _members_left_out(row: MirroredGroup, bound: dict[str, User]) -> list[dict]:
    """The group's members that have no Stratus user in this tenant, each with why."""
    missing = [m for m in row.members if m not in bound]
    mirrored = {
        m.microsoft_id: m
        for m in MirroredUser.objects.filter(tenant_id=row.tenant_id, microsoft_id__in=missing)
        .only("microsoft_id", "user_principal_name", "status", "reason")
        .iterator()
    }
    left_out = []
    for member_id in missing:
        member = mirrored.get(member_id)
        if member is None:
            left_out.append({"microsoft_id": member_id, "label": "", "reason": MEMBER_NOT_MIRRORED})
            continue
        reason = member.reason or MEMBER_NOT_IMPORTED.format(status=member.get_status_display())
        left_out.append(
            {"microsoft_id": member_id, "label": member.user_principal_name, "reason": reason}
        )
    left_out += [{"microsoft_id": g, "label": "", "reason": NESTED} for g in row.nested_groups]
    return left_out


def chunk_items(job: ImportJob, pks: list[int], mirror, bindings):
    """The chunk's pending items (locked), their mirrored rows by Microsoft id (`mirror`:
    MirroredUser or MirroredGroup) and the ids already bound (`bindings`: the model)."""
    tenant = job.tenant
    items = list(
        ImportItem.objects.select_for_update()
        .filter(pk__in=pks, outcome=ImportItem.PENDING)
        .order_by("pk")
    )
    ids = [item.microsoft_id for item in items]
    rows = {r.microsoft_id: r for r in mirror.objects.filter(tenant=tenant, microsoft_id__in=ids)}
    bound = set(
        bindings.objects.filter(tenant=tenant, microsoft_id__in=ids).values_list(
            "microsoft_id", flat=True
        )
    )
    return items, rows, bound


def group_items_import(job: ImportJob, pks: list[int], chunk) -> None:
    """Import up to CHUNK groups of the job inside its chunk transaction (`chunk` is the
    users' `_Chunk`: it collects the outcomes and counters)."""
    tenant = job.tenant
    items, rows, already = chunk_items(job, pks, MirroredGroup, GroupBinding)
    names = {r.display_name.strip().lower() for r in rows.values()}
    taken = set(
        Group.objects.for_organization(tenant.organization_id)
        .annotate(lower_name=Lower("name"))
        .filter(lower_name__in=names)
        .values_list("lower_name", flat=True)
    )
    member_ids = {m for r in rows.values() for m in r.members}
    bound = {
        b.microsoft_id: b.user
        for b in UserBinding.objects.filter(
            tenant=tenant, bound=True, microsoft_id__in=member_ids, user__isnull=False
        ).select_related("user")
    }
    imported = []
    for item in items:
        row = rows.get(item.microsoft_id)
        if item.microsoft_id in already:
            chunk.end(item, ImportItem.SKIPPED, ALREADY_IMPORTED)
            continue
        reason = group_import_refusal(row, taken)
        group = None
        if not reason:
            try:
                with transaction.atomic():
                    group, left_out = _group_create(job, row, bound)
            except (Conflict, IntegrityError):
                reason = GROUP_EXISTS
            except ServiceError as exc:
                reason = exc.fields_text()
        if reason:
            _failure_event(job, item, reason)
            chunk.end(item, ImportItem.FAILED, reason)
            continue
        taken.add(group.name.lower())
        item.group, item.members_left_out = group, left_out
        imported.append(row.microsoft_id)
        chunk.end(item, ImportItem.IMPORTED)
    if imported:
        MirroredGroup.objects.filter(tenant=tenant, microsoft_id__in=imported).update(
            status=MirroredGroup.IMPORTED, reason=""
        )


def _group_create(job: ImportJob, row: MirroredGroup, bound: dict[str, User]):
    tenant = job.tenant
    group = directory_services.group_create(
        actor=job.actor,
        organization=tenant.organization,
        name=row.display_name,
        description=row.description,
    )
    members = [bound[m] for m in row.members if m in bound]
    directory_services.group_members_add(actor=job.actor, group=group, users=members)
    left_out = _members_left_out(row, bound)
    group_binding_create(tenant, group, row, actor_id=job.actor_id)
    tenant_event(
        tenant=tenant,
        type="group_import",
        actor=job.actor,
        target=group,
        details={
            "job": job.pk,
            "microsoft_id": row.microsoft_id,
            "members": len(members),
            "members_left_out": len(left_out),
            "left_out": left_out[:LEFT_OUT_IN_EVENT],
        },
    )
    return group, left_out


def group_binding_create(tenant: Tenant, group: Group, row: MirroredGroup, *, actor_id):
    """The group's binding to that Microsoft group: provisioned, Microsoft's state known."""
    return GroupBinding.objects.create(
        organization=tenant.organization,
        tenant=tenant,
        group=group,
        microsoft_id=row.microsoft_id,
        state=GroupBinding.PROVISIONED,
        needs_sync=False,
        dirty_since=None,
        intent_actor_id=actor_id,
        synced_at=timezone.now(),
        **group_known_state(row),
    )


# --- members bound later ---------------------------------------------------------------


def bound_users_join_groups(*, tenant: Tenant, actor: User | None, users: dict[str, User]):
    """Users just bound to `tenant` (`users`: by Microsoft id, by an import or a link)
    join the Stratus groups bound in it whose Microsoft group has them as members (the
    mirror), so the group's next sync keeps them there (G1). One query finds the
    candidate groups of all the users, one their memberships; each group joined costs a
    few (`group_members_add`, its events). Microsoft already has them, so the bindings'
    intent stays as it was (`_intent_kept`): nothing is sent. Returns, by Microsoft id,
    the groups each joined (`{"id", "name"}`)."""
    candidates = _groups_listing(tenant, set(users))
    already = _memberships(candidates, users)
    joined: dict[str, list[dict]] = defaultdict(list)
    added = []
    for binding, member_ids in candidates:
        new = [m for m in member_ids if (binding.group_id, users[m].pk) not in already]
        if not new:
            continue
        directory_services.group_members_add(
            actor=actor, group=binding.group, users=[users[m] for m in new]
        )
        added.append((binding, new))
        for member_id in new:
            joined[member_id].append({"id": binding.group_id, "name": binding.group.name})
    _intent_kept(added)
    return dict(joined)


def _memberships(candidates: list, users: dict[str, User]) -> set[tuple[int, int]]:
    """(group id, user id) of the users already in the candidate groups (a linked user
    may be): one query."""
    if not candidates:
        return set()
    return set(
        Membership.objects.filter(
            group_id__in=[binding.group_id for binding, _ in candidates],
            user_id__in=[user.pk for user in users.values()],
        ).values_list("group_id", "user_id")
    )


def _groups_listing(tenant: Tenant, microsoft_ids: set[str]) -> list[tuple[GroupBinding, list]]:
    """The tenant's group bindings whose mirrored Microsoft group lists some of these
    users, each with those users' ids: one query."""
    if not microsoft_ids:
        return []
    mirror = MirroredGroup.objects.filter(
        tenant_id=tenant.pk, microsoft_id=OuterRef("microsoft_id")
    )
    if connection.vendor == "postgresql":  # jsonb `?|`: only the groups listing one of them
        mirror = mirror.filter(members__has_any_keys=sorted(microsoft_ids))
    bindings = (
        GroupBinding.objects.filter(tenant=tenant)
        .exclude(microsoft_id="")
        .annotate(mirror_members=Subquery(mirror.values("members")[:1], output_field=JSONField()))
        .filter(mirror_members__isnull=False)
        .select_related("group__organization")
        .order_by("pk")
    )
    listing = []
    for binding in bindings:
        member_ids = [m for m in binding.mirror_members if m in microsoft_ids]
        if member_ids:
            listing.append((binding, member_ids))
    return listing


def _intent_kept(added: list[tuple[GroupBinding, list[str]]]) -> None:
    """`group_members_add` announced the joins, which marks the bindings for sync. A
    binding that needed none before and whose known members (what Microsoft was last
    told) already hold the new members needs none now: its mark is taken back, unless
    something else moved its generation meanwhile. Otherwise its next sync would also
    remove the members still left out (not imported yet) while the import goes on."""
    kept = [
        Q(pk=binding.pk, generation=binding.generation + 1)
        for binding, new in added
        if not binding.needs_sync and set(new) <= set(binding.known_members or [])
    ]
    if kept:
        GroupBinding.objects.filter(reduce(operator.or_, kept), needs_sync=True).update(
            needs_sync=False, dirty_since=None
        )


def _failure_event(job: ImportJob, item: ImportItem, reason: str) -> None:
    events_record(
        [
            import_failure_event_new(
                job, item, reason, type="group_import", label_key="name", length=256
            )
        ]
    )
