"""Bound security groups deleted in Microsoft 365, made whole again (the P7 rule of
`sync.restore`, for groups). A group binding whose group Microsoft reports deleted (a
reconcile's `groups/delta` says `@removed`, or a PATCH answers 404) keeps the group's
id and is marked `drift = {"missing": true}`. The next sync first asks Microsoft to
restore exactly that object from `directory/deletedItems` (same id, so it is the group
Stratus made); then its name, description and every member are sent again. If
Microsoft no longer has it (restore answers 404; security groups are deleted for good
in Entra ID), the group is created again with its members. The event is
`group_create_provision` with `"restored": true` or `"recreated": true`.
"""

from __future__ import annotations

from .. import graph
from ..models import GroupBinding
from . import intent
from . import plan as planning

MISSING = "missing"


def group_bindings_mark_missing(*, binding_ids: list[int], actor_id: int | None) -> int:
    """Bound groups Microsoft 365 no longer has: keep their ids, try a restore next."""
    if not binding_ids:
        return 0
    return intent.binding_mark_dirty(
        bindings=GroupBinding.objects.filter(pk__in=binding_ids).exclude(microsoft_id=""),
        actor_id=actor_id,
        drift={MISSING: True},
        next_attempt_at=None,
    )


def group_binding_missing(row: GroupBinding) -> None:
    """A locked row whose group answered 404: try a restore next (the caller saves)."""
    row.drift = {MISSING: True}
    row.next_attempt_at = None


def restore_plan(client, binding: GroupBinding, plan: planning.GroupPlan) -> str:
    """Restore the missing group, or prepare its creation again. Returns "restored" or
    "recreated"; `plan` then sends every property and member (nothing is known)."""
    try:
        client.post(f"/directory/deletedItems/{binding.microsoft_id}/restore", None)
        outcome = "restored"
    except graph.NotFound:
        outcome = "recreated"
    plan.add = planning.group_desired_members(binding)
    plan.remove = []
    if outcome == "restored":
        plan.changed = planning.group_properties_body(plan.properties)
    else:
        plan.create, plan.changed = True, {}
    return outcome
