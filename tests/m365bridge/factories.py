"""factory-boy factories for the bridge's rows, for tests that are about Stratus's own
rules (tenancy, resolution, the console), not about talking to Microsoft: those connect
through graphsim instead. Each fills in what a test does not care about; a test names
only what it checks."""

import uuid

import factory
from factory.django import DjangoModelFactory

from m365bridge.models import GroupBinding, SyncRun, Tenant, TenantDomain, UserBinding


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant

    microsoft_tenant_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    display_name = "Contoso"
    mode = Tenant.APPLICATION
    status = Tenant.CONNECTED


class TenantDomainFactory(DjangoModelFactory):
    class Meta:
        model = TenantDomain

    name = factory.Sequence(lambda n: f"domain-{n}.example")
    active = factory.LazyAttribute(lambda domain: domain.tenant.is_active)


class UserBindingFactory(DjangoModelFactory):
    class Meta:
        model = UserBinding

    organization = factory.SelfAttribute("tenant.organization")


class GroupBindingFactory(DjangoModelFactory):
    class Meta:
        model = GroupBinding

    organization = factory.SelfAttribute("tenant.organization")


class SyncRunFactory(DjangoModelFactory):
    class Meta:
        model = SyncRun

    organization = factory.SelfAttribute("tenant.organization")


def tenant_row(
    organization, *domains, status=Tenant.CONNECTED, mode=Tenant.APPLICATION, name="Contoso"
):
    """A tenant of `organization` owning `domains` (the first is its initial domain)."""
    tenant = TenantFactory(organization=organization, display_name=name, mode=mode, status=status)
    for index, domain in enumerate(domains):
        TenantDomainFactory(tenant=tenant, name=domain, is_initial=index == 0)
    return tenant
