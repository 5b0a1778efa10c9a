"""C3: a user belongs to the tenant whose verified domains contain their email's domain."""

import pytest
from django.db import IntegrityError, transaction

from directory.errors import InvalidInput
from m365bridge import selectors
from m365bridge.models import Tenant

from .factories import tenant_row


def test_it_resolves_the_tenant_by_the_emails_domain_among_several(acme):
    contoso = tenant_row(acme, "contoso.onmicrosoft.com", "contoso.example", name="Contoso")
    fabrikam = tenant_row(acme, "fabrikam.onmicrosoft.com", "fabrikam.example", name="Fabrikam")
    assert selectors.tenant_for_email(organization=acme, email="Ann@Contoso.example") == contoso
    assert selectors.tenant_for_email(organization=acme, email="bo@fabrikam.example") == fabrikam


def test_an_email_on_no_verified_domain_is_refused_with_the_reason(acme):
    tenant_row(acme, "contoso.onmicrosoft.com", "contoso.example")
    with pytest.raises(InvalidInput) as raised:
        selectors.tenant_for_email(organization=acme, email="ann@elsewhere.example")
    assert raised.value.code == "no_tenant_for_domain"
    assert "elsewhere.example" in raised.value.message
    assert "email" in raised.value.fields


def test_another_organizations_tenant_and_a_deauthorized_one_do_not_count(acme, globex):
    tenant_row(globex, "globex.onmicrosoft.com", "globex.example")
    tenant_row(acme, "old.onmicrosoft.com", "old.example", status=Tenant.DEAUTHORIZED)
    for email in ("x@globex.example", "x@old.example"):
        with pytest.raises(InvalidInput):
            selectors.tenant_for_email(organization=acme, email=email)


def test_the_database_refuses_one_verified_domain_on_two_live_tenants(acme, globex):
    tenant_row(acme, "contoso.onmicrosoft.com", "contoso.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        tenant_row(globex, "other.onmicrosoft.com", "contoso.example")
