"""Tenant rows for tests that are about Stratus's own rules (tenancy, resolution), not
about talking to Microsoft; those connect through graphsim instead."""

import uuid

from m365bridge.models import Tenant, TenantDomain


def tenant_row(
    organization, *domains, status=Tenant.CONNECTED, mode=Tenant.APPLICATION, name="Contoso"
):
    tenant = Tenant.objects.create(
        organization=organization,
        microsoft_tenant_id=str(uuid.uuid4()),
        display_name=name,
        mode=mode,
        status=status,
    )
    for index, domain in enumerate(domains):
        TenantDomain.objects.create(
            tenant=tenant, name=domain, is_initial=index == 0, active=tenant.is_active
        )
    return tenant
