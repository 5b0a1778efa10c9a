"""The events of the user kind (E1): what Directory Insights says about each write to a
user's Microsoft 365 account, and why sign-in was blocked or allowed again."""

from __future__ import annotations

from ..models import UserBinding
from . import plan as planning
from . import restore
from .engine import row_event


def block_reason(row: UserBinding, plan: planning.Plan) -> str:
    """Why sign-in is blocked, for `user_deprovision` (every block event says why)."""
    user = row.user
    if plan.drift.get("enabled"):
        return "drift"
    if not row.bound or user is None:
        return "deleted" if user is None else "unbound"
    if user.status == user.SUSPENDED:
        return "suspended"
    if user.password_expired_at is not None:
        return "password_expired"
    return "blocked"


def unblock_reason(row: UserBinding, plan: planning.Plan) -> str:
    """Why sign-in is allowed again, for `user_reactivate_provision`."""
    if plan.drift.get("enabled"):
        return "drift"
    if plan.password is not None:
        return "password_set"
    return "reactivated"


def _enabled_details(row: UserBinding, plan: planning.Plan) -> dict:
    details = {"microsoft_id": row.microsoft_id, "account_enabled": plan.enabled}
    if plan.enabled:
        details["reason"] = unblock_reason(row, plan)
        return details
    details["reason"] = block_reason(row, plan)
    user = row.user
    if (
        row.bound
        and user is not None
        and user.password_expired_at
        and user.status != user.SUSPENDED
    ):
        details["password_expired"] = True  # blocked until the user sets a new one (P6)
    return details


def created(row: UserBinding, plan: planning.Plan, *, took_over: bool) -> None:
    # An earlier create of ours whose reply was lost is linked, not "taken over".
    own_earlier = took_over and row.creates_sent > 1
    details = {
        "microsoft_id": row.microsoft_id,
        "took_over_existing": took_over and not own_earlier,
        "password_set": "stratus"
        if plan.password_retained
        else ("unchanged" if took_over else "random"),
        "account_enabled": plan.enabled,
    }
    if own_earlier:
        details["linked_after_lost_reply"] = True
    details.update(restore.create_details(plan))
    row_event(row, "user_create_provision", details=details)
    if took_over and plan.previously_enabled is False and plan.enabled:
        row_event(
            row,
            "user_reactivate_provision",
            details={
                "microsoft_id": row.microsoft_id,
                "took_over_existing": True,
                "reason": "took_over",
            },
        )


def updated(row: UserBinding, plan: planning.Plan) -> None:
    drift = plan.drift
    base = {"microsoft_id": row.microsoft_id}
    if plan.properties:
        details = {**base, "properties": plan.properties}
        if drift.get("properties"):
            details.update(reason="drift", drifted=sorted(drift["properties"]))
        row_event(row, "user_update_provision", details=details)
    if plan.password is not None:
        details = dict(base)
        if drift.get("password"):
            details.update(reason="drift", sessions_revoked=plan.revoke_sessions)
        row_event(row, "user_password_update_provision", details=details)
    if "accountEnabled" in plan.body:
        row_event(
            row,
            "user_reactivate_provision" if plan.enabled else "user_deprovision",
            details=_enabled_details(row, plan),
        )
