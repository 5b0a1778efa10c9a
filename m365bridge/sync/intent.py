"""Durable intent: record, in the caller's transaction, that a binding must be synced,
and after commit ask a worker to do it. The broker only speeds things up; the sweep
(`apply.sweep_due_tenants`) finds any intent whose message was lost."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from directory import encryption, hooks

from ..attributes import SYNCED_STRATUS_FIELDS
from ..models import GroupBinding, UserBinding

log = logging.getLogger(__name__)

SYNC_TASK = "workers.tasks.m365_sync_tenant"
# Changes whose effect on Microsoft is computed from the user row by `plan`.
_SYNC_KINDS = {hooks.USER_SUSPENDED, hooks.USER_ACTIVATED, hooks.USER_PASSWORD_EXPIRED}
# Changes a bound group's security group follows (G1).
_GROUP_KINDS = {hooks.GROUP_UPDATED, hooks.GROUP_MEMBERS_CHANGED}
_GROUP_SYNCED_FIELDS = {"name", "description"}


def binding_mark_dirty(*, bindings, actor_id: int | None, **fields) -> int:
    """Bump the generation of `bindings` (a queryset) and mark them for sync; `fields`
    are further updates made in the same statement. Returns how many rows changed."""
    now = timezone.now()
    return bindings.update(
        needs_sync=True,
        generation=F("generation") + 1,
        intent_actor_id=actor_id,
        dirty_since=Case(When(needs_sync=True, then=F("dirty_since")), default=Value(now)),
        updated_at=now,
        **fields,
    )


def sync_after_commit(*, tenant_id: int, countdown: float | None = None) -> None:
    """Send the tenant's sync task once the current transaction commits (at once when
    there is none). Losing this message loses nothing: the sweep sends it again."""
    transaction.on_commit(lambda: sync_send(tenant_id=tenant_id, countdown=countdown))


def sync_send(*, tenant_id: int, countdown: float | None = None) -> None:
    options = {}
    queue = getattr(settings, "M365_SYNC_QUEUE", "")
    if queue:
        options["queue"] = queue
    if countdown:
        options["countdown"] = countdown
    app = current_app
    try:
        if app.conf.task_always_eager:  # development without a worker: run it here
            app.loader.import_default_modules()
            app.tasks[SYNC_TASK].apply(args=[tenant_id])
        else:  # by name: m365bridge does not import workers
            app.send_task(SYNC_TASK, args=[tenant_id], **options)
    except Exception as exc:  # broker down: the intent is in the database, the sweep resends
        log.warning(
            "could not queue the sync of tenant %s (%s); the sweep will retry",
            tenant_id,
            type(exc).__name__,
        )


def on_directory_change(change: hooks.DirectoryChange) -> None:
    """Hook subscriber: runs inside the directory service's transaction."""
    if change.group_id is not None and change.kind in _GROUP_KINDS:
        _group_changed(change)
        return
    if change.group_id is not None and change.kind == hooks.GROUP_DELETING:
        _group_deleting(change)
        return
    if change.user_id is None or change.kind == hooks.USER_CREATED:
        return
    if change.kind == hooks.USER_UPDATED and not (change.changed_fields & SYNCED_STRATUS_FIELDS):
        return
    bindings = UserBinding.objects.filter(user_id=change.user_id)
    tenant_id = bindings.values_list("tenant_id", flat=True).first()
    if tenant_id is None:
        return
    fields: dict = {}
    if change.kind == hooks.USER_PASSWORD_SET:
        if not change.password:
            return
        fields = {
            "password_encrypted": encryption.encrypt(change.password),
            "password_version": F("password_version") + 1,
        }
        bindings = bindings.filter(bound=True)
    elif change.kind == hooks.USER_DELETING:
        # Keep the binding without its user so a worker can still block the account.
        fields = {"user": None, "bound": False, "password_encrypted": ""}
    elif change.kind not in _SYNC_KINDS and change.kind != hooks.USER_UPDATED:
        return
    if binding_mark_dirty(bindings=bindings, actor_id=change.actor_id, **fields):
        sync_after_commit(tenant_id=tenant_id)


def _group_changed(change: hooks.DirectoryChange) -> None:
    if change.kind == hooks.GROUP_UPDATED and not (change.changed_fields & _GROUP_SYNCED_FIELDS):
        return
    bindings = GroupBinding.objects.filter(group_id=change.group_id)
    tenant_ids = set(bindings.values_list("tenant_id", flat=True))
    if binding_mark_dirty(bindings=bindings, actor_id=change.actor_id, next_attempt_at=None):
        for tenant_id in sorted(tenant_ids):
            sync_after_commit(tenant_id=tenant_id)


def _group_deleting(change: hooks.DirectoryChange) -> None:
    """The group's bindings go with it; its security groups stay in Microsoft 365
    (deleting one is permanent), which the event says."""
    from ..events import tenant_event

    actor = None
    if change.actor_id is not None:
        from directory.models import User

        actor = User.objects.filter(pk=change.actor_id).first()
    for binding in GroupBinding.objects.filter(group_id=change.group_id).select_related(
        "tenant__organization", "group"
    ):
        tenant_event(
            tenant=binding.tenant,
            type="m365_group_unbind",
            actor=actor,
            target=binding,
            details={
                "reason": "group_deleted",
                "microsoft_id": binding.microsoft_id,
                "microsoft_group_kept": bool(binding.microsoft_id),
            },
        )
