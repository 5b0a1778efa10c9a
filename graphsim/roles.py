"""Directory roles (by their well-known template ids) and who may act on whom.

The tables are Microsoft's "Who can reset passwords" and "Who can perform
sensitive actions" (graph-facts §2.9): each target role lists the caller roles
that may act on it; a caller must satisfy every role the target holds.
"""

from __future__ import annotations

ROLE_IDS = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Authentication Administrator": "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "Password Administrator": "966707d0-3269-4727-9be2-8c3a10f19b9d",
    "Groups Administrator": "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    "License Administrator": "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Directory Readers": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
    "Directory Writers": "9360feb5-f418-4baa-8175-e2a00bac4301",
    "Guest Inviter": "95e79109-95c0-4d8e-aee3-d01accf2d47b",
}
ROLE_NAMES = {v: k for k, v in ROLE_IDS.items()}
DEFAULT_APP_WID = "0997a1d0-0d1d-4acb-b408-d5ca73121e90"
DEFAULT_USER_WID = "b79fbf4d-3ef9-4689-8143-76b194e85509"

GA = ROLE_IDS["Global Administrator"]
PAA = ROLE_IDS["Privileged Authentication Administrator"]
PRA = ROLE_IDS["Privileged Role Administrator"]
USER_ADMIN = ROLE_IDS["User Administrator"]
AUTH_ADMIN = ROLE_IDS["Authentication Administrator"]
HELPDESK = ROLE_IDS["Helpdesk Administrator"]
PASSWORD_ADMIN = ROLE_IDS["Password Administrator"]
GROUPS_ADMIN = ROLE_IDS["Groups Administrator"]
LICENSE_ADMIN = ROLE_IDS["License Administrator"]
APP_ADMIN = ROLE_IDS["Application Administrator"]
CLOUD_APP_ADMIN = ROLE_IDS["Cloud Application Administrator"]
HARMLESS = {ROLE_IDS["Directory Readers"], ROLE_IDS["Guest Inviter"], PASSWORD_ADMIN}

CONSENT_ROLES = {GA, PRA, APP_ADMIN, CLOUD_APP_ADMIN}
USER_WRITERS = {GA, USER_ADMIN}
GROUP_WRITERS = {GA, USER_ADMIN, GROUPS_ADMIN}
LICENSE_WRITERS = {GA, USER_ADMIN, LICENSE_ADMIN}

_RESET_ANYONE = {PASSWORD_ADMIN, HELPDESK, AUTH_ADMIN, USER_ADMIN, PAA, GA}
_RESET_BY_TARGET = {
    HELPDESK: {HELPDESK, USER_ADMIN, PAA, GA},
    USER_ADMIN: {USER_ADMIN, PAA, GA},
    GROUPS_ADMIN: {USER_ADMIN, PAA, GA},
    AUTH_ADMIN: {AUTH_ADMIN, PAA, GA},
}
_SENSITIVE_ANYONE = {AUTH_ADMIN, USER_ADMIN, PAA, GA}
_SENSITIVE_BY_TARGET = {
    HELPDESK: {USER_ADMIN, PAA, GA},
    USER_ADMIN: {USER_ADMIN, PAA, GA},
    GROUPS_ADMIN: {USER_ADMIN, PAA, GA},
    AUTH_ADMIN: {AUTH_ADMIN, PAA, GA},
}
_TOP = {PAA, GA}


def role_id(name_or_id: str) -> str:
    """Accept a role's display name or its template id."""
    if name_or_id in ROLE_NAMES:
        return name_or_id
    if name_or_id in ROLE_IDS:
        return ROLE_IDS[name_or_id]
    raise ValueError(f"unknown directory role: {name_or_id!r}")


def _allowed(caller: set[str], target_roles: list[str], anyone: set, by_target: dict) -> bool:
    if not caller & anyone:
        return False
    for role in target_roles:
        if role in HARMLESS:
            continue
        if not caller & by_target.get(role, _TOP):
            return False
    return True


def can_reset_password(caller: set[str], target_roles: list[str]) -> bool:
    return _allowed(caller, target_roles, _RESET_ANYONE, _RESET_BY_TARGET)


def can_act_sensitively(caller: set[str], target_roles: list[str]) -> bool:
    return _allowed(caller, target_roles, _SENSITIVE_ANYONE, _SENSITIVE_BY_TARGET)


def is_admin(roles: list[str]) -> bool:
    return any(role not in HARMLESS for role in roles)
