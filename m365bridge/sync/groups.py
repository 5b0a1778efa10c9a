"""The group kind (G1): a Stratus group bound to a tenant is a security group there
(`securityEnabled` true, `mailEnabled` false) whose members are the group's members that
have an account in the tenant (their user binding is bound and has a Microsoft id).

Level-triggered like the users: each claimed group binding is planned against what
Microsoft was last told (`sync.plan.group_plan`) and only the difference is sent. The
group is created with up to 20 members in `members@odata.bind`; further members are
added with `$ref` POSTs and removed with `$ref` DELETEs, 20 to a `$batch`. A member
"already there" (400 duplicate) counts as added and one "already gone" (404) as removed,
so applying twice changes nothing. The tenant's sync runs it after the users, so the
accounts of new members exist first.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from .. import graph
from ..graph import BatchRequest
from ..models import GroupBinding
from . import engine, group_restore
from . import plan as planning
from .engine import SyncResult

log = logging.getLogger(__name__)

GROUPS = engine.Kind(model=GroupBinding, related=("group", "tenant__organization"))


def chunk_sync(client, bindings: list[GroupBinding], result: SyncResult) -> None:
    """Each claimed group binding in turn: its create or PATCH, then its members."""
    for binding in bindings:
        try:
            _sync_one(client, binding, result)
        except (graph.NeedsReauthorization, engine.LeaseLost):
            raise
        except Exception as exc:  # one bad group never stops the others
            log.exception("group binding %s failed", binding.pk, extra={"binding": binding.pk})
            _record_error(
                binding, None, engine.as_graph_error(exc), "group_update_provision", result
            )


def _existing_group(client, binding: GroupBinding) -> str:
    """The id of the Microsoft group already made for this Stratus group, if any: its
    mailNickname carries the Stratus group's id. Looked up before every create, so a
    create whose reply was lost, or a group kept after "stop syncing", is reused rather
    than duplicated."""
    nickname = planning.group_mail_nickname(binding.group.name, binding.group_id)
    found = client.get(
        "/groups", params={"$filter": f"mailNickname eq '{nickname}'", "$select": "id"}
    )
    return str(found["value"][0]["id"]) if found.get("value") else ""


def _create_or_link(client, binding, plan) -> tuple[str, list[str], bool]:
    """(group id, members added with the create, whether an existing group was linked)."""
    existing = _existing_group(client, binding)
    if existing:  # ours from a lost reply, or kept after "stop syncing": reuse it
        client.patch(f"/groups/{existing}", planning.group_properties_body(plan.properties))
        return existing, [], True
    created = client.post("/groups", planning.group_create_body(binding, plan))
    return str(created["id"]), plan.add[: planning.GROUP_BIND_LIMIT], False


def _sync_one(client, binding: GroupBinding, result: SyncResult) -> None:
    plan = planning.group_plan(binding)
    created_id, added_at_create, linked, came_back = "", [], False, ""
    try:
        if plan.drift.get(group_restore.MISSING) and binding.microsoft_id:
            came_back = group_restore.restore_plan(client, binding, plan)
        if plan.create:
            created_id, added_at_create, linked = _create_or_link(client, binding, plan)
        elif plan.changed:
            client.patch(f"/groups/{binding.microsoft_id}", plan.changed)
    except graph.NeedsReauthorization:
        raise
    except graph.NotFound as error:
        if plan.create or came_back:
            _record_error(binding, plan, error, "group_create_provision", result)
        else:  # deleted in Microsoft 365: restored or created again next
            _record_missing(binding, result)
        return
    except graph.GraphError as error:
        type_ = "group_create_provision" if plan.create else "group_update_provision"
        _record_error(binding, plan, error, type_, result)
        return
    group_id = created_id or binding.microsoft_id
    rest = plan.add[len(added_at_create) :]
    added, removed, failures = _members_sync(client, group_id, rest, plan.remove)
    _record_synced(
        binding,
        plan,
        result,
        created_id=created_id,
        linked=linked,
        added=added_at_create + added,
        removed=removed,
        failures=failures,
        came_back=came_back,
    )


def _members_sync(client, group_id: str, add: list[str], remove: list[str]):
    """Send the member changes; returns (added, removed, failures)."""
    requests_ = [
        BatchRequest(
            id=f"a{i}",
            method="POST",
            url=f"/groups/{group_id}/members/$ref",
            body={"@odata.id": planning.member_ref(m)},
        )
        for i, m in enumerate(add)
    ] + [
        BatchRequest(id=f"r{i}", method="DELETE", url=f"/groups/{group_id}/members/{m}/$ref")
        for i, m in enumerate(remove)
    ]
    added, removed, failures = [], [], []
    for request_id, reply in engine.send(client, requests_).items():
        adding = request_id.startswith("a")
        member = (add if adding else remove)[int(request_id[1:])]
        if not isinstance(reply, graph.GraphError):
            (added if adding else removed).append(member)
        elif adding and isinstance(reply, graph.Conflict):
            added.append(member)  # already a member
        elif not adding and isinstance(reply, graph.NotFound):
            removed.append(member)  # already gone
        else:
            failures.append(reply)
    return added, removed, failures


# --- recording outcomes -------------------------------------------------------------------------


def _drift_done(row: GroupBinding, plan: planning.GroupPlan) -> None:
    if plan.drift and row.drift == plan.drift and row.generation == plan.generation:
        row.drift = {}  # put back; a newer reconcile's finding stays


def _record_synced(
    binding, plan, result, *, created_id, added, removed, failures, linked=False, came_back=""
) -> None:
    def update(row):  # unbound meanwhile: the row is gone, Microsoft's group stays
        extra = _came_back_recorded(row, came_back) if came_back else {}
        _properties_recorded(row, plan, result, created_id=created_id, linked=linked, extra=extra)
        _members_recorded(row, plan, result, added=added, removed=removed)
        if created_id or plan.changed or added or removed:
            result.applied += 1
        row.synced_at = timezone.now()
        if failures:
            return _members_failed(row, failures, result)
        row.state = GroupBinding.PROVISIONED
        row.succeed()
        _drift_done(row, plan)
        return True

    engine.record(GROUPS, binding.pk, plan.generation, update)


def _came_back_recorded(row, came_back: str) -> dict:
    """A group deleted in Microsoft 365 is back: its members start from nothing, and
    its create event says how it came back."""
    row.known_members = []
    if row.drift.get(group_restore.MISSING):
        row.drift = {}
    if came_back == "restored":
        GROUPS.event(
            row,
            "group_create_provision",
            details={"microsoft_id": row.microsoft_id, "restored": True},
        )
        return {}
    return {"recreated": True, "replaces": row.microsoft_id}


def _record_missing(binding, result) -> None:
    def update(row):
        group_restore.group_binding_missing(row)
        return False

    engine.record(GROUPS, binding.pk, None, update)
    result.retrying += 1


def _properties_recorded(
    row, plan, result, *, created_id: str, linked: bool, extra: dict | None = None
) -> None:
    if created_id:
        row.microsoft_id = created_id
        row.known_properties = dict(plan.properties)
        GROUPS.event(
            row,
            "group_create_provision",
            details={
                "microsoft_id": created_id,
                "security_enabled": True,
                "mail_enabled": False,
                "linked_existing": linked,
                **(extra or {}),
            },
        )
        result.count("group_create")
    elif plan.changed:
        row.known_properties = dict(plan.properties)
        details = {"microsoft_id": row.microsoft_id, "properties": sorted(plan.changed)}
        if plan.drift.get("properties"):
            details.update(reason="drift", drifted=sorted(plan.drift["properties"]))
        GROUPS.event(row, "group_update_provision", details=details)
        result.count("group_update")


def _members_recorded(row, plan, result, *, added: list[str], removed: list[str]) -> None:
    row.known_members = sorted((set(row.known_members or []) | set(added)) - set(removed))
    if not (added or removed):
        return
    details = {
        "microsoft_id": row.microsoft_id,
        "added": len(added),
        "removed": len(removed),
        "added_ids": sorted(added),
        "removed_ids": sorted(removed),
    }
    if plan.drift.get("members"):
        details["reason"] = "drift"
    GROUPS.event(row, "group_members_provision", details=details)
    result.count("group_members")


def _members_failed(row, failures: list[graph.GraphError], result) -> bool:
    """Some member changes failed: retry later if all were transient, else show why."""
    error = failures[0]
    if all(f.retryable for f in failures):
        row.retry_later(error)
        result.retrying += 1
        return False
    row.fail(error)
    GROUPS.event(
        row,
        "group_members_provision",
        outcome="failure",
        details={"microsoft_id": row.microsoft_id, "failed": len(failures), **row.error_details()},
    )
    result.failed += 1
    return True


def _record_error(binding, plan, error: graph.GraphError, type_: str, result) -> None:
    if error.retryable:
        engine.record_retry(GROUPS, binding.pk, error, result)
        return
    engine.record_failure(
        GROUPS,
        binding.pk,
        plan.generation if plan is not None else None,
        error,
        result,
        event_type=type_,
        details={"microsoft_id": binding.microsoft_id},
    )
