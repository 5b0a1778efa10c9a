"""Everything the Microsoft 365 bridge hangs on the directory's hooks, in one place.

The directory announces its changes and asks its bridges a few questions without
importing them (`directory.hooks`). `subscribe()` (called once, from `apps.ready`)
registers the bridge's answers:

- `directory_changed`: a change Microsoft 365 must follow marks the user's or group's
  bindings for sync (durable intent, inside the directory's transaction) and sends the
  tenant's sync task after commit; a password is kept encrypted on the binding (K1); a
  new or removed profile photo marks the account's photo row (`sync.photos`);
- `bindings.binding_password_problems` (through `services`): Microsoft's password rules
  for bound users, so a password Microsoft would refuse is refused before it is saved;
- `selectors.binding_service_status` and `selectors.binding_password_rules`: what the
  portal shows of a user's Microsoft 365 account and rules;
- the users list's "Microsoft 365: password pending" filter and badge (the user's
  binding holds no password yet: their next portal sign-in pushes it);
- the write budget's Redis lost and found again: recorded for the console's banner
  (`pause`).
"""

from __future__ import annotations

from django.db.models import F

from directory import encryption, hooks
from directory.models import User

from . import pause, selectors, services
from .attributes import SYNCED_STRATUS_FIELDS
from .events import tenant_event
from .graph import budget
from .models import GroupBinding, UserBinding
from .sync.intent import binding_mark_dirty, sync_after_commit
from .sync.photos import photo_mark_dirty

# Changes whose effect on Microsoft is computed from the user row by the planner.
_USER_STATE_KINDS = {hooks.USER_SUSPENDED, hooks.USER_ACTIVATED, hooks.USER_PASSWORD_EXPIRED}
# Changes a bound group's security group follows (G1).
_GROUP_KINDS = {hooks.GROUP_UPDATED, hooks.GROUP_MEMBERS_CHANGED}
_GROUP_SYNCED_FIELDS = {"name", "description"}


PASSWORD_PENDING = "Microsoft 365: password pending"


def subscribe() -> None:
    hooks.subscribe(directory_changed)
    budget.redis_lost_observers.append(pause.sending_pause_record)
    budget.redis_found_observers.append(pause.sending_pause_clear)
    hooks.add_password_check(services.binding_password_problems)
    hooks.add_service_status_provider(selectors.binding_service_status)
    hooks.add_password_rule_provider(selectors.binding_password_rules)
    hooks.add_user_list_flag(
        hooks.UserListFlag(
            key="m365_password_pending",
            label=PASSWORD_PENDING,
            condition=selectors.user_password_pending_condition,
        )
    )


def directory_changed(change: hooks.DirectoryChange) -> None:
    """Runs inside the directory service's transaction: only marks intent."""
    if change.group_id is not None:
        if change.kind in _GROUP_KINDS:
            _group_changed(change)
        elif change.kind == hooks.GROUP_DELETING:
            _group_deleting(change)
        return
    if change.user_id is not None:
        _user_changed(change)


def _user_changed(change: hooks.DirectoryChange) -> None:
    if change.kind == hooks.USER_CREATED:
        return
    if change.kind == hooks.USER_PHOTO_CHANGED:
        tenant_id = photo_mark_dirty(user_id=change.user_id, actor_id=change.actor_id)
        if tenant_id is not None:
            sync_after_commit(tenant_id=tenant_id)
        return
    if change.kind == hooks.USER_SIGNED_IN:
        _signed_in(change)
        return
    if change.kind == hooks.USER_UPDATED and not (change.changed_fields & SYNCED_STRATUS_FIELDS):
        return
    bindings = UserBinding.objects.filter(user_id=change.user_id)
    tenant_id = bindings.values_list("tenant_id", flat=True).first()
    if tenant_id is None:
        if change.kind == hooks.USER_PASSWORD_SET and change.password:
            _password_retain(change, encryption.encrypt(change.password))
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
        if not bindings.exists():  # unbound, or being unbound: keep it for a rebind
            _password_retain(change, fields["password_encrypted"])
            return
    elif change.kind == hooks.USER_DELETING:
        # Keep the binding without its user so a worker can still block the account.
        fields = {"user": None, "bound": False, "password_encrypted": ""}
    elif change.kind not in _USER_STATE_KINDS and change.kind != hooks.USER_UPDATED:
        return
    if binding_mark_dirty(bindings=bindings, actor_id=change.actor_id, **fields):
        sync_after_commit(tenant_id=tenant_id)


def _password_retain(change: hooks.DirectoryChange, password_encrypted: str) -> None:
    """Not bound yet: keep the password for a bind within the window (services.passwords)."""
    user = User.objects.select_related("organization").filter(pk=change.user_id).first()
    if user is not None:
        services.password_retain(user=user, password_encrypted=password_encrypted)


def _signed_in(change: hooks.DirectoryChange) -> None:
    """A bound user whose password Stratus does not hold yet signed in: push it now."""
    user = User.objects.filter(pk=change.user_id, password_expired_at__isnull=True).first()
    if user is not None and change.password:
        services.binding_password_capture(user=user, password=change.password)


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
    actor = User.objects.filter(pk=change.actor_id).first() if change.actor_id else None
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
