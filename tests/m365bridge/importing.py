"""Shared set-up of the import tests: accounts made in graphsim as a Microsoft 365 admin
would, the mirrored row of one, and a small mirrored tenant (`mirror`): Ann and Cal in
Sales, Bea blocked in Finance, Syd synced from on-premises, and a Stratus user who
already has Cal's address (a conflict); the security groups "Sales team" (Ann, Cal) and
"Finance" (Bea; a Stratus group has that name: a conflict)."""

import pytest

from directory import services as directory_services
from m365bridge.models import MirroredGroup, MirroredUser
from m365bridge.services import imports
from m365bridge.sync import reconcile

from .provisioning import employee

ACCOUNT_PASSWORD = "Gx7#mWq2-Lp9zR"


def email_taken_after_planning(monkeypatch, acme, alice, ms, local) -> None:
    """Another admin creates a Stratus user with `local`'s address after an import chunk
    checked its emails and before it inserts them: the chunk's insert fails whole."""
    planned = imports._planned

    def another_admin_meanwhile(*args, **kwargs):
        chosen = planned(*args, **kwargs)
        employee(acme, alice, ms, local)
        return chosen

    monkeypatch.setattr(imports, "_planned", another_admin_meanwhile)


def add_account(ms, local, **attrs):
    upn = attrs.pop("upn", f"{local}@{ms['domain']}")
    attrs.setdefault("displayName", local.capitalize())
    attrs.setdefault("mailNickname", local.replace("#", "")[:20])
    return ms["control"].admin_create_user(ms["id"], upn, password=ACCOUNT_PASSWORD, **attrs)


def mirrored(tenant, upn) -> MirroredUser:
    return MirroredUser.objects.get(tenant=tenant, user_principal_name__iexact=upn)


def mirrored_group(tenant, name) -> MirroredGroup:
    return MirroredGroup.objects.get(tenant=tenant, display_name=name)


@pytest.fixture
def mirror(acme, alice, ms, tenant):
    ann = add_account(ms, "ann", displayName="Ann Archer", department="Sales")
    bea = add_account(
        ms, "bea", displayName="Bea Baker", department="Finance", accountEnabled=False
    )
    cal = add_account(ms, "cal", displayName="Cal Carter", department="Sales")
    add_account(ms, "synced", displayName="Syd Synced", onPremisesSyncEnabled=True)
    employee(acme, alice, ms, "cal")
    ms["control"].admin_create_group(ms["id"], "Sales team", members=[ann["id"], cal["id"]])
    ms["control"].admin_create_group(ms["id"], "Finance", members=[bea["id"]])
    directory_services.group_create(actor=alice, organization=acme, name="Finance")
    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)
    assert run.outcome == "succeeded", run.note
    return tenant
