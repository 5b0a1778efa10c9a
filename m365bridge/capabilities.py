"""The permission check: which Stratus features a tenant's token allows, and exactly
what is missing.

Permissions come from the token itself (`scp` for delegated, `roles` for app-only) and
directory roles from `wids`. Microsoft needs both for some features: a permission alone
never lets an app reset passwords (graph-facts §2.3, §2.9), and in delegated mode the
signed-in admin's own role bounds what Stratus can do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AS_USER = "Directory.AccessAsUser.All"

ROLE_NAMES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
    "966707d0-3269-4727-9be2-8c3a10f19b9d": "Password Administrator",
    "fdd7a751-b60b-444a-984c-02652fe8fa1c": "Groups Administrator",
    "4d6ac14f-3453-41d0-bef9-a3e0c569773a": "License Administrator",
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b": "Directory Readers",
    "9360feb5-f418-4baa-8175-e2a00bac4301": "Directory Writers",
}
_ID = {name: role_id for role_id, name in ROLE_NAMES.items()}
GA, PAA = _ID["Global Administrator"], _ID["Privileged Authentication Administrator"]
USER_ADMIN = _ID["User Administrator"]
PASSWORD_ROLES = (
    USER_ADMIN,
    PAA,
    GA,
    _ID["Authentication Administrator"],
    _ID["Helpdesk Administrator"],
    _ID["Password Administrator"],
)
USER_WRITER_ROLES = (USER_ADMIN, PAA, GA)
GROUP_WRITER_ROLES = (_ID["Groups Administrator"], USER_ADMIN, GA)
LICENSE_ROLES = (_ID["License Administrator"], USER_ADMIN, GA)

READ_ORG = ("Organization.Read.All", "Directory.Read.All", "Directory.ReadWrite.All", AS_USER)
READ_DOMAINS = ("Domain.Read.All", "Directory.Read.All", "Directory.ReadWrite.All", AS_USER)
READ_USERS = (
    "User.Read.All",
    "User.ReadWrite.All",
    "User.ReadUpdate.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    AS_USER,
)
CREATE_USERS = ("User.Create", "User.ReadWrite.All", "Directory.ReadWrite.All", AS_USER)
UPDATE_USERS = ("User.ReadUpdate.All", "User.ReadWrite.All", "Directory.ReadWrite.All", AS_USER)
ENABLE_USERS = (
    "User.EnableDisableAccount.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
    AS_USER,
)
RESET_PASSWORDS = ("User-PasswordProfile.ReadWrite.All", "User.ReadWrite.All", AS_USER)
RESTORE_USERS = ("User.DeleteRestore.All", "User.ReadWrite.All", AS_USER)
REVOKE_SESSIONS = (
    "User.RevokeSessions.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
    AS_USER,
)
# profilephoto-update: least privileged first.
WRITE_PHOTOS = ("ProfilePhoto.ReadWrite.All", "User.ReadWrite.All", AS_USER)
CREATE_GROUPS = ("Group.Create", "Group.ReadWrite.All", "Directory.ReadWrite.All", AS_USER)
WRITE_MEMBERS = (
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
    AS_USER,
)
ASSIGN_LICENSES = (
    "LicenseAssignment.ReadWrite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
    AS_USER,
)

# What to ask for in the app registration, least privileged first (graph-facts §10.4).
APPLICATION_PERMISSIONS = [
    "Organization.Read.All",
    "Domain.Read.All",
    "User.Read.All",
    "User.Create",
    "User.ReadUpdate.All",
    "User.EnableDisableAccount.All",
    "User-PasswordProfile.ReadWrite.All",
    "User.DeleteRestore.All",
    "User.RevokeSessions.All",
    "Group.Create",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "LicenseAssignment.ReadWrite.All",
    "ProfilePhoto.ReadWrite.All",
]


@dataclass(frozen=True)
class Feature:
    key: str
    name: str
    permissions: tuple[tuple[str, ...], ...]  # each tuple: any one of these
    app_roles: tuple[str, ...] = ()  # app-only: any one of these roles (if set)
    delegated_roles: tuple[str, ...] = ()  # delegated: the admin's own roles


FEATURES = [
    # Only features Stratus has (the check would promise the others to admins).
    Feature("tenant", "Read the tenant and its verified domains", (READ_ORG, READ_DOMAINS)),
    # Importing only reads Microsoft (the reconcile's users/delta): it writes nothing.
    Feature("import", "Import Microsoft 365 users", (READ_USERS,)),
    Feature(
        "create_users",
        "Create users",
        (CREATE_USERS, READ_USERS),
        delegated_roles=USER_WRITER_ROLES,
    ),
    Feature(
        "update_users", "Update user attributes", (UPDATE_USERS,), delegated_roles=USER_WRITER_ROLES
    ),
    Feature(
        "block_users",
        "Block and unblock sign-in",
        (ENABLE_USERS, READ_USERS),
        delegated_roles=USER_WRITER_ROLES,
    ),
    Feature(
        "passwords",
        "Push passwords",
        (RESET_PASSWORDS,),
        app_roles=PASSWORD_ROLES,
        delegated_roles=PASSWORD_ROLES,
    ),
    Feature(
        "revoke_sessions",
        "Sign users out after a password is overwritten",
        (REVOKE_SESSIONS,),
        delegated_roles=USER_WRITER_ROLES,
    ),
    Feature(
        "restore_users",
        "Restore deleted users",
        (RESTORE_USERS,),
        delegated_roles=USER_WRITER_ROLES,
    ),
    Feature(
        "groups",
        "Security groups and their members",
        (CREATE_GROUPS, WRITE_MEMBERS),
        delegated_roles=GROUP_WRITER_ROLES,
    ),
    Feature(
        "licenses", "Assign a default license", (ASSIGN_LICENSES,), delegated_roles=LICENSE_ROLES
    ),
    Feature(
        "photos",
        "Push profile photos",
        (WRITE_PHOTOS,),
        delegated_roles=USER_WRITER_ROLES,
    ),
]


@dataclass
class FeatureCheck:
    key: str
    name: str
    allowed: bool
    missing: list[str] = field(default_factory=list)


@dataclass
class PermissionCheck:
    mode: str
    permissions: list[str]
    roles: list[str]
    features: list[FeatureCheck]

    @property
    def complete(self) -> bool:
        return all(feature.allowed for feature in self.features)

    @property
    def missing(self) -> list[str]:
        return sorted({m for feature in self.features for m in feature.missing})

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "permissions": self.permissions,
            "directory_roles": self.roles,
            "complete": self.complete,
            "features": [
                {"key": f.key, "name": f.name, "allowed": f.allowed, "missing": f.missing}
                for f in self.features
            ],
        }


def claims_permissions(claims: dict) -> tuple[list[str], list[str]]:
    """(permissions, directory role ids) a Graph access token carries."""
    permissions = set(str(claims.get("scp") or "").split()) | set(claims.get("roles") or [])
    return sorted(p for p in permissions if p), sorted(set(claims.get("wids") or []))


def permission_check(*, mode: str, permissions: list[str], roles: list[str]) -> PermissionCheck:
    granted, held = set(permissions), set(roles)
    checks = []
    for feature in FEATURES:
        missing = [
            _one_of("permission", group)
            for group in feature.permissions
            if not granted & set(group)
        ]
        needed_roles = feature.delegated_roles if mode == "delegated" else feature.app_roles
        if needed_roles and not held & set(needed_roles):
            whose = (
                "the signed-in Microsoft 365 account"
                if mode == "delegated"
                else "Stratus's app (service principal)"
            )
            names = [ROLE_NAMES[r] for r in needed_roles]
            missing.append(f"{_one_of('directory role', names)} assigned to {whose}")
        checks.append(FeatureCheck(feature.key, feature.name, not missing, missing))
    return PermissionCheck(
        mode=mode,
        permissions=sorted(granted),
        roles=[ROLE_NAMES.get(r, r) for r in sorted(held)],
        features=checks,
    )


def _one_of(kind: str, names) -> str:
    names = list(names)
    if len(names) == 1:
        return f"the {kind} {names[0]}"
    return f"one {kind} of: {', '.join(names)}"
