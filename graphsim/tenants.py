"""Creating, resetting and describing emulated tenants (used by the control API)."""

from __future__ import annotations

import random
import re
import time
import uuid

from graphsim import passwords, photos, roles
from graphsim.directory import USER_PROPERTIES, Directory, iso
from graphsim.generate import GROUP_NAMES, generated_users
from graphsim.store import State, Tenant

KNOWN_SKUS = {
    "ENTERPRISEPACK": "6fd2c87f-b296-42f0-b197-1e91e994b900",
    "ENTERPRISEPREMIUM": "c7df2760-2c81-4ef7-b578-5b5392b571df",
    "SPE_E3": "05e9a617-0261-4cee-bb44-138d3ef5d965",
    "SPE_E5": "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
    "SPB": "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
    "O365_BUSINESS_PREMIUM": "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
    "O365_BUSINESS_ESSENTIALS": "3b555118-da6a-4418-894f-7df1e2096870",
    "EXCHANGESTANDARD": "4b9405b0-7788-4568-add1-99614e613b69",
}
PARTNERS = {
    # What community guides show for "Microsoft 365 from GoDaddy" federation.
    "godaddy": {
        "displayName": "GoDaddy",
        "issuerUri": "urn:godaddy:sso:{domain}",
        "passiveSignInUri": "https://sso.godaddy.com/?app=o365&realm=pass",
        "activeSignInUri": "https://sso.godaddy.com/o365/activeSignIn",
        "signOutUri": "https://sso.godaddy.com/logout?app=o365&realm=pass",
        "metadataExchangeUri": "https://sso.godaddy.com/o365/mex",
    },
    "adfs": {
        "displayName": "AD FS",
        "issuerUri": "http://{domain}/adfs/services/trust",
        "passiveSignInUri": "https://sts.{domain}/adfs/ls/",
        "activeSignInUri": "https://sts.{domain}/adfs/services/trust/2005/usernamemixed",
        "signOutUri": "https://sts.{domain}/adfs/ls/?wa=wsignout1.0",
        "metadataExchangeUri": "https://sts.{domain}/adfs/services/trust/mex",
    },
}
DEFAULT_ADMIN_PASSWORD = "Graphsim-Adm1n!"


class SpecError(ValueError):
    """A control-API request that cannot be honoured."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())[:27] or "tenant"


def _federation(domain: str, spec: dict) -> dict:
    partner = PARTNERS.get((spec.get("partner") or "godaddy").lower(), PARTNERS["godaddy"])
    config = {
        key: value.format(domain=domain) if isinstance(value, str) else value
        for key, value in partner.items()
    }
    config.update({k: v for k, v in spec.items() if k in config})
    config.update(
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, domain)),
            "preferredAuthenticationProtocol": "wsFed",
            "federatedIdpMfaBehavior": "acceptIfMfaDoneByFederatedIdp",
            "isSignedAuthenticationRequestRequired": True,
            "promptLoginBehavior": "nativeSupport",
            "nextSigningCertificate": None,
            "signingCertificate": "MIIC8DCCAdigAwIBAgIQ" + uuid.uuid4().hex,
        }
    )
    return config


def build_domains(spec: dict, display_name: str, rng: random.Random) -> list[dict]:
    custom = []
    for item in spec.get("domains") or []:
        item = {"name": item} if isinstance(item, str) else dict(item)
        if not item.get("name"):
            raise SpecError("every domain needs a name")
        custom.append(item)
    godaddy = any(
        d.get("federated") and (d.get("partner") or "godaddy") == "godaddy" for d in custom
    )
    initial = spec.get("initialDomain") or (
        f"NETORG{rng.randint(1000000, 9999999)}.onmicrosoft.com"
        if godaddy
        else f"{_slug(custom[0]['name'].split('.')[0] if custom else display_name)}"
        f"{rng.randint(100, 999)}.onmicrosoft.com"
    )
    domains = [
        {
            "name": initial,
            "type": "Managed",
            "isInitial": True,
            "isVerified": True,
            "federation": None,
        }
    ]
    for item in custom:
        federated = bool(item.get("federated"))
        domains.append(
            {
                "name": item["name"],
                "type": "Federated" if federated else "Managed",
                "isInitial": False,
                "isVerified": True,
                "federation": _federation(item["name"], item) if federated else None,
            }
        )
    default = spec.get("defaultDomain") or next((d["name"] for d in domains[1:]), initial)
    for domain in domains:
        domain["isDefault"] = domain["name"].lower() == default.lower()
    if not any(d["isDefault"] for d in domains):
        raise SpecError(f"default domain {default!r} is not one of the tenant's domains")
    return domains


def build_skus(spec: dict, tenant_id: str, display_name: str) -> list[dict]:
    skus = []
    for item in spec.get("skus") or []:
        item = {"skuPartNumber": item} if isinstance(item, str) else item
        part = item["skuPartNumber"]
        sku_id = (
            item.get("skuId") or KNOWN_SKUS.get(part) or str(uuid.uuid5(uuid.NAMESPACE_URL, part))
        )
        skus.append(
            {
                "accountName": display_name,
                "accountId": tenant_id,
                "appliesTo": "User",
                "capabilityStatus": "Enabled",
                "consumedUnits": 0,
                "id": f"{tenant_id}_{sku_id}",
                "prepaidUnits": {
                    "enabled": int(item.get("seats", 25)),
                    "lockedOut": 0,
                    "suspended": 0,
                    "warning": 0,
                },
                "servicePlans": [
                    {
                        "servicePlanId": str(uuid.uuid5(uuid.NAMESPACE_URL, part + "EXO")),
                        "servicePlanName": "EXCHANGE_S_STANDARD",
                        "provisioningStatus": "Success",
                        "appliesTo": "User",
                    }
                ],
                "skuId": sku_id,
                "skuPartNumber": part,
                "subscriptionIds": [str(uuid.uuid4())],
            }
        )
    return skus


def tenant_create(state: State, directory: Directory, spec: dict) -> tuple[Tenant, dict]:
    """Create a tenant from a spec; returns it and the admin credentials created."""
    tenant_id = str(spec.get("id") or uuid.uuid4()).lower()
    if tenant_id in state.tenants:
        raise SpecError(f"tenant {tenant_id} already exists")
    display_name = (
        spec.get("displayName")
        or (
            (spec.get("domains") or ["Contoso"])[0]
            if isinstance((spec.get("domains") or [""])[0], str)
            else spec["domains"][0]["name"]
        )
        .split(".")[0]
        .capitalize()
    )
    seed = int(spec.get("seed", 0) or 0) or random.randint(1, 10**9)
    rng = random.Random(seed)
    domains = build_domains(spec, display_name, rng)
    for domain in domains:
        owner = state.find_tenant(domain["name"])
        if owner is not None:
            raise SpecError(f"domain {domain['name']} is already verified in tenant {owner.id}")
    info = {
        "id": tenant_id,
        "displayName": display_name,
        "createdDateTime": iso(),
        "countryLetterCode": spec.get("countryLetterCode", "NL"),
        "domains": domains,
        "skus": build_skus(spec, tenant_id, display_name),
        "grants": {},
        "epoch": uuid.uuid4().hex,
        "settings": {
            "throttling": bool(spec.get("throttling", False)),
            "size": spec.get("size"),
            "time_scale": float(spec.get("timeScale", 1.0)),
            "faults": dict(spec.get("faults") or {}),
        },
        "spec": {**spec, "seed": seed},
    }
    with state.db.transaction():
        tenant = state.add_tenant(info)
        admins = populate(state, directory, tenant, info["spec"])
    return tenant, admins


def populate(state: State, directory: Directory, tenant: Tenant, spec: dict) -> dict:
    """Admins, generated users and groups; written without change records, as if the
    tenant had always looked like this."""
    admins = {}
    admin_specs = spec.get("admins")
    if admin_specs is None:
        admin_specs = [
            {
                "userName": "admin",
                "password": DEFAULT_ADMIN_PASSWORD,
                "roles": ["Global Administrator"],
            }
        ]
    initial = next(d["name"] for d in tenant.info["domains"] if d["isInitial"])
    for item in admin_specs:
        upn = item.get("userPrincipalName") or f"{item.get('userName', 'admin')}@{initial}"
        password = item.get("password") or DEFAULT_ADMIN_PASSWORD
        user = add_user(
            state,
            directory,
            tenant,
            {
                "accountEnabled": True,
                "displayName": item.get("displayName") or upn.split("@")[0],
                "userPrincipalName": upn,
                "mailNickname": upn.split("@")[0],
                "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": False},
            },
            role_names=item.get("roles") or ["Global Administrator"],
        )
        admins[upn] = {
            "id": user["id"],
            "password": password,
            "roles": [roles.ROLE_NAMES[r] for r in user["_roles"]],
        }
    generate_users(state, tenant, spec)
    generate_groups(state, tenant, spec)
    return admins


def add_user(
    state: State, directory: Directory, tenant: Tenant, body: dict, role_names: list | None = None
) -> dict:
    try:
        role_ids = [roles.role_id(r) for r in role_names or []]
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    return directory.user_create(tenant, body, roles=role_ids)


def generate_users(state: State, tenant: Tenant, spec: dict) -> None:
    count = int(spec.get("users") or 0)
    if not count:
        return
    domain = spec.get("userDomain") or next(
        (d["name"] for d in tenant.info["domains"] if d["isDefault"] and d["type"] == "Managed"),
        next(d["name"] for d in tenant.info["domains"] if d["isInitial"]),
    )
    shared = passwords.hash_password(spec["userPassword"]) if spec.get("userPassword") else None
    skus = tenant.info["skus"]
    free = {s["skuId"]: s["prepaidUnits"]["enabled"] for s in skus}
    # `photoShare` (0 to 1): the share of generated users given a small photo.
    photo_share = float(spec.get("photoShare") or 0)
    photo_rng = random.Random(spec["seed"] + 2)
    created = time.time()
    for index, attrs in enumerate(
        generated_users(count, domain, spec["seed"], tenant.info["displayName"])
    ):
        if attrs["userPrincipalName"].lower() in tenant.upns:
            continue
        user = {key: None for key in USER_PROPERTIES}
        user.update(
            {
                "otherMails": [],
                "proxyAddresses": [],
                "assignedLicenses": [],
                "userType": "Member",
                "createdDateTime": iso(created - index * 60),
                "lastPasswordChangeDateTime": iso(created - index * 60),
                "signInSessionsValidFromDateTime": iso(created - index * 60),
            }
        )
        user.update(attrs)
        user.update(
            {
                "id": str(uuid.uuid4()),
                "_kind": "user",
                "_roles": [],
                "_password": shared,
                "_forceChange": False,
                "_tokensValidFrom": created,
                "_memberOf": [],
            }
        )
        for sku in skus:
            if user["usageLocation"] and free[sku["skuId"]] > 0:
                free[sku["skuId"]] -= 1
                user["assignedLicenses"] = [{"disabledPlans": [], "skuId": sku["skuId"]}]
                user["mail"] = user["userPrincipalName"]
                break
        tenant.users[user["id"]] = user
        tenant.upns[user["userPrincipalName"].lower()] = user["id"]
        if photo_rng.random() < photo_share:
            raw = photos.generated_photo(spec["seed"], index)
            photos.photo_store(state, tenant, user, raw, photos.inspect(raw))
        else:
            state.save_object(tenant, user)


def generate_groups(state: State, tenant: Tenant, spec: dict) -> None:
    count = int(spec.get("groups") or 0)
    rng = random.Random(spec["seed"] + 1)
    user_ids = list(tenant.users)
    for index in range(count):
        name = GROUP_NAMES[index % len(GROUP_NAMES)] + (
            f" {index // len(GROUP_NAMES) + 1}" if index >= len(GROUP_NAMES) else ""
        )
        group_id = str(uuid.uuid4())
        members = rng.sample(user_ids, min(len(user_ids), rng.randint(0, 25)))
        group = {
            "id": group_id,
            "_kind": "group",
            "displayName": name,
            "description": f"{name} (generated)",
            "mailEnabled": False,
            "mailNickname": _slug(name) or f"group{index}",
            "securityEnabled": True,
            "groupTypes": [],
            "createdDateTime": iso(),
            "renewedDateTime": iso(),
            "proxyAddresses": [],
            "mail": None,
            "visibility": None,
            "_members": members,
            "_owners": [],
        }
        tenant.groups[group_id] = group
        state.save_object(tenant, group)


def tenant_reset(state: State, directory: Directory, tenant: Tenant) -> tuple[Tenant, dict]:
    """Back to the directory right after creation; old delta tokens stop working.
    App grants and settings (faults, throttling, time scale) are kept."""
    spec = tenant.info["spec"]
    grants, settings = tenant.info["grants"], tenant.info["settings"]
    state.drop_tenant(tenant, keep_log=True)
    fresh, admins = tenant_create(state, directory, {**spec, "id": tenant.id})
    fresh.info["grants"], fresh.info["settings"] = grants, settings
    state.save_tenant(fresh)
    return fresh, admins


def tenant_summary(tenant: Tenant, *, full: bool = False) -> dict:
    info = tenant.info
    summary = {
        "id": tenant.id,
        "displayName": info["displayName"],
        "domains": [
            {
                "name": d["name"],
                "type": d["type"],
                "isDefault": d["isDefault"],
                "isInitial": d["isInitial"],
            }
            for d in info["domains"]
        ],
        "defaultDomain": tenant.default_domain(),
        "initialDomain": next(d["name"] for d in info["domains"] if d["isInitial"]),
        "users": len(tenant.users),
        "groups": len(tenant.groups),
        "deletedUsers": len(tenant.deleted),
        "settings": info["settings"],
    }
    if full:
        summary["skus"] = [
            {
                "skuId": s["skuId"],
                "skuPartNumber": s["skuPartNumber"],
                "seats": s["prepaidUnits"]["enabled"],
            }
            for s in info["skus"]
        ]
        summary["grants"] = info["grants"]
    return summary
