"""Reads of the Microsoft 365 bridge. Every function takes the organization, so no query
reaches another organization's tenants; a missing or foreign tenant is `Http404`."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from directory.errors import Conflict, InvalidInput
from directory.models import Organization

from .capabilities import PermissionCheck, permission_check
from .models import Tenant, TenantDomain


def tenant_list(*, organization: Organization, include_deauthorized: bool = True
                ) -> QuerySet[Tenant]:
    tenants = Tenant.objects.for_organization(organization).prefetch_related("domains")
    if not include_deauthorized:
        tenants = tenants.filter(status__in=Tenant.ACTIVE_STATUSES)
    return tenants.select_related("connected_by").order_by("display_name", "pk")


def tenant_get(*, organization: Organization, pk) -> Tenant:
    try:
        return tenant_list(organization=organization).get(pk=int(pk))
    except (Tenant.DoesNotExist, ValueError, TypeError):
        raise Http404("No such Microsoft 365 tenant.") from None


def tenant_for_email(*, organization: Organization, email: str) -> Tenant:
    """The tenant a user with this email is bound to (C3): the connected tenant of the
    organization whose verified domains contain the email's domain. Used by every path
    that binds a user."""
    domain = (email or "").strip().rpartition("@")[2].lower()
    if not domain or "@" not in (email or ""):
        raise InvalidInput.for_field("email", "Enter a valid email address.")
    tenant_ids = list(
        TenantDomain.objects.filter(active=True, name=domain,
                                    tenant__organization=organization)
        .values_list("tenant_id", flat=True).distinct())
    if not tenant_ids:
        message = (f"No connected Microsoft 365 tenant of your organization has {domain} as a "
                   "verified domain, so this user cannot be bound. Verify the domain in "
                   "Microsoft 365, or give the user an address on a verified domain.")
        raise InvalidInput(message, fields={"email": [message]}, code="no_tenant_for_domain")
    if len(tenant_ids) > 1:
        message = (f"The domain {domain} is verified in more than one connected tenant; "
                   "Stratus cannot tell which one owns this user.")
        raise Conflict(message, fields={"email": [message]}, code="ambiguous_tenant")
    return Tenant.objects.get(pk=tenant_ids[0])


def tenant_permission_check(*, tenant: Tenant) -> PermissionCheck:
    return permission_check(mode=tenant.mode, permissions=tenant.granted_permissions,
                            roles=tenant.directory_roles)
