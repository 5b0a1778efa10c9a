"""What Microsoft 365 says about a tenant, and keeping Stratus's copy of it current:
its name and verified domains, whether a custom domain is federated to the partner that
sold the subscription, and (`tenant_refresh`) re-reading all of it with a fresh token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import graph
from ..capabilities import claims_permissions
from ..graph.tenant import tenant_graph
from ..models import Tenant, TenantDomain
from ..tenants import tenant_mark_needs_reauthorization, tenant_record_error

GODADDY_HOSTS = ("godaddy.com", "secureserver.net")
FEDERATION_SIGN_IN_KEYS = ("issuerUri", "passiveSignInUri", "activeSignInUri")
DOMAIN_TAKEN_ON_REFRESH = (
    "A domain newly verified in this tenant is already connected to Stratus "
    "through another tenant; it is ignored here."
)


@dataclass
class TenantInfo:
    """A tenant as Graph describes it. `domains` are dicts with `name`, `is_initial`,
    `is_default` and `authentication_type`; `partner_federation` is (domain, partner)
    when a custom domain signs in through the partner (graph-facts §7.3), else None."""

    id: str
    display_name: str
    domains: list[dict[str, Any]]
    partner_federation: tuple[str, str] | None

    @property
    def domain_names(self) -> list[str]:
        return [d["name"] for d in self.domains]

    @property
    def initial_domain(self) -> str:
        return _initial_domain(self.domains)


def tenant_info_read(*, client: graph.GraphClient) -> TenantInfo:
    """Read the tenant that `client`'s token belongs to."""
    organization = (client.get("organization") or {}).get("value", [{}])[0]
    domains = [_domain(d) for d in organization.get("verifiedDomains", [])]
    return TenantInfo(
        id=str(organization.get("id") or ""),
        display_name=str(organization.get("displayName") or ""),
        domains=domains,
        partner_federation=_partner_federation(client, domains),
    )


def _domain(verified: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(verified["name"]).lower(),
        "is_initial": bool(verified.get("isInitial")),
        "is_default": bool(verified.get("isDefault")),
        "authentication_type": str(verified.get("type") or "Managed"),
    }


def _initial_domain(domains: list[dict[str, Any]]) -> str:
    return next((d["name"] for d in domains if d["is_initial"]), "")


def _partner_federation(client: graph.GraphClient, domains: list[dict]) -> tuple | None:
    """(domain, partner) when a custom domain signs in through GoDaddy, else None."""
    initial = _initial_domain(domains)
    for domain in domains:
        if domain["is_initial"] or domain["authentication_type"].lower() != "federated":
            continue
        try:
            config = client.get(f"domains/{domain['name']}/federationConfiguration")
        except graph.AuthorizationError:
            # Cannot read where it federates to; a NETORG initial domain is GoDaddy's mark.
            if initial.startswith("netorg"):
                return (domain["name"], "GoDaddy")
            continue
        if _signs_in_through_godaddy(config):
            return (domain["name"], "GoDaddy")
    return None


def _signs_in_through_godaddy(federation_configuration: dict | None) -> bool:
    for item in (federation_configuration or {}).get("value", []):
        for key in FEDERATION_SIGN_IN_KEYS:
            host = (urlsplit(str(item.get(key) or "")).hostname or "").lower()
            if any(host == h or host.endswith("." + h) for h in GODADDY_HOSTS):
                return True
    return False


def tenant_domains_replace(*, tenant: Tenant, domains: list[dict[str, Any]]) -> None:
    """Make the tenant's stored domains exactly `domains` (a step of an atomic service;
    the unique active domain name raises IntegrityError when another tenant owns one)."""
    tenant.domains.exclude(name__in=[d["name"] for d in domains]).delete()
    for domain in domains:
        TenantDomain.objects.update_or_create(
            tenant=tenant,
            name=domain["name"],
            defaults={
                "is_initial": domain["is_initial"],
                "is_default": domain["is_default"],
                "authentication_type": domain["authentication_type"],
                "active": tenant.is_active,
            },
        )


def tenant_refresh(*, tenant: Tenant) -> Tenant:
    """Re-read the tenant's verified domains and what its token carries (on demand and
    on every sync). A token that no longer works turns the tenant to
    `needs_reauthorization`; other failures are stored as its last error."""
    client = tenant_graph(tenant=tenant, budget=False)
    try:
        # A fresh token: consent and roles may have changed since the cached one.
        client.tokens.token(force_refresh=True)
        info = tenant_info_read(client=client)
    except graph.NeedsReauthorization as exc:
        return tenant_mark_needs_reauthorization(tenant=tenant, reason=str(exc))
    except graph.GraphError as exc:
        return tenant_record_error(tenant=tenant, message=str(exc))
    permissions, roles = claims_permissions(client.tokens.last_claims)
    with transaction.atomic():
        tenant = _tenant_refreshed_save(tenant, info, permissions, roles)
        try:
            with transaction.atomic():
                tenant_domains_replace(tenant=tenant, domains=info.domains)
        except IntegrityError:
            return tenant_record_error(tenant=tenant, message=DOMAIN_TAKEN_ON_REFRESH)
    return tenant


def _tenant_refreshed_save(
    tenant: Tenant, info: TenantInfo, permissions: list, roles: list
) -> Tenant:
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    now = timezone.now()
    tenant.display_name = info.display_name or tenant.display_name
    tenant.granted_permissions, tenant.directory_roles = permissions, roles
    tenant.permissions_checked_at = tenant.domains_refreshed_at = now
    tenant.last_error, tenant.last_error_at = "", None
    tenant.save(
        update_fields=[
            "display_name",
            "granted_permissions",
            "directory_roles",
            "permissions_checked_at",
            "domains_refreshed_at",
            "last_error",
            "last_error_at",
            "updated_at",
        ]
    )
    return tenant
