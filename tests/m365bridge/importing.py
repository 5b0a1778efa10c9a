"""Shared set-up of the import tests: accounts made in graphsim as a Microsoft 365 admin
would, the mirrored row of one, and a small mirrored tenant (`mirror`): Ann and Cal in
Sales, Bea blocked in Finance, Syd synced from on-premises, and a Stratus user who
already has Cal's address (a conflict)."""

import pytest

from m365bridge.models import MirroredUser
from m365bridge.sync import reconcile

from .provisioning import employee

ACCOUNT_PASSWORD = "Gx7#mWq2-Lp9zR"


def add_account(ms, local, **attrs):
    upn = attrs.pop("upn", f"{local}@{ms['domain']}")
    attrs.setdefault("displayName", local.capitalize())
    attrs.setdefault("mailNickname", local.replace("#", "")[:20])
    return ms["control"].admin_create_user(ms["id"], upn, password=ACCOUNT_PASSWORD, **attrs)


def mirrored(tenant, upn) -> MirroredUser:
    return MirroredUser.objects.get(tenant=tenant, user_principal_name__iexact=upn)


@pytest.fixture
def mirror(acme, alice, ms, tenant):
    add_account(ms, "ann", displayName="Ann Archer", department="Sales")
    add_account(ms, "bea", displayName="Bea Baker", department="Finance", accountEnabled=False)
    add_account(ms, "cal", displayName="Cal Carter", department="Sales")
    add_account(ms, "synced", displayName="Syd Synced", onPremisesSyncEnabled=True)
    employee(acme, alice, ms, "cal")
    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)
    assert run.outcome == "succeeded", run.note
    return tenant
