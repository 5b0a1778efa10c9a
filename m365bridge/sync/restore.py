"""The restore rules for accounts deleted in Microsoft 365 (P7); `sync.users` follows them.

When Microsoft says a bound account no longer exists (a PATCH answered 404, or a
reconcile found it deleted), the binding keeps the account's id and is marked
`drift = {"missing": true}`. The next sync tries to restore exactly that object from
`directory/deletedItems` (same id, so it is the account Stratus created) and then
brings it up to date in one PATCH: every synced attribute, sign-in, and a pending
password. Its event is `user_create_provision` with `"restored": true`.

If Microsoft no longer has the object (restore answers 404: deleted for good, or more
than 30 days ago), the link is dropped (`drift = {"replaces": old id}`) and the next
sync creates the account again; its `user_create_provision` says `"recreated": true`.
If that create finds the address held by another deleted object, the binding is
`waiting` with the reason, retried at growing intervals for up to 30 days, then `error`.

Each outcome is written on the binding (`lifecycle_note`, or the waiting reason) so the
admin sees which of these happened on the user's page and the tenant page.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from directory.backoff import growing_wait, jittered

from ..graph import BatchRequest
from ..models import UserBinding
from . import intent

MISSING, REPLACES = "missing", "replaces"
WAIT_LIMIT = timedelta(days=30)
WAIT_FIRST, WAIT_CAP = 60.0, 6 * 3600.0  # seconds between tries: 1 min, doubling, 6 h
WAIT_REASON = "Microsoft 365 still holds this address for a deleted account; retrying"
WAIT_CODE = "upn_held_by_deleted_account"


def restore_request(binding: UserBinding) -> BatchRequest:
    """Bring exactly our deleted object back from Microsoft's deleted items."""
    return BatchRequest(
        id=str(binding.pk),
        method="POST",
        url=f"/directory/deletedItems/{binding.microsoft_id}/restore",
    )


# --- marking ---------------------------------------------------------------------------


def bindings_mark_missing(*, bindings, actor_id: int | None) -> int:
    """Bound accounts Microsoft 365 no longer has (a queryset of bindings): keep their
    ids and mark them for a restore attempt. Returns how many were marked."""
    return intent.binding_mark_dirty(
        bindings=bindings.filter(bound=True).exclude(microsoft_id=""),
        actor_id=actor_id,
        drift={MISSING: True},
        state=UserBinding.PENDING,
        next_attempt_at=None,
    )


def binding_missing(row: UserBinding) -> None:
    """A locked row whose PATCH answered 404: try a restore next (the caller saves)."""
    row.drift = {MISSING: True}
    row.state = UserBinding.PENDING
    row.next_attempt_at = None


def binding_gone_for_good(row: UserBinding) -> None:
    """A locked row whose restore answered 404: Microsoft no longer has the object, so
    the next round creates the account again (the caller saves)."""
    old_id = row.microsoft_id
    row.microsoft_id, row.known_properties, row.known_enabled = "", {}, None
    row.password_pushed_version = 0
    row.drift = {REPLACES: old_id}
    row.state = UserBinding.PENDING
    row.next_attempt_at = None
    row.lifecycle_note = (
        f"The account was deleted in Microsoft 365 and is no longer in its deleted items "
        f"(object {old_id}); Stratus is creating it again."
    )


# --- waiting while a deleted account holds the address ------------------------------------


def wait_seconds(attempts: int) -> float:
    return jittered(growing_wait(attempts, first=WAIT_FIRST, cap=WAIT_CAP))


def binding_wait(row: UserBinding, plan) -> bool:
    """Record on a locked row that its address is held by a deleted account: wait and
    retry at growing intervals, until 30 days have passed; then it is an error. Returns
    True while still waiting (the caller stores the error fields first, saves after)."""
    now = timezone.now()
    if row.waiting_since is None or row.state == UserBinding.ERROR:
        row.waiting_since = now  # first time, or an admin's retry after giving up
    upn = (plan.desired or {}).get("userPrincipalName", "")
    row.last_error_code = WAIT_CODE
    if now - row.waiting_since >= WAIT_LIMIT:
        row.state, row.next_attempt_at = UserBinding.ERROR, None
        row.last_error_message = (
            f"Microsoft 365 has held {upn or 'this address'} for a deleted account for 30 "
            "days; Stratus stopped retrying. Restore or permanently delete that account in "
            "Microsoft 365, then retry."
        )
        return False
    row.state = UserBinding.WAITING
    row.next_attempt_at = now + timedelta(seconds=wait_seconds(row.attempts))
    row.last_error_message = (
        f"{WAIT_REASON} (next try {row.next_attempt_at:%Y-%m-%d %H:%M} UTC; Stratus gives up "
        f"after {row.waiting_since + WAIT_LIMIT:%Y-%m-%d}). Restore or permanently delete "
        f"the deleted account holding {upn or 'it'} in Microsoft 365 to continue now."
    )
    return True


# --- after a successful write ---------------------------------------------------------------


def on_applied(row: UserBinding, plan, *, creating: bool, took_over: bool) -> None:
    """Bookkeeping on a locked row whose write Microsoft accepted."""
    row.waiting_since = None
    if getattr(plan, "restored", False):
        row.lifecycle_note = (
            f"The account was deleted in Microsoft 365; Stratus restored it from the deleted "
            f"items (same object {row.microsoft_id}) on {timezone.now():%Y-%m-%d %H:%M} UTC "
            "and brought it up to date."
        )
    elif creating and plan.drift.get(REPLACES):
        row.lifecycle_note = (
            f"The account was deleted in Microsoft 365 and could not be restored; Stratus "
            f"created it again on {timezone.now():%Y-%m-%d %H:%M} UTC (new object "
            f"{row.microsoft_id}, replacing {plan.drift[REPLACES]})."
        )
    if (
        creating
        and not took_over
        and not getattr(plan, "restored", False)
        and row.tenant.licence_sku_id
    ):
        row.licence_pending = row.tenant.licence_sku_id


def create_details(plan) -> dict:
    """What `user_create_provision` adds for an account that was deleted in Microsoft."""
    if getattr(plan, "restored", False):
        return {
            "restored": True,
            "password_set": "stratus" if plan.password_retained else "unchanged",
        }
    if plan.drift.get(REPLACES):
        return {"recreated": True, "replaces_microsoft_id": plan.drift[REPLACES]}
    return {}
