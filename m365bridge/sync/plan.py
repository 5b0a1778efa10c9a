"""The planners: what one binding needs from Microsoft right now, by comparing what
Stratus holds (desired) with what Microsoft was last told (known). They read the
database but write nothing and send nothing; the kinds (`sync.users`, `sync.groups`)
turn a plan into requests."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from directory import encryption
from directory.models import User

from ..attributes import changed_properties, desired_properties
from ..licences import usage_location_default
from ..models import GroupBinding, UserBinding

CREATE, UPDATE, BLOCK_AND_REMOVE, REMOVE, NOTHING = (
    "create",
    "update",
    "block_and_remove",
    "remove",
    "nothing",
)
RESTORE = "restore"  # the linked account was deleted in Microsoft 365 (P7, sync.restore)


@dataclass
class Plan:
    """The one write a binding needs. The password is kept apart from `body` (and out
    of repr) so that no log line or exception built from a plan can carry it."""

    binding_id: int
    generation: int
    action: str
    body: dict[str, Any] = field(default_factory=dict)
    desired: dict[str, Any] = field(default_factory=dict)
    enabled: bool | None = None
    password: str | None = field(default=None, repr=False)
    password_version: int = 0
    password_retained: bool = False
    previously_enabled: bool | None = None  # of an account taken over
    drift: dict[str, Any] = field(default_factory=dict)  # what a reconcile found (P5)
    restored: bool = False  # brings an account restored from deleted items up to date (P7)

    @property
    def revoke_sessions(self) -> bool:
        """A password changed in Microsoft 365 is overwritten and its sessions revoked."""
        return bool(self.drift.get("password")) and self.password is not None

    @property
    def properties(self) -> list[str]:
        """Graph properties this write changes, for the event (never their values)."""
        return sorted(k for k in self.body if k != "accountEnabled")

    def graph_body(self) -> dict[str, Any]:
        body = dict(self.body)
        if self.password is not None:
            body["passwordProfile"] = {
                "password": self.password,
                "forceChangePasswordNextSignIn": False,
            }
        return body


def desired_enabled(user: User) -> bool:
    """Sign-in is allowed while the user is not suspended and their password has not
    expired (a staged user's account exists with a password nobody knows yet)."""
    return user.status != User.SUSPENDED and user.password_expired_at is None


def random_password() -> str:
    """A strong password nobody knows, until the user sets theirs (passes Microsoft's
    rules: four classes, allowed characters, no dictionary word)."""
    return f"{secrets.token_urlsafe(24)}aZ7!"


def _pending_password(binding: UserBinding) -> str | None:
    if binding.password_encrypted and binding.password_version > binding.password_pushed_version:
        return encryption.decrypt(binding.password_encrypted)
    return None


def _create_body(desired: dict[str, Any]) -> dict[str, Any]:
    # Nothing to clear on a new account: Graph refuses some nulls on create.
    return {k: v for k, v in desired.items() if v is not None and v != []}


def binding_plan(binding: UserBinding) -> Plan:
    plan = Plan(
        binding_id=binding.pk,
        generation=binding.generation,
        action=NOTHING,
        password_version=binding.password_version,
    )
    user = binding.user
    if not binding.bound or user is None:
        if binding.microsoft_id and binding.known_enabled is not False:
            plan.action, plan.enabled = BLOCK_AND_REMOVE, False
            plan.body = {"accountEnabled": False}
        else:
            plan.action = REMOVE
        return plan
    plan.desired = desired_properties(user)
    usage_location_default(plan.desired, binding.tenant)
    plan.enabled = desired_enabled(user)
    password = _pending_password(binding)
    if binding.microsoft_id and (binding.drift or {}).get("missing"):
        plan.action, plan.drift = RESTORE, dict(binding.drift)
        plan.password, plan.password_retained = password, password is not None
        return plan
    if not binding.microsoft_id:
        plan.action = CREATE
        plan.drift = dict(binding.drift or {})  # {"replaces": id} after a deleted account
        plan.body = {**_create_body(plan.desired), "accountEnabled": plan.enabled}
        plan.password_retained = password is not None
        plan.password = password if password is not None else random_password()
        return plan
    plan.body = changed_properties(plan.desired, binding.known_properties or {})
    if binding.known_enabled is not plan.enabled:
        plan.body["accountEnabled"] = plan.enabled
    if binding.drift:
        password = _add_drift(plan, binding, password)
    plan.password = password
    plan.password_retained = password is not None
    if plan.body or password is not None:
        plan.action = UPDATE
    return plan


def _add_drift(plan: Plan, binding: UserBinding, password: str | None) -> str | None:
    """Send again what a reconcile found changed in Microsoft 365, even if a sync that
    ran meanwhile recorded it as known; return the password to push."""
    plan.drift = dict(binding.drift)
    for name in plan.drift.get("properties", []):
        if name in plan.desired:
            plan.body[name] = plan.desired[name]
    if plan.drift.get("enabled"):
        plan.body["accountEnabled"] = plan.enabled
    if plan.drift.get("password") and password is None and binding.password_encrypted:
        password = encryption.decrypt(binding.password_encrypted)
    return password


def takeover_plan(plan: Plan) -> Plan:
    """The PATCH that makes an existing account (same UPN) ours: every synced attribute,
    sign-in as desired, and the Stratus password if one is retained. Without a retained
    password the account keeps its own: a random one would lock its owner out."""
    body = {
        **{k: v for k, v in plan.desired.items() if k != "userPrincipalName"},
        "accountEnabled": plan.enabled,
    }
    return Plan(
        binding_id=plan.binding_id,
        generation=plan.generation,
        action=CREATE,
        body=body,
        desired=plan.desired,
        enabled=plan.enabled,
        password=plan.password if plan.password_retained else None,
        password_version=plan.password_version,
        password_retained=plan.password_retained,
        drift=plan.drift,
    )


# --- security groups (G1) -------------------------------------------------------------------

GROUP_BIND_LIMIT = 20  # members@odata.bind on create (graph-facts §3.1)
GRAPH_ROOT = "https://graph.microsoft.com/v1.0"


def group_mail_nickname(name: str, pk: int) -> str:
    """The required `mailNickname`: the name in allowed ASCII (≤ 64 characters), plus the
    Stratus group's id, by which a group Stratus made is found again."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    nickname = re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_name).strip("-")[:50]
    return f"{nickname or 'group'}-{pk}"


def group_desired_properties(binding: GroupBinding) -> dict:
    return {"displayName": binding.group.name[:256], "description": binding.group.description}


def group_desired_members(binding: GroupBinding) -> list[str]:
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
    """What one group binding needs: created, renamed, members added and removed (only
    the difference with what Microsoft was last told)."""
    desired = group_desired_properties(binding)
    members = group_desired_members(binding)
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


def member_ref(microsoft_id: str) -> str:
    return f"{GRAPH_ROOT}/directoryObjects/{microsoft_id}"


def group_properties_body(properties: dict) -> dict:
    return {**properties, "description": properties["description"] or None}


def group_create_body(binding: GroupBinding, plan: GroupPlan) -> dict:
    body = {
        "displayName": plan.properties["displayName"],
        "mailEnabled": False,
        "securityEnabled": True,
        "mailNickname": group_mail_nickname(binding.group.name, binding.group_id),
        "groupTypes": [],
    }
    if plan.properties["description"]:
        body["description"] = plan.properties["description"]
    if plan.add:
        body["members@odata.bind"] = [member_ref(m) for m in plan.add[:GROUP_BIND_LIMIT]]
    return body
