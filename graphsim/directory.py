"""Users, groups, licences and deleted items: the rules Microsoft enforces on writes.

Used by the Graph API and by the control API (an admin acting "in the portal"), so
both paths record the same changes for delta queries.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

from graphsim import passwords
from graphsim.errors import GraphError, bad_request, invalid_id, not_found
from graphsim.store import State, Tenant

GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}$"
)
UPN_LOCAL_RE = re.compile(r"^[A-Za-z0-9'.\-_!#^~]+$")
NICKNAME_BAD = set('@()\\[]";:<>, ')
DELETED_RETENTION = 30 * 24 * 3600

USER_DEFAULT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
USER_PROPERTIES = set(USER_DEFAULT) | {
    "accountEnabled",
    "assignedLicenses",
    "city",
    "companyName",
    "country",
    "createdDateTime",
    "creationType",
    "deletedDateTime",
    "department",
    "employeeId",
    "employeeType",
    "lastPasswordChangeDateTime",
    "mailNickname",
    "onPremisesImmutableId",
    "onPremisesSyncEnabled",
    "otherMails",
    "passwordPolicies",
    "passwordProfile",
    "postalCode",
    "proxyAddresses",
    "signInSessionsValidFromDateTime",
    "state",
    "streetAddress",
    "usageLocation",
    "userType",
    "ageGroup",
    "faxNumber",
    "externalUserState",
}
USER_READ_ONLY = {
    "id",
    "createdDateTime",
    "deletedDateTime",
    "lastPasswordChangeDateTime",
    "assignedLicenses",
    "signInSessionsValidFromDateTime",
    "creationType",
    "externalUserState",
    "proxyAddresses",
    "onPremisesSyncEnabled",
}
USER_COLLECTIONS = {"businessPhones", "otherMails", "proxyAddresses", "assignedLicenses"}
USER_STRINGS = (
    USER_PROPERTIES
    - USER_COLLECTIONS
    - {"accountEnabled", "passwordProfile", "onPremisesSyncEnabled"}
)

GROUP_PROPERTIES = {
    "id",
    "deletedDateTime",
    "classification",
    "createdDateTime",
    "description",
    "displayName",
    "expirationDateTime",
    "groupTypes",
    "isAssignableToRole",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "renewedDateTime",
    "resourceBehaviorOptions",
    "resourceProvisioningOptions",
    "securityEnabled",
    "securityIdentifier",
    "theme",
    "visibility",
    "onPremisesProvisioningErrors",
}
GROUP_WRITABLE = {
    "description",
    "displayName",
    "groupTypes",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "isAssignableToRole",
    "visibility",
    "classification",
    "preferredLanguage",
    "theme",
    "membershipRule",
}
MAX_BINDS = 20


def iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def invalid_value(prop: str, resource: str = "User") -> GraphError:
    return bad_request(f"Invalid value specified for property '{prop}' of resource '{resource}'.")


def upn_conflict() -> GraphError:
    return bad_request(
        "Another object with the same value for property userPrincipalName already exists.",
        details=[{"target": "userPrincipalName", "code": "ObjectConflict"}],
    )


class Directory:
    """Write operations on a tenant's directory. Every method persists and records
    a change for delta; validation raises GraphError with Microsoft's messages."""

    def __init__(self, state: State):
        self.state = state

    # -- lookups -----------------------------------------------------------------
    def find_user(self, tenant: Tenant, key: str) -> dict:
        if "@" in key:
            user_id = tenant.upns.get(key.lower())
            user = tenant.users.get(user_id) if user_id else None
        elif GUID_RE.match(key):
            user = tenant.users.get(key.lower())
        else:
            raise invalid_id(key)
        if user is None:
            raise not_found(key)
        return user

    def find_group(self, tenant: Tenant, key: str) -> dict:
        if not GUID_RE.match(key):
            raise invalid_id(key)
        group = tenant.groups.get(key.lower())
        if group is None:
            raise not_found(key)
        return group

    def find_object(self, tenant: Tenant, key: str) -> dict:
        if not GUID_RE.match(key):
            raise invalid_id(key)
        key = key.lower()
        obj = tenant.users.get(key) or tenant.groups.get(key)
        if obj is None:
            raise not_found(key)
        return obj

    # -- users -------------------------------------------------------------------
    def user_create(
        self, tenant: Tenant, body: dict, *, roles: list | None = None, lag_reads: int = 0
    ) -> dict:
        self._check_user_body(body, creating=True)
        for prop in ("accountEnabled", "displayName", "mailNickname", "userPrincipalName"):
            if body.get(prop) in (None, ""):
                raise invalid_value(prop)
        upn = body["userPrincipalName"]
        domain = self._check_upn(tenant, upn)
        federated = domain["type"] == "Federated"
        immutable = body.get("onPremisesImmutableId")
        if federated and not immutable:
            raise bad_request(
                "SourceAnchor is a required property for creation of a federated user."
            )
        if immutable is not None:
            self._check_immutable_id(immutable)
        profile = body.get("passwordProfile")
        if federated and profile:
            raise bad_request("Property passwordProfile can't be used for federated users.")
        if not federated and not isinstance(profile, dict):
            raise invalid_value("passwordProfile")
        self._check_nickname(body["mailNickname"])
        password = None
        if profile:
            password = profile.get("password")
            self._check_password(tenant, password, body)
        if upn.lower() in tenant.upns:
            raise upn_conflict()
        now = time.time()
        user = {key: None for key in USER_PROPERTIES}
        user.update(
            {
                "businessPhones": [],
                "otherMails": [],
                "proxyAddresses": [],
                "assignedLicenses": [],
                "userType": "Member",
                "preferredLanguage": None,
                "mail": None,
                "createdDateTime": iso(now),
                "lastPasswordChangeDateTime": iso(now),
                "signInSessionsValidFromDateTime": iso(now),
                "creationType": None,
            }
        )
        user.update(
            {k: v for k, v in body.items() if k in USER_PROPERTIES and k != "passwordProfile"}
        )
        user.update(
            {
                "id": str(uuid.uuid4()),
                "_kind": "user",
                "_roles": list(roles or []),
                "_password": passwords.hash_password(password) if password else None,
                "_forceChange": bool(
                    profile and profile.get("forceChangePasswordNextSignIn", True)
                ),
                "_tokensValidFrom": now,
                "_memberOf": [],
            }
        )
        self._sync_mail(user)
        tenant.users[user["id"]] = user
        tenant.upns[upn.lower()] = user["id"]
        self.state.save_object(tenant, user)
        self.state.record_change(tenant, "user", user["id"], "upsert")
        if lag_reads:
            tenant.runtime.lag[user["id"]] = lag_reads
        return user

    def user_update(self, tenant: Tenant, user: dict, body: dict) -> None:
        self._check_user_body(body, creating=False)
        changes = {k: v for k, v in body.items() if k != "passwordProfile"}
        if (
            "userPrincipalName" in changes
            and changes["userPrincipalName"].lower() != user["userPrincipalName"].lower()
        ):
            self._check_upn(tenant, changes["userPrincipalName"])
            if changes["userPrincipalName"].lower() in tenant.upns:
                raise upn_conflict()
        if "mailNickname" in changes:
            self._check_nickname(changes["mailNickname"])
        if changes.get("onPremisesImmutableId") is not None:
            self._check_immutable_id(changes["onPremisesImmutableId"])
        if "passwordProfile" in body:
            if self._is_federated(tenant, user):
                raise bad_request("Property passwordProfile can't be used for federated users.")
            profile = body["passwordProfile"] or {}
            self._check_password(tenant, profile.get("password"), {**user, **changes})
        if "userPrincipalName" in changes:
            tenant.upns.pop(user["userPrincipalName"].lower(), None)
            tenant.upns[changes["userPrincipalName"].lower()] = user["id"]
        user.update(changes)
        if "passwordProfile" in body:
            profile = body["passwordProfile"]
            self._set_password(
                user, profile["password"], profile.get("forceChangePasswordNextSignIn", True)
            )
        self._sync_mail(user)
        self.state.save_object(tenant, user)
        self.state.record_change(tenant, "user", user["id"], "upsert")

    def user_set_password(
        self, tenant: Tenant, user: dict, password: str, force_change: bool = False
    ) -> None:
        """An admin reset (portal or Graph): policy applies, sessions are revoked."""
        self._check_password(tenant, password, user)
        self._set_password(user, password, force_change)
        self.state.save_object(tenant, user)
        self.state.record_change(tenant, "user", user["id"], "upsert")

    def user_revoke_sessions(self, tenant: Tenant, user: dict) -> None:
        now = time.time()
        user["_tokensValidFrom"] = now
        user["signInSessionsValidFromDateTime"] = iso(now)
        self.state.save_object(tenant, user)

    def user_delete(self, tenant: Tenant, user: dict) -> None:
        """Soft delete: the user moves to deletedItems, keeps its UPN, leaves its groups."""
        now = time.time()
        member_of = [g["id"] for g in tenant.groups.values() if user["id"] in g["_members"]]
        for group_id in member_of:
            self._remove_member(tenant, tenant.groups[group_id], user["id"])
        del tenant.users[user["id"]]
        user.update({"_deletedAt": now, "deletedDateTime": iso(now), "_memberOf": member_of})
        tenant.deleted[user["id"]] = user
        self.state.save_object(tenant, user)
        self.state.record_change(tenant, "user", user["id"], "soft")

    def deleted_restore(self, tenant: Tenant, object_id: str) -> dict:
        user = self.find_deleted(tenant, object_id)
        owner = tenant.upns.get(user["userPrincipalName"].lower())
        if owner and owner != user["id"]:
            raise bad_request(
                "A conflicting object with one or more of the specified property "
                "values is present in the directory."
            )
        del tenant.deleted[user["id"]]
        user.pop("_deletedAt", None)
        user["deletedDateTime"] = None
        tenant.users[user["id"]] = user
        for group_id in user.pop("_memberOf", []):
            group = tenant.groups.get(group_id)
            if group is not None and user["id"] not in group["_members"]:
                group["_members"].append(user["id"])
                self.state.save_object(tenant, group)
                self.state.record_change(tenant, "group", group_id, "member_add", user["id"])
        user["_memberOf"] = []
        self.state.save_object(tenant, user)
        self.state.record_change(tenant, "user", user["id"], "upsert")
        return user

    def deleted_purge(self, tenant: Tenant, object_id: str) -> None:
        user = self.find_deleted(tenant, object_id)
        self._purge(tenant, user)

    def _purge(self, tenant: Tenant, user: dict) -> None:
        del tenant.deleted[user["id"]]
        tenant.upns.pop(user["userPrincipalName"].lower(), None)
        self.state.forget_object(tenant, user["id"])
        self.state.record_change(tenant, "user", user["id"], "hard")

    def find_deleted(self, tenant: Tenant, object_id: str) -> dict:
        if not GUID_RE.match(object_id):
            raise invalid_id(object_id)
        self.purge_expired(tenant)
        user = tenant.deleted.get(object_id.lower())
        if user is None:
            raise not_found(object_id)
        return user

    def purge_expired(self, tenant: Tenant) -> None:
        """Deleted users are gone for good after 30 days (shortened by the time scale)."""
        limit = time.time() - DELETED_RETENTION / tenant.scale
        for user in [u for u in tenant.deleted.values() if u["_deletedAt"] < limit]:
            self._purge(tenant, user)

    def license_assign(self, tenant: Tenant, user: dict, body: dict) -> None:
        add, remove = body.get("addLicenses"), body.get("removeLicenses")
        if not isinstance(add, list):
            raise invalid_value("addLicenses")
        if not isinstance(remove, list):
            raise invalid_value("removeLicenses")
        skus = {s["skuId"]: s for s in tenant.info["skus"]}
        for item in add:
            sku_id = str((item or {}).get("skuId", ""))
            if sku_id not in skus:
                raise bad_request(
                    f"License {sku_id} does not correspond to a valid company License."
                )
        for sku_id in remove:
            if str(sku_id) not in skus:
                raise bad_request(
                    f"License {sku_id} does not correspond to a valid company License."
                )
        if add and not user.get("usageLocation"):
            raise bad_request(
                "License assignment cannot be done for user with invalid usage location."
            )
        held = {a["skuId"] for a in user["assignedLicenses"]}
        for item in add:
            sku = skus[item["skuId"]]
            if (
                item["skuId"] not in held
                and self.consumed_units(tenant, sku["skuId"]) >= sku["prepaidUnits"]["enabled"]
            ):
                raise bad_request(
                    f"Subscription {sku['subscriptionIds'][0]} does not have any "
                    "available licenses."
                )
        kept = [a for a in user["assignedLicenses"] if a["skuId"] not in set(remove)]
        kept = [a for a in kept if a["skuId"] not in {i["skuId"] for i in add}]
        kept += [
            {"disabledPlans": list(i.get("disabledPlans") or []), "skuId": i["skuId"]} for i in add
        ]
        user["assignedLicenses"] = kept
        self._sync_mail(user)
        self.state.save_object(tenant, user)
        self.state.record_change(tenant, "user", user["id"], "upsert")

    @staticmethod
    def consumed_units(tenant: Tenant, sku_id: str) -> int:
        return sum(
            1
            for u in tenant.users.values()
            if any(a["skuId"] == sku_id for a in u["assignedLicenses"])
        )

    # -- groups ------------------------------------------------------------------
    def group_create(
        self, tenant: Tenant, body: dict, *, lag_reads: int = 0, admin: bool = False
    ) -> dict:
        """A group made through Graph (security groups only), or by an `admin` in the
        admin centres, who may also make Microsoft 365 groups, distribution lists and
        mail-enabled security groups, with any number of members (`_members`)."""
        members_given = body.pop("_members", None) if admin else None
        self._check_group_body(body)
        if not body.get("displayName") or len(body["displayName"]) > 256:
            raise invalid_value("displayName", "Group")
        if body.get("mailEnabled") is None:
            raise invalid_value("mailEnabled", "Group")
        if body.get("securityEnabled") is None:
            raise invalid_value("securityEnabled", "Group")
        if not admin:
            self._check_group_flags(body)
        self._check_group_nickname(body.get("mailNickname"))
        members = self._resolve_binds(
            tenant, body.get("members@odata.bind"), body.get("owners@odata.bind")
        )
        if members_given:
            members = [self.find_object(tenant, str(m))["id"] for m in members_given]
        owners = self._resolve_binds(tenant, body.get("owners@odata.bind"), None)
        now = iso()
        group = {key: None for key in GROUP_PROPERTIES}
        group.update(
            {
                "groupTypes": [],
                "proxyAddresses": [],
                "resourceBehaviorOptions": [],
                "resourceProvisioningOptions": [],
                "onPremisesProvisioningErrors": [],
                "createdDateTime": now,
                "renewedDateTime": now,
            }
        )
        group.update({k: v for k, v in body.items() if k in GROUP_WRITABLE})
        group_id = str(uuid.uuid4())
        hex_id = group_id.replace("-", "")
        sid = "S-1-12-1-" + "-".join(str(int(hex_id[i : i + 8], 16)) for i in (0, 8, 16, 24))
        group.update(
            {
                "id": group_id,
                "_kind": "group",
                "_members": [],
                "_owners": owners,
                "securityIdentifier": sid,
            }
        )
        tenant.groups[group_id] = group
        self.state.save_object(tenant, group)
        self.state.record_change(tenant, "group", group_id, "upsert")
        for member_id in members:
            group["_members"].append(member_id)
            self.state.record_change(tenant, "group", group_id, "member_add", member_id)
        if members:
            self.state.save_object(tenant, group)
        if lag_reads:
            tenant.runtime.lag[group_id] = lag_reads
        return group

    def group_update(self, tenant: Tenant, group: dict, body: dict) -> None:
        self._check_group_body(body)
        if "displayName" in body and (not body["displayName"] or len(body["displayName"]) > 256):
            raise invalid_value("displayName", "Group")
        self._check_group_flags({**group, **body})
        if "mailNickname" in body:
            self._check_group_nickname(body["mailNickname"])
        new_members = self._resolve_binds(tenant, body.get("members@odata.bind"), None)
        duplicates = [m for m in new_members if m in group["_members"]]
        if duplicates:
            raise bad_request(
                "One or more added object references already exist for the "
                "following modified properties: 'members'."
            )
        group.update({k: v for k, v in body.items() if k in GROUP_WRITABLE})
        self.state.record_change(tenant, "group", group["id"], "upsert")
        for member_id in new_members:
            group["_members"].append(member_id)
            self.state.record_change(tenant, "group", group["id"], "member_add", member_id)
        self.state.save_object(tenant, group)

    def group_delete(self, tenant: Tenant, group: dict) -> None:
        """Security groups cannot be restored: deletion is permanent."""
        del tenant.groups[group["id"]]
        for other in tenant.groups.values():
            if group["id"] in other["_members"]:
                self._remove_member(tenant, other, group["id"])
        self.state.forget_object(tenant, group["id"])
        self.state.record_change(tenant, "group", group["id"], "hard")

    def member_add(self, tenant: Tenant, group: dict, member_id: str) -> None:
        self.find_object(tenant, member_id)
        if member_id.lower() in group["_members"]:
            raise bad_request(
                "One or more added object references already exist for the "
                "following modified properties: 'members'."
            )
        group["_members"].append(member_id.lower())
        self.state.save_object(tenant, group)
        self.state.record_change(tenant, "group", group["id"], "member_add", member_id.lower())

    def member_remove(self, tenant: Tenant, group: dict, member_id: str) -> None:
        if not GUID_RE.match(member_id):
            raise invalid_id(member_id)
        if member_id.lower() not in group["_members"]:
            raise not_found(member_id)
        self._remove_member(tenant, group, member_id.lower())

    def _remove_member(self, tenant: Tenant, group: dict, member_id: str) -> None:
        group["_members"].remove(member_id)
        self.state.save_object(tenant, group)
        self.state.record_change(tenant, "group", group["id"], "member_remove", member_id)

    def _resolve_binds(self, tenant: Tenant, members, owners) -> list[str]:
        """Validate every @odata.bind URL first, so the write is all or nothing."""
        if members is None:
            return []
        if not isinstance(members, list):
            raise bad_request("Invalid value specified for property 'members@odata.bind'.")
        total = len(members) + len(owners or [])
        if total > MAX_BINDS:
            raise bad_request(
                "The request exceeded the maximum of 20 members and owners that "
                "can be added in a single request."
            )
        resolved = []
        for url in members:
            object_id = str(url).rstrip("/").split("/")[-1]
            if not GUID_RE.match(object_id):
                raise invalid_id(str(url))
            resolved.append(self.find_object(tenant, object_id)["id"])
        if len(set(resolved)) != len(resolved):
            raise bad_request(
                "One or more added object references already exist for the "
                "following modified properties: 'members'."
            )
        return resolved

    # -- validation helpers ------------------------------------------------------
    @staticmethod
    def _check_user_body(body: dict, *, creating: bool) -> None:
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        for key, value in body.items():
            if key.startswith("@odata."):
                continue
            if key not in USER_PROPERTIES:
                raise bad_request(f"Invalid property '{key}'.")
            if key in USER_READ_ONLY and not (creating and key == "id"):
                raise bad_request(f"Property '{key}' is read-only and cannot be set.")
            if key in USER_COLLECTIONS and value is None:
                raise GraphError(
                    400,
                    "BadRequest",
                    f"A null value was found for the property named '{key}', which has the "
                    "expected type 'Collection(Edm.String)[Nullable=False]'. The expected type "
                    "'Collection(Edm.String)[Nullable=False]' does not allow null values.",
                )
            if key == "accountEnabled" and not isinstance(value, bool):
                raise invalid_value(key)
            if key in USER_STRINGS and value is not None and not isinstance(value, str):
                raise invalid_value(key)
        if creating and "id" in body:
            raise bad_request("Property 'id' is read-only and cannot be set.")

    @staticmethod
    def _check_group_body(body: dict) -> None:
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        for key in body:
            if key.startswith("@odata.") or key in ("members@odata.bind", "owners@odata.bind"):
                continue
            if key not in GROUP_PROPERTIES:
                raise bad_request(f"Invalid property '{key}'.")

    @staticmethod
    def _check_group_flags(body: dict) -> None:
        unified = "Unified" in (body.get("groupTypes") or [])
        if body.get("mailEnabled") and not unified:
            raise bad_request(
                "The service does not currently support writes of mail-enabled "
                "groups. Please ensure that the mail-enablement property is unset "
                "or is set to false."
            )
        if unified:
            raise bad_request(
                "graphsim emulates security groups only; Microsoft 365 "
                "(Unified) groups are not supported."
            )

    @staticmethod
    def _check_group_nickname(nickname) -> None:
        if (
            not nickname
            or not isinstance(nickname, str)
            or len(nickname) > 64
            or any(ord(c) > 127 or c in NICKNAME_BAD or c == "." for c in nickname)
        ):
            raise invalid_value("mailNickname", "Group")

    @staticmethod
    def _check_nickname(nickname) -> None:
        if (
            not isinstance(nickname, str)
            or not nickname
            or len(nickname) > 64
            or any(ord(c) > 127 or c in NICKNAME_BAD for c in nickname)
        ):
            raise invalid_value("mailNickname")

    @staticmethod
    def _check_immutable_id(value) -> None:
        if not isinstance(value, str) or not value or "$" in value or "_" in value:
            raise invalid_value("onPremisesImmutableId")

    @staticmethod
    def _check_upn(tenant: Tenant, upn) -> dict:
        if not isinstance(upn, str) or upn.count("@") != 1:
            raise bad_request("Property userPrincipalName is invalid.")
        local, domain_name = upn.split("@")
        if (
            not local
            or len(upn) > 113
            or len(local) > 64
            or len(domain_name) > 48
            or local.endswith(".")
            or not UPN_LOCAL_RE.match(local)
        ):
            raise bad_request("Property userPrincipalName is invalid.")
        domain = tenant.domain(domain_name)
        if domain is None or not domain.get("isVerified", True):
            raise bad_request(
                "The domain portion of the userPrincipalName property is invalid. "
                "You must use one of the verified domain names in your "
                "organization."
            )
        return domain

    @staticmethod
    def _is_federated(tenant: Tenant, user: dict) -> bool:
        domain = tenant.domain(user["userPrincipalName"].split("@")[1])
        return bool(domain and domain["type"] == "Federated")

    @staticmethod
    def _check_password(tenant: Tenant, password, user: dict) -> None:
        names = (user.get("givenName") or "", user.get("surname") or "", tenant.info["displayName"])
        strong = "DisableStrongPassword" not in (user.get("passwordPolicies") or "")
        if not passwords.is_acceptable(password, names=names, strong=strong):
            raise bad_request(passwords.COMPLEXITY_MESSAGE)

    @staticmethod
    def _set_password(user: dict, password: str, force_change: bool) -> None:
        now = time.time()
        user["_password"] = passwords.hash_password(password)
        user["_forceChange"] = bool(force_change)
        user["lastPasswordChangeDateTime"] = iso(now)
        user["_tokensValidFrom"] = now
        user["signInSessionsValidFromDateTime"] = iso(now)

    @staticmethod
    def _sync_mail(user: dict) -> None:
        """A mailbox (and so `mail`) exists only once a licence is assigned."""
        if user["assignedLicenses"] and not user.get("mail"):
            user["mail"] = user["userPrincipalName"]
