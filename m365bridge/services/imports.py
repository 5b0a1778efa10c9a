"""Importing Microsoft 365 users into Stratus (issue 12, I2 and I4), and linking a
conflict to the Stratus user that already has its address.

`import_start` writes the job and one item per selected user (the durable list of what
to do) and sends the worker task after commit. `import_run` (the task) works through
the pending items, each in its own transaction with its event and the job's counters,
so a worker killed half-way loses nothing and a rerun never imports one twice. An
imported user is a Stratus user with Microsoft's values read back through the one
attribute map, bound with its Microsoft id, state `provisioned` and what Microsoft holds
as its known state: the next reconcile finds no drift and the import writes nothing to
Microsoft. It joins the Stratus groups bound in the tenant whose Microsoft group has it as
a member (`group_imports.bound_users_join_groups`), still without a write. It has no Stratus
password; activation emails go now or later."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import events_record
from directory import services as directory_services
from directory.errors import Conflict, InvalidInput, ServiceError
from directory.models import User

from ..attributes import known_properties_of, stratus_values
from ..events import import_failure_event_new, tenant_event, tenant_event_new
from ..import_selectors import (
    GroupFilter,
    MirrorFilter,
    mirrored_groups_selected,
    mirrored_users_selected,
)
from ..models import ImportItem, ImportJob, MirroredUser, Tenant, UserBinding
from ..sync.intent import task_send
from . import group_imports
from .bindings import TENANT_NOT_CONNECTED
from .group_imports import ALREADY_IMPORTED
from .import_lease import job_claim, job_renew

IMPORT_TASK = "workers.tasks.m365_import_run"
EMAIL_EXISTS = "An account with this email already exists in Stratus."
GONE = "It is no longer in Microsoft 365 (deleted there after the preview)."
MAX_SELECTED = 100_000
CHUNK = 200


# --- starting ----------------------------------------------------------------------------


@transaction.atomic
def import_start(
    *,
    actor: User | None,
    tenant: Tenant,
    microsoft_ids: list[str] | None = None,
    filter: MirrorFilter | None = None,
    send_activation: bool = False,
    group_ids: list[str] | None = None,
    group_filter: GroupFilter | None = None,
    with_members: bool = False,
) -> ImportJob:
    """Import the ticked users (`microsoft_ids`) or all that match `filter`, and the
    ticked groups (`group_ids`) or all that match `group_filter`, with their members
    that can be imported when `with_members`: the job is written with its items and
    run by a worker after commit. Choosing only groups imports no user."""
    if not tenant.is_active:
        raise InvalidInput(TENANT_NOT_CONNECTED, code="tenant_not_connected")
    groups_chosen = group_ids is not None or group_filter is not None
    selected, groups = [], []
    if groups_chosen:
        group_rows = mirrored_groups_selected(
            tenant=tenant, microsoft_ids=group_ids, filter=group_filter
        )
        groups = list(group_rows.values_list("microsoft_id", "display_name")[: MAX_SELECTED + 1])
    if groups and with_members:
        if filter is not None:
            matching = mirrored_users_selected(tenant=tenant, microsoft_ids=None, filter=filter)
            microsoft_ids = [
                *(microsoft_ids or []),
                *matching.values_list("microsoft_id", flat=True),
            ]
        microsoft_ids = group_imports.new_members_of(
            tenant=tenant, group_ids=[i for i, _ in groups], also=microsoft_ids
        )
        filter = None
    if microsoft_ids is not None or filter is not None or not groups_chosen:
        rows = mirrored_users_selected(tenant=tenant, microsoft_ids=microsoft_ids, filter=filter)
        selected = list(rows.values_list("microsoft_id", "user_principal_name")[: MAX_SELECTED + 1])
    if not selected and not groups:
        raise InvalidInput("No Microsoft 365 user or group is selected.", code="nothing_selected")
    if len(selected) > MAX_SELECTED or len(groups) > MAX_SELECTED:
        raise InvalidInput(f"At most {MAX_SELECTED} users per import.", code="too_many")
    job = ImportJob.objects.create(
        organization=tenant.organization,
        tenant=tenant,
        actor=actor,
        send_activation=send_activation,
        total=len(selected) + len(groups),
        groups=len(groups),
    )
    ImportItem.objects.bulk_create(
        [ImportItem(job=job, microsoft_id=i, label=label) for i, label in selected]
        + [ImportItem(job=job, kind=ImportItem.GROUP, microsoft_id=i, label=n) for i, n in groups],
        batch_size=2000,
    )
    tenant_event(
        tenant=tenant,
        type="m365_import_start",
        actor=actor,
        details={
            "job": job.pk,
            "users": len(selected),
            "groups": len(groups),
            "send_activation": send_activation,
        },
    )
    transaction.on_commit(lambda: import_send(job_id=job.pk))
    return job


def import_send(*, job_id: int) -> None:
    task_send(IMPORT_TASK, args=[job_id], what=f"import {job_id}")


def imports_resume() -> list[int]:
    """Send again the imports whose worker stopped (lease expired) or whose task was
    lost (queued for over a minute). Returns their ids."""
    now = timezone.now()
    ids = list(
        ImportJob.objects.exclude(status=ImportJob.DONE)
        .filter(
            Q(claimed_until__lt=now)
            | Q(claimed_until__isnull=True, created_at__lt=now - timedelta(minutes=1))
        )
        .values_list("pk", flat=True)
    )
    for job_id in ids:
        import_send(job_id=job_id)
    return ids


# --- running -----------------------------------------------------------------------------


def _claim(job_id: int, token: str) -> bool:
    jobs = ImportJob.objects.filter(pk=job_id).exclude(status=ImportJob.DONE)
    return job_claim(jobs, token, status=ImportJob.RUNNING)


def import_run(*, job_id: int) -> ImportJob | None:
    """Import the job's pending users (the worker task). Safe to run twice or after a
    dead worker: a second run while one holds the lease returns at once."""
    token = uuid.uuid4().hex
    if not _claim(job_id, token):
        return ImportJob.objects.filter(pk=job_id).first()
    job = ImportJob.objects.select_related("tenant__organization", "actor").get(pk=job_id)
    if job.started_at is None:
        ImportJob.objects.filter(pk=job_id).update(started_at=timezone.now())
    domains = set(job.tenant.domains.values_list("name", flat=True))
    # Users first: a group takes the members imported by the same job.
    for kind, size in ((ImportItem.USER, CHUNK), (ImportItem.GROUP, group_imports.CHUNK)):
        while True:
            pks = list(
                job.items.filter(outcome=ImportItem.PENDING, kind=kind)
                .order_by("pk")
                .values_list("pk", flat=True)[:size]
            )
            if not pks:
                break
            _chunk_import(job, pks, domains, kind=kind)
            if not job_renew(job_id, token):
                return job  # the lease was lost: another worker carries on
    ImportJob.objects.filter(pk=job_id, claim_token=token).update(
        status=ImportJob.DONE, ended_at=timezone.now(), claim_token="", claimed_until=None
    )
    job.refresh_from_db()
    return job


_COUNTER = {
    ImportItem.IMPORTED: "imported",
    ImportItem.SKIPPED: "skipped",
    ImportItem.FAILED: "failed",
}


@dataclass
class _Chunk:
    """What one transaction of an import did, written at its end."""

    taken: set[str] = field(default_factory=set)  # Stratus emails among the addresses
    items: list[ImportItem] = field(default_factory=list)
    imported_rows: list[int] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def end(self, item: ImportItem, outcome: str, reason: str = "") -> None:
        item.outcome, item.reason = outcome, reason[:500]
        self.items.append(item)
        self.counts[_COUNTER[outcome]] += 1


@transaction.atomic
def _chunk_import(job: ImportJob, pks: list[int], domains: set[str], *, kind: str) -> None:
    """Import up to CHUNK users (or groups) in one transaction: their users, bindings,
    events, the items' outcomes and the job's counters commit together or not at all, so
    a killed worker leaves them pending and exact. Each has its own savepoint: one
    refused user never undoes the others."""
    if kind == ImportItem.GROUP:
        chunk = _Chunk()
        group_imports.group_items_import(job, pks, chunk)
        _chunk_end(job, chunk, ["outcome", "reason", "group", "members_left_out"])
        return
    items, rows, bound = group_imports.chunk_items(job, pks, MirroredUser, UserBinding)
    addresses = {address for row in rows.values() for address in row.addresses}
    chunk = _Chunk(
        taken=set(User.objects.filter(email__in=addresses).values_list("email", flat=True))
    )
    planned = _planned(job, items, rows, bound, domains, chunk)
    try:
        with transaction.atomic():
            _planned_import(job, planned, chunk)
    except IntegrityError:  # an email taken meanwhile: one by one, each in its savepoint
        bound.difference_update(item.microsoft_id for item, _, _ in planned)
        chunk.taken = set(User.objects.filter(email__in=addresses).values_list("email", flat=True))
        for item, row, _ in planned:
            _item_import(job, item, row, bound, domains, chunk)
    MirroredUser.objects.filter(pk__in=chunk.imported_rows).update(
        status=MirroredUser.IMPORTED, reason=""
    )
    _chunk_end(job, chunk, ["outcome", "reason", "user"])


def _chunk_end(job: ImportJob, chunk: _Chunk, fields: list[str]) -> None:
    """The items' outcomes and the job's counters, in the chunk's transaction."""
    ImportItem.objects.bulk_update(chunk.items, fields)
    ImportJob.objects.filter(pk=job.pk).update(
        done=F("done") + len(chunk.items),
        **{name: F(name) + count for name, count in chunk.counts.items()},
    )


def _planned(job, items, rows, bound: set[str], domains: set[str], chunk: _Chunk) -> list:
    """The chunk's users that can be imported, each with its Stratus user (not saved
    yet, its values checked); the others end here, with their failure events."""
    planned, failures = [], []
    for item in items:
        row = rows.get(item.microsoft_id)
        if item.microsoft_id in bound:
            chunk.end(item, ImportItem.SKIPPED, ALREADY_IMPORTED)
            continue
        reason = _refusal(row, domains, chunk.taken)
        if not reason:
            try:
                user = directory_services.user_new(
                    job.tenant.organization, row.email, User.MEMBER, stratus_values(row.properties)
                )
            except ServiceError as exc:
                reason = exc.fields_text()
        if reason:
            failures.append(_failure_event_new(job, item, reason))
            chunk.end(item, ImportItem.FAILED, reason)
            continue
        bound.add(item.microsoft_id)
        chunk.taken.add(user.email)
        planned.append((item, row, user))
    events_record(failures)
    return planned


def _planned_import(job: ImportJob, planned: list, chunk: _Chunk) -> None:
    """The planned users, their bindings and `user_import` events: a few statements for
    the whole chunk, whatever its size."""
    if not planned:
        return
    tenant = job.tenant
    users = directory_services.users_add(
        actor=job.actor,
        organization=tenant.organization,
        users=[user for _, _, user in planned],
        send_activation=job.send_activation,
    )
    for (_, row, _), user in zip(planned, users, strict=True):
        if not row.account_enabled:  # before the binding exists: nothing is sent
            directory_services.user_suspend(actor=job.actor, user=user)
    UserBinding.objects.bulk_create(
        [binding_new(tenant, user, row, actor_id=job.actor_id) for _, row, user in planned]
    )
    joined = group_imports.bound_users_join_groups(
        tenant=tenant, actor=job.actor, users={row.microsoft_id: user for _, row, user in planned}
    )
    events_record(
        [
            tenant_event_new(
                tenant=tenant,
                type="user_import",
                actor=job.actor,
                target=user,
                details=_imported_details(job, row, joined),
            )
            for _, row, user in planned
        ]
    )
    for item, row, user in planned:
        item.user = user
        chunk.imported_rows.append(row.pk)
        chunk.end(item, ImportItem.IMPORTED)


def _item_import(job, item, row, bound: set[str], domains: set[str], chunk: _Chunk) -> None:
    if item.microsoft_id in bound:
        chunk.end(item, ImportItem.SKIPPED, ALREADY_IMPORTED)
        return
    reason = _refusal(row, domains, chunk.taken)
    if not reason:
        try:
            with transaction.atomic():
                user = _user_create(job, row)
                _binding_create(job.tenant, user, row, actor_id=job.actor_id)
                joined = group_imports.bound_users_join_groups(
                    tenant=job.tenant, actor=job.actor, users={row.microsoft_id: user}
                )
        except Conflict:
            reason = EMAIL_EXISTS
        except IntegrityError:  # the same account bound meanwhile, or the email taken
            reason = EMAIL_EXISTS
        except ServiceError as exc:
            reason = exc.fields_text()
    if reason:
        _failure_event(job, item, reason)
        chunk.end(item, ImportItem.FAILED, reason)
        return
    bound.add(item.microsoft_id)
    chunk.taken.add(user.email)
    tenant_event(
        tenant=job.tenant,
        type="user_import",
        actor=job.actor,
        target=user,
        details=_imported_details(job, row, joined),
    )
    item.user = user
    chunk.imported_rows.append(row.pk)
    chunk.end(item, ImportItem.IMPORTED)


def _imported_details(job: ImportJob, row: MirroredUser, joined: dict[str, list]) -> dict:
    """A `user_import` event's details: the job, the account, and the bound groups the
    user joined because Microsoft has them as a member."""
    details = {"job": job.pk, "microsoft_id": row.microsoft_id}
    if joined.get(row.microsoft_id):
        details["groups_joined"] = joined[row.microsoft_id]
    return details


def _refusal(row: MirroredUser | None, domains: set[str], taken: set[str]) -> str:
    """Why this account cannot be imported now, or ""."""
    if row is None:
        return GONE
    if row.status == MirroredUser.NOT_IMPORTABLE:
        return row.reason
    if row.domain not in domains:
        return f"Its address {row.email} is on a domain this tenant has not verified."
    if taken.intersection(row.addresses):
        return EMAIL_EXISTS
    return ""


def _user_create(job: ImportJob, row: MirroredUser) -> User:
    user = directory_services.user_create(
        actor=job.actor,
        organization=job.tenant.organization,
        email=row.email,
        send_activation=job.send_activation,
        **stratus_values(row.properties),
    )
    if not row.account_enabled:  # before the binding exists: nothing is sent
        user = directory_services.user_suspend(actor=job.actor, user=user)
    return user


def _binding_create(tenant: Tenant, user: User, row: MirroredUser, *, actor_id) -> UserBinding:
    binding = binding_new(tenant, user, row, actor_id=actor_id)
    binding.save()
    return binding


def binding_new(tenant: Tenant, user: User, row: MirroredUser, *, actor_id) -> UserBinding:
    """An imported (or linked) user's binding, not saved: bound with its Microsoft id,
    provisioned, and what Microsoft holds as its known state."""
    now = timezone.now()
    return UserBinding(
        organization=tenant.organization,
        tenant=tenant,
        user=user,
        user_ref=user.pk,
        user_label=user.email,
        microsoft_id=row.microsoft_id,
        state=UserBinding.PROVISIONED,
        needs_sync=False,
        dirty_since=None,
        intent_actor_id=actor_id,
        known_properties=known_properties_of(row.properties),
        known_enabled=row.account_enabled,
        synced_at=now,
    )


def _failure_event(job: ImportJob, item: ImportItem, reason: str) -> None:
    events_record([_failure_event_new(job, item, reason)])


def _failure_event_new(job: ImportJob, item: ImportItem, reason: str):
    return import_failure_event_new(
        job, item, reason, type="user_import", label_key="user_principal_name", length=254
    )
