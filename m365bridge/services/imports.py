"""Importing Microsoft 365 users into Stratus (issue 12, I2 and I4), and linking a
conflict to the Stratus user that already has its address.

`import_start` writes the job and one item per selected user (the durable list of what
to do) and sends the worker task after commit. `import_run` (the task) works through
the pending items, each in its own transaction with its event and the job's counters,
so a worker killed half-way loses nothing and a rerun never imports one twice. An
imported user is a Stratus user with Microsoft's values read back through the one
attribute map, bound with its Microsoft id, state `provisioned` and what Microsoft holds
as its known state: the next reconcile finds no drift and the import writes nothing to
Microsoft. It has no Stratus password; activation emails go now or later."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from directory import services as directory_services
from directory.errors import Conflict, InvalidInput, ServiceError
from directory.models import User

from ..attributes import known_properties_of, stratus_values
from ..events import tenant_event
from ..import_selectors import MirrorFilter, mirrored_users_selected
from ..models import ImportItem, ImportJob, MirroredUser, Tenant, UserBinding
from ..selectors import tenant_for_email
from ..sync.intent import binding_mark_dirty, sync_after_commit, task_send
from .bindings import TENANT_NOT_CONNECTED
from .import_lease import job_claim, job_renew
from .passwords import retained_passwords_take

IMPORT_TASK = "workers.tasks.m365_import_run"
EMAIL_EXISTS = "An account with this email already exists in Stratus."
GONE = "It is no longer in Microsoft 365 (deleted there after the preview)."
ALREADY_IMPORTED = "Already imported."
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
) -> ImportJob:
    """Import the ticked users (`microsoft_ids`) or all that match `filter`: the job is
    written with its items and run by a worker after commit."""
    if not tenant.is_active:
        raise InvalidInput(TENANT_NOT_CONNECTED, code="tenant_not_connected")
    rows = mirrored_users_selected(tenant=tenant, microsoft_ids=microsoft_ids, filter=filter)
    selected = list(rows.values_list("microsoft_id", "user_principal_name")[: MAX_SELECTED + 1])
    if not selected:
        raise InvalidInput("No Microsoft 365 user is selected.", code="nothing_selected")
    if len(selected) > MAX_SELECTED:
        raise InvalidInput(f"At most {MAX_SELECTED} users per import.", code="too_many")
    job = ImportJob.objects.create(
        organization=tenant.organization,
        tenant=tenant,
        actor=actor,
        send_activation=send_activation,
        total=len(selected),
    )
    ImportItem.objects.bulk_create(
        [ImportItem(job=job, microsoft_id=i, label=label) for i, label in selected],
        batch_size=2000,
    )
    tenant_event(
        tenant=tenant,
        type="m365_import_start",
        actor=actor,
        details={"job": job.pk, "users": job.total, "send_activation": send_activation},
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
    while True:
        pks = list(
            job.items.filter(outcome=ImportItem.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)[:CHUNK]
        )
        if not pks:
            break
        _chunk_import(job, pks, domains)
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
def _chunk_import(job: ImportJob, pks: list[int], domains: set[str]) -> None:
    """Import up to CHUNK users in one transaction: their users, bindings, events, the
    items' outcomes and the job's counters commit together or not at all, so a killed
    worker leaves them pending and exact. Each user has its own savepoint: one refused
    user never undoes the others."""
    tenant = job.tenant
    items = list(
        ImportItem.objects.select_for_update()
        .filter(pk__in=pks, outcome=ImportItem.PENDING)
        .order_by("pk")
    )
    ids = [item.microsoft_id for item in items]
    rows = {
        r.microsoft_id: r for r in MirroredUser.objects.filter(tenant=tenant, microsoft_id__in=ids)
    }
    bound = set(
        UserBinding.objects.filter(tenant=tenant, microsoft_id__in=ids).values_list(
            "microsoft_id", flat=True
        )
    )
    addresses = {address for row in rows.values() for address in row.addresses}
    chunk = _Chunk(
        taken=set(User.objects.filter(email__in=addresses).values_list("email", flat=True))
    )
    for item in items:
        _item_import(job, item, rows.get(item.microsoft_id), bound, domains, chunk)
    ImportItem.objects.bulk_update(chunk.items, ["outcome", "reason", "user"])
    MirroredUser.objects.filter(pk__in=chunk.imported_rows).update(
        status=MirroredUser.IMPORTED, reason=""
    )
    ImportJob.objects.filter(pk=job.pk).update(
        done=F("done") + len(chunk.items),
        **{name: F(name) + count for name, count in chunk.counts.items()},
    )


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
        except Conflict:
            reason = EMAIL_EXISTS
        except IntegrityError:  # the same account bound meanwhile, or the email taken
            reason = EMAIL_EXISTS
        except ServiceError as exc:
            reason = _service_error_text(exc)
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
        details={"job": job.pk, "microsoft_id": row.microsoft_id},
    )
    item.user = user
    chunk.imported_rows.append(row.pk)
    chunk.end(item, ImportItem.IMPORTED)


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


def _service_error_text(exc: ServiceError) -> str:
    fields = getattr(exc, "fields", None) or {}
    if fields:
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in sorted(fields.items()))
    return exc.message


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
    now = timezone.now()
    return UserBinding.objects.create(
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
    tenant_event(
        tenant=job.tenant,
        type="user_import",
        actor=job.actor,
        outcome="failure",
        details={
            "job": job.pk,
            "microsoft_id": item.microsoft_id,
            "user_principal_name": item.label[:254],
            "reason": reason[:500],
        },
    )


# --- linking a conflict ------------------------------------------------------------------


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
    binding = _binding_create(tenant, user, row, actor_id=getattr(actor, "pk", None))
    if user.pk in passwords:
        UserBinding.objects.filter(pk=binding.pk).update(
            password_encrypted=passwords[user.pk], password_version=1
        )
    binding_mark_dirty(
        bindings=UserBinding.objects.filter(pk=binding.pk), actor_id=getattr(actor, "pk", None)
    )
    MirroredUser.objects.filter(pk=row.pk).update(status=MirroredUser.IMPORTED, reason="")
    tenant_event(
        tenant=tenant,
        type="m365_import_link",
        actor=actor,
        target=user,
        details={"microsoft_id": row.microsoft_id},
    )
    sync_after_commit(tenant_id=tenant.pk)
    binding.refresh_from_db()
    return binding
