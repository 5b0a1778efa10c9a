"""Preview (dry run): what a sync of some user bindings would send, per account, with
the values Microsoft holds now (old → new). Each binding is planned by the engine's own
planner (`sync.plan.binding_plan`, no second implementation); Microsoft is only read,
20 accounts per `$batch` GET; nothing is written, neither to Microsoft nor to the
database. Bindings may be unsaved (a bind being previewed). Passwords never appear:
a preview says only that one would be set."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .. import graph
from ..attributes import SYNCED_GRAPH_PROPERTIES
from ..graph import BatchRequest
from ..models import GroupBinding, UserBinding
from . import engine
from . import plan as planning

SELECT = ",".join(("id", "accountEnabled", *SYNCED_GRAPH_PROPERTIES))
GROUP_SELECT = "id,displayName,description"
MEMBERS_SHOWN = 100

CREATE, TAKE_OVER, UPDATE, BLOCK, UNBLOCK, RESTORE, NOTHING, REFUSED = (
    "create",
    "take_over",
    "update",
    "block",
    "unblock",
    "restore",
    "nothing",
    "refused",
)
ACTIONS = (CREATE, TAKE_OVER, UPDATE, BLOCK, UNBLOCK, RESTORE, NOTHING, REFUSED)


@dataclass
class PreviewItem:
    """One account: what would be sent, and each changed value, old → new."""

    user_id: int | None
    email: str
    action: str
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    password_set: bool = False
    message: str = ""
    # A security group's members (their accounts' users), the first MEMBERS_SHOWN only.
    members_added: list[str] = field(default_factory=list)
    members_removed: list[str] = field(default_factory=list)


@dataclass
class Preview:
    items: list[PreviewItem] = field(default_factory=list)
    reads: int = 0  # Graph GETs the preview made

    added: int = 0  # members added to security groups, in all
    removed: int = 0
    kind: str = "accounts"
    # "Sync now": the pending group bindings, planned after the accounts as the sync does.
    groups: Preview | None = None

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(item.action for item in self.items)
        totals = {self.kind: len(self.items), **dict(sorted(counts.items()))}
        if self.kind == "groups":
            totals.update(members_added=self.added, members_removed=self.removed)
        return totals


def _read_request(key: str, binding: UserBinding, plan: planning.Plan) -> BatchRequest | None:
    if plan.action in (planning.NOTHING, planning.REMOVE):
        return None
    if binding.microsoft_id:
        target = binding.microsoft_id
    else:
        target = quote(plan.desired["userPrincipalName"], safe="@")
    return BatchRequest(id=key, method="GET", url=f"/users/{target}?$select={SELECT}")


def bindings_preview(client, bindings: list[UserBinding]) -> Preview:
    """Plan each binding and read its account from Microsoft, in `$batch` GETs."""
    planned, preview = [], Preview()
    for index, binding in enumerate(bindings):
        plan = planning.binding_plan(binding)
        planned.append((str(index), binding, plan))
    reads = [r for r in (_read_request(k, b, p) for k, b, p in planned) if r is not None]
    replies = engine.send(client, reads)
    preview.reads = len(reads)
    for key, binding, plan in planned:
        preview.items.append(_item(binding, plan, replies.get(key)))
    return preview


def _changes(body: dict, account: dict | None) -> dict[str, dict[str, Any]]:
    account = account or {}
    return {
        name: {"old": account.get(name), "new": value}
        for name, value in sorted(body.items())
        if account.get(name) != value
    }


def _item(binding: UserBinding, plan: planning.Plan, reply) -> PreviewItem:
    item = PreviewItem(
        user_id=binding.user_id or binding.user_ref,
        email=binding.user_label or (binding.user.email if binding.user else ""),
        action=NOTHING,
    )
    if plan.action in (planning.NOTHING, planning.REMOVE):
        return item
    if isinstance(reply, graph.GraphError) and not isinstance(reply, graph.NotFound):
        item.action, item.message = REFUSED, f"Microsoft 365 could not be read: {reply.message}"
        return item
    account = reply if isinstance(reply, dict) else None
    if plan.action == planning.CREATE and account is None:
        item.action, item.password_set = CREATE, True
        item.changes = _changes(plan.body, None)
    elif plan.action == planning.CREATE:
        takeover = planning.takeover_plan(plan)
        item.action, item.password_set = TAKE_OVER, takeover.password is not None
        item.changes = _changes(takeover.body, account)
    elif account is None:  # the linked account was deleted in Microsoft (P7)
        item.action, item.password_set = RESTORE, plan.password is not None
        item.changes = _changes({**plan.desired, "accountEnabled": plan.enabled}, None)
    else:
        item.changes = _changes(plan.body, account)
        item.password_set = plan.password is not None
        item.action = _update_action(item)
    return item


def _update_action(item: PreviewItem) -> str:
    enabled = item.changes.get("accountEnabled")
    if enabled is not None:
        return UNBLOCK if enabled["new"] else BLOCK
    if item.changes or item.password_set:
        return UPDATE
    return NOTHING


# --- security groups (G1) -------------------------------------------------------------


def group_bindings_preview(client, bindings: list[GroupBinding]) -> Preview:
    """Plan each group binding (`sync.plan.group_plan`) and read its group from
    Microsoft: created, renamed, members added and removed."""
    preview = Preview(kind="groups")
    planned = [(str(i), b, planning.group_plan(b)) for i, b in enumerate(bindings)]
    reads = [
        BatchRequest(id=key, method="GET", url=f"/groups/{b.microsoft_id}?$select={GROUP_SELECT}")
        for key, b, _ in planned
        if b.microsoft_id
    ]
    replies = engine.send(client, reads)
    preview.reads = len(reads)
    for key, binding, plan in planned:
        item = _group_item(binding, plan, replies.get(key))
        preview.added += len(plan.add)
        preview.removed += len(plan.remove)
        preview.items.append(item)
    return preview


def _labels(tenant_id: int, microsoft_ids: list[str]) -> list[str]:
    """Who the first members' accounts belong to, in the order given."""
    shown = microsoft_ids[:MEMBERS_SHOWN]
    labels = dict(
        UserBinding.objects.filter(tenant_id=tenant_id, microsoft_id__in=shown).values_list(
            "microsoft_id", "user_label"
        )
    )
    return [labels.get(i) or i for i in shown]


def _awaiting_accounts(binding: GroupBinding) -> int:
    """Members bound to the tenant whose account is not created yet: the planner leaves
    them out (no Microsoft id to add); a later sync adds them once it exists."""
    return (
        UserBinding.objects.filter(
            tenant_id=binding.tenant_id, bound=True, user__security_groups=binding.group_id
        )
        .filter(microsoft_id="")
        .count()
    )


def _group_item(binding: GroupBinding, plan: planning.GroupPlan, reply) -> PreviewItem:
    item = PreviewItem(user_id=None, email=binding.group.name, action=NOTHING)
    item.members_added = _labels(binding.tenant_id, plan.add)
    item.members_removed = _labels(binding.tenant_id, plan.remove)
    awaiting = _awaiting_accounts(binding) if binding.group_id else 0
    if awaiting:
        item.message = f"{awaiting} more members are added once their Microsoft 365 accounts exist."
    known = len(binding.known_members or [])
    members = {"old": known, "new": known + len(plan.add) - len(plan.remove)}
    if isinstance(reply, graph.GraphError) and not isinstance(reply, graph.NotFound):
        item.action, item.message = REFUSED, f"Microsoft 365 could not be read: {reply.message}"
        return item
    if plan.create or not isinstance(reply, dict):
        item.action = CREATE if plan.create else RESTORE
        properties = planning.group_properties_body(plan.properties)
        item.changes = _changes(properties, None)
        item.changes["members"] = {"old": None, "new": len(plan.add)}
        return item
    item.changes = _changes(planning.group_properties_body(plan.properties), reply)
    if plan.add or plan.remove:
        item.changes["members"] = members
    item.action = UPDATE if item.changes else NOTHING
    return item
