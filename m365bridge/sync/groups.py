"""Security groups (G1): a Stratus group bound to a tenant is a security group there
(`securityEnabled` true, `mailEnabled` false) whose members are the group's members
that have an account in the tenant (their user binding is bound and has a Microsoft id).

Level-triggered like the users: each dirty group binding is compared with what
Microsoft was last told (`known_properties`, `known_members`) and only the difference
is sent. The group is created with up to 20 members in `members@odata.bind`; further
members are added with `$ref` POSTs and removed with `$ref` DELETEs, 20 to a `$batch`.
A member "already there" (400 duplicate) counts as added and one "already gone" (404)
as removed, so applying twice changes nothing. It runs in the tenant's sync task after
the users, so the accounts of new members exist first.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import graph
from ..events import tenant_event
from ..graph import BatchRequest
from ..models import GroupBinding, UserBinding
from .intent import binding_mark_dirty

log = logging.getLogger(__name__)

CHUNK = 20  # group bindings claimed at once
BIND_LIMIT = 20  # members@odata.bind on create (graph-facts §3.1)
GRAPH_ROOT = "https://graph.microsoft.com/v1.0"


# --- intent -----------------------------------------------------------------------------


def group_bindings_mark_dirty(*, group_bindings, actor_id: int | None = None) -> int:
    return binding_mark_dirty(bindings=group_bindings, actor_id=actor_id, next_attempt_at=None)


def member_account_changed(
    *, tenant_id: int, user_id: int | None, microsoft_ids=(), actor_id: int | None = None
) -> None:
    """A member's account in the tenant was created or removed: the security groups it
    belongs to (by Stratus membership, or by what Microsoft was last told) follow, in
    the name of whoever changed the member's binding."""
    ids = {i for i in microsoft_ids if i}
    pks = set()
    if user_id is not None:
        pks.update(
            GroupBinding.objects.filter(
                tenant_id=tenant_id, group__members__pk=user_id
            ).values_list("pk", flat=True)
        )
    if ids:
        for pk, known in GroupBinding.objects.filter(tenant_id=tenant_id).values_list(
            "pk", "known_members"
        ):
            if ids & set(known or []):
                pks.add(pk)
    if pks:
        binding_mark_dirty(bindings=GroupBinding.objects.filter(pk__in=pks), actor_id=actor_id)


# --- planning -------------------------------------------------------------------------------


def mail_nickname(name: str, pk: int) -> str:
    """The required `mailNickname`: the name in allowed ASCII (≤ 64 characters)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    nickname = re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_name).strip("-")[:50]
    return f"{nickname or 'group'}-{pk}"


def desired_properties(binding: GroupBinding) -> dict:
    return {"displayName": binding.group.name[:256], "description": binding.group.description}


def desired_members(binding: GroupBinding) -> list[str]:
    """Microsoft ids of the group's members that have an account in this tenant."""
    return sorted(
        UserBinding.objects.filter(
            tenant_id=binding.tenant_id,
            bound=True,
            user__security_groups=binding.group_id,
        )
        .exclude(microsoft_id="")
        .values_list("microsoft_id", flat=True)
    )


@dataclass
class GroupPlan:
    generation: int
    properties: dict = field(default_factory=dict)  # desired
    changed: dict = field(default_factory=dict)  # what to PATCH
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    create: bool = False
    drift: dict = field(default_factory=dict)  # what a reconcile found changed in Microsoft


def group_plan(binding: GroupBinding) -> GroupPlan:
    desired = desired_properties(binding)
    members = desired_members(binding)
    known = set(binding.known_members or [])
    plan = GroupPlan(
        generation=binding.generation, properties=desired, drift=dict(binding.drift or {})
    )
    plan.create = not binding.microsoft_id
    if not plan.create:
        plan.changed = {
            k: (v or None) if k == "description" else v
            for k, v in desired.items()
            if (binding.known_properties or {}).get(k) != v
        }
    plan.add = [m for m in members if m not in known]
    plan.remove = sorted(known - set(members))
    return plan


def _ref(microsoft_id: str) -> str:
    return f"{GRAPH_ROOT}/directoryObjects/{microsoft_id}"


def _properties_body(properties: dict) -> dict:
    return {**properties, "description": properties["description"] or None}


def _existing_group(client, binding: GroupBinding) -> str:
    """The id of the Microsoft group already made for this Stratus group, if any: its
    mailNickname carries the Stratus group's id. Looked up before every create, so a
    create whose reply was lost, or a group kept after "stop syncing", is reused rather
    than duplicated."""
    nickname = mail_nickname(binding.group.name, binding.group_id)
    found = client.get(
        "/groups", params={"$filter": f"mailNickname eq '{nickname}'", "$select": "id"}
    )
    return str(found["value"][0]["id"]) if found.get("value") else ""


def create_body(binding: GroupBinding, plan: GroupPlan) -> dict:
    body = {
        "displayName": plan.properties["displayName"],
        "mailEnabled": False,
        "securityEnabled": True,
        "mailNickname": mail_nickname(binding.group.name, binding.group_id),
        "groupTypes": [],
    }
    if plan.properties["description"]:
        body["description"] = plan.properties["description"]
    if plan.add:
        body["members@odata.bind"] = [_ref(m) for m in plan.add[:BIND_LIMIT]]
    return body


# --- claiming and applying --------------------------------------------------------------------


def _claim(*, tenant_id: int, token: str, lease) -> list[GroupBinding]:
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            GroupBinding.objects.filter(tenant_id=tenant_id, needs_sync=True)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:CHUNK]
        )
        if not ids:
            return []
        GroupBinding.objects.filter(pk__in=ids).update(claim_token=token, claimed_until=now + lease)
    return list(
        GroupBinding.objects.filter(pk__in=ids, claim_token=token)
        .select_related("group", "tenant")
        .order_by("pk")
    )


def groups_sync(*, client, tenant, result, deadline: float, lease) -> None:
    """Apply every due group binding of the tenant (after its users)."""
    token = uuid.uuid4().hex
    try:
        while time.monotonic() < deadline:
            claimed = _claim(tenant_id=tenant.pk, token=token, lease=lease)
            if not claimed:
                break
            for binding in claimed:
                try:
                    _apply(client, binding, result)
                except graph.NeedsReauthorization:
                    raise
                except Exception as exc:  # one bad group never stops the others
                    log.exception("group binding %s failed", binding.pk)
                    _record_failure(binding, None, _as_graph_error(exc), "group_update_provision")
                    result.failed += 1
    finally:
        GroupBinding.objects.filter(claim_token=token).update(claim_token="", claimed_until=None)


def _as_graph_error(exc: Exception) -> graph.GraphError:
    if isinstance(exc, graph.GraphError):
        return exc
    return graph.GraphError(
        f"Stratus could not prepare this change ({type(exc).__name__}).", code="internal_error"
    )


def _send(client, requests_) -> dict:
    from .apply import _send as send

    return send(client, requests_) if requests_ else {}


def _apply(client, binding: GroupBinding, result) -> None:
    plan = group_plan(binding)
    created_id = ""
    added_at_create: list[str] = []
    linked = False
    if plan.create:
        try:
            created_id = _existing_group(client, binding)
            if created_id:  # ours from a lost reply, or kept after "stop syncing": reuse it
                linked = True
                client.patch(f"/groups/{created_id}", _properties_body(plan.properties))
            else:
                created = client.post("/groups", create_body(binding, plan))
                created_id = str(created["id"])
                added_at_create = plan.add[:BIND_LIMIT]
        except graph.NeedsReauthorization:
            raise
        except graph.GraphError as error:
            _record_error(binding, plan, error, "group_create_provision", result)
            return
        rest = plan.add[len(added_at_create) :]
    else:
        rest = plan.add
        if plan.changed:
            try:
                client.patch(f"/groups/{binding.microsoft_id}", plan.changed)
            except graph.NeedsReauthorization:
                raise
            except graph.GraphError as error:
                _record_error(binding, plan, error, "group_update_provision", result)
                return
    group_id = created_id or binding.microsoft_id
    requests_ = [
        BatchRequest(
            id=f"a{i}",
            method="POST",
            url=f"/groups/{group_id}/members/$ref",
            body={"@odata.id": _ref(m)},
        )
        for i, m in enumerate(rest)
    ] + [
        BatchRequest(id=f"r{i}", method="DELETE", url=f"/groups/{group_id}/members/{m}/$ref")
        for i, m in enumerate(plan.remove)
    ]
    added, removed, failures = list(added_at_create), [], []
    for request_id, outcome in _send(client, requests_).items():
        index = int(request_id[1:])
        adding = request_id.startswith("a")
        member = rest[index] if adding else plan.remove[index]
        if isinstance(outcome, graph.GraphError):
            if adding and isinstance(outcome, graph.Conflict):
                added.append(member)  # already a member
            elif not adding and isinstance(outcome, graph.NotFound):
                removed.append(member)  # already gone
            else:
                failures.append(outcome)
        elif adding:
            added.append(member)
        else:
            removed.append(member)
    _record_applied(
        binding,
        plan,
        result,
        created_id=created_id,
        linked=linked,
        added=added,
        removed=removed,
        failures=failures,
    )


# --- recording outcomes -------------------------------------------------------------------------


def _locked(binding: GroupBinding) -> GroupBinding | None:
    return (
        GroupBinding.objects.select_for_update(of=("self",))
        .select_related("tenant__organization", "group", "intent_actor")
        .filter(pk=binding.pk)
        .first()
    )


def _event(row: GroupBinding, type_: str, *, outcome: str = "success", details=None) -> None:
    tenant_event(
        tenant=row.tenant,
        type=type_,
        actor=row.intent_actor,
        target=row,
        outcome=outcome,
        details=details,
    )


def _release(row: GroupBinding, plan: GroupPlan | None, *, clean: bool) -> None:
    done = clean and plan is not None and row.generation == plan.generation
    row.release_claim(applied_generation=plan.generation if done else None)
    if done and plan.drift and row.drift == plan.drift:
        row.drift = {}  # put back; a newer reconcile's finding stays


def _record_applied(
    binding, plan, result, *, created_id, added, removed, failures, linked=False
) -> None:
    with transaction.atomic():
        row = _locked(binding)
        if row is None:  # unbound meanwhile: Microsoft's group stays as it is
            return
        if created_id:
            row.microsoft_id = created_id
            row.known_properties = dict(plan.properties)
            _event(
                row,
                "group_create_provision",
                details={
                    "microsoft_id": created_id,
                    "security_enabled": True,
                    "mail_enabled": False,
                    "linked_existing": linked,
                },
            )
            result.count("group_create")
        elif plan.changed:
            row.known_properties = dict(plan.properties)
            details = {"microsoft_id": row.microsoft_id, "properties": sorted(plan.changed)}
            if plan.drift.get("properties"):
                details.update(reason="drift", drifted=sorted(plan.drift["properties"]))
            _event(row, "group_update_provision", details=details)
            result.count("group_update")
        known = (set(row.known_members or []) | set(added)) - set(removed)
        row.known_members = sorted(known)
        if added or removed:
            details = {
                "microsoft_id": row.microsoft_id,
                "added": len(added),
                "removed": len(removed),
                "added_ids": sorted(added),
                "removed_ids": sorted(removed),
            }
            if plan.drift.get("members"):
                details["reason"] = "drift"
            _event(row, "group_members_provision", details=details)
            result.count("group_members")
        if created_id or plan.changed or added or removed:
            result.applied += 1
        row.synced_at = timezone.now()
        if failures:
            error = failures[0]
            retry = all(f.retryable for f in failures)
            if retry:
                row.retry_later(error)
                result.retrying += 1
            else:
                row.fail(error)
                _event(
                    row,
                    "group_members_provision",
                    outcome="failure",
                    details={
                        "microsoft_id": row.microsoft_id,
                        "failed": len(failures),
                        "code": row.last_error_code,
                        "message": row.last_error_message,
                        "request_id": row.last_error_request_id,
                    },
                )
                result.failed += 1
            _release(row, plan, clean=not retry)
        else:
            row.state = GroupBinding.PROVISIONED
            row.succeed()
            _release(row, plan, clean=True)
        row.save()


def _record_error(binding, plan, error: graph.GraphError, type_: str, result) -> None:
    if error.retryable:
        with transaction.atomic():
            row = _locked(binding)
            if row is None:
                return
            row.retry_later(error)
            _release(row, plan, clean=False)
            row.save()
        result.retrying += 1
        return
    _record_failure(binding, plan, error, type_)
    result.failed += 1


def _record_failure(binding, plan, error: graph.GraphError, type_: str) -> None:
    """Microsoft refused: the group shows why and waits for a change or a retry."""
    with transaction.atomic():
        row = _locked(binding)
        if row is None:
            return
        row.fail(error)
        _event(
            row,
            type_,
            outcome="failure",
            details={"microsoft_id": row.microsoft_id, **row.error_details()},
        )
        _release(row, plan, clean=True)
        row.save()
