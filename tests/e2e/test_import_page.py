"""The Import page in a real browser at 50,000 mirrored Microsoft 365 users (issue 12):
it opens, filters by department and status, and its screenshot is the README's."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from m365bridge.models import MirroredUser, TenantMirror
from m365bridge.sync import reconcile
from m365bridge.sync.mirror import mirror_distinct
from tests.m365bridge.factories import tenant_row

from .conftest import screenshot
from .test_portal import console_sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

USERS = 50_000
START = datetime(2023, 1, 1, tzinfo=UTC)
FIRST = ["Ada", "Ben", "Chloé", "Dev", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
LAST = ["Archer", "Baker", "Carter", "Diaz", "Evans", "Fischer", "García", "Huang", "Ito"]
DEPARTMENTS = ["Sales", "Finance", "Engineering", "Support", "Marketing", "Legal"]


def mirrored_tenant(organization, count: int):
    """A tenant whose mirror holds `count` users, written as the reconcile writes them."""
    tenant = tenant_row(organization, "contoso.example", name="Contoso 365")
    pick = random.Random(12)
    statuses = ["new"] * 17 + ["conflict", "not_importable", "imported"]
    rows = []
    for n in range(count):
        first, last = pick.choice(FIRST), pick.choice(LAST)
        email = f"{first.lower()}.{last.lower()}{n}@contoso.example"
        status = pick.choice(statuses)
        rows.append(
            MirroredUser(
                organization=organization,
                tenant=tenant,
                microsoft_id=f"{n:08d}-0000-4000-8000-000000000000",
                user_principal_name=email,
                mail=email,
                email=email,
                domain="contoso.example",
                display_name=f"{first} {last}",
                department=pick.choice(DEPARTMENTS),
                job_title="Analyst",
                account_enabled=pick.random() > 0.03,
                licensed=pick.random() > 0.3,
                created_in_microsoft=START + timedelta(hours=pick.randrange(24 * 900)),
                status=status,
                reason="A guest account (invited from another organization): it cannot be imported."
                if status == "not_importable"
                else "",
            )
        )
    MirroredUser.objects.bulk_create(rows, batch_size=5000)
    TenantMirror.objects.create(
        tenant=tenant,
        select=reconcile.SELECT_TEXT,
        filled_at=timezone.now(),
        read=count,
        domains=mirror_distinct(tenant=tenant, column="domain"),
        departments=mirror_distinct(tenant=tenant, column="department"),
    )
    return tenant


def test_the_import_page_at_50000_users(site, alice, new_page):
    tenant = mirrored_tenant(alice.organization, USERS)
    page = new_page()
    console_sign_in(page, site.url, alice.email)

    page.goto(f"{site.url}/console/m365/{tenant.pk}/import/")
    assert page.locator("[data-import-table] tbody tr").count() == 50
    assert "of more than 10,000" in page.inner_text(".pager-info")

    page.select_option("select[name=department]", "Sales")
    page.select_option("select[name=status]", "new")
    page.click("[data-import-filters] button[type=submit]")
    page.wait_for_url("**department=Sales**")
    rows = page.locator("[data-import-table] tbody tr")
    assert rows.count() == 50
    assert set(page.locator("[data-import-table] [data-status]").all_inner_texts()) == {"New"}
    screenshot(page, "console-m365-import")
