"""Stratus's side of a seeded graphsim tenant, bulk-created: a user for each Microsoft
account and its binding as if Stratus had provisioned it and told Microsoft exactly what
it holds (a blocked account is a suspended user). Used by the benchmarks and by the
tests that need thousands of bound users (`tests/support/big_group.py`)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from directory.models import User


def users_bound_as_in_microsoft(*, organization, tenant, accounts: list[dict]) -> dict[str, int]:
    """Create the users and bindings of `accounts` (graphsim's control view of users);
    returns each account's Microsoft id → Stratus user id."""
    from m365bridge.attributes import SYNCED_GRAPH_PROPERTIES
    from m365bridge.models import UserBinding

    rows = [
        User(
            organization=organization,
            email=a["userPrincipalName"].lower(),
            status=User.ACTIVE,
            password="!",
            first_name=a.get("givenName") or "",
            last_name=a.get("surname") or "",
            display_name=a.get("displayName") or "",
            job_title=a.get("jobTitle") or "",
            department=a.get("department") or "",
            employee_id=a.get("employeeId") or "",
            company_name=a.get("companyName") or "",
            office_location=a.get("officeLocation") or "",
            mobile_phone=a.get("mobilePhone") or "",
            business_phones=a.get("businessPhones") or [],
            street_address=a.get("streetAddress") or "",
            city=a.get("city") or "",
            state=a.get("state") or "",
            postal_code=a.get("postalCode") or "",
            country=a.get("country") or "",
            usage_location=a.get("usageLocation") or "",
        )
        for a in accounts
    ]
    with transaction.atomic():
        User.objects.bulk_create(rows, batch_size=5000)
    by_email = dict(User.objects.filter(organization=organization).values_list("email", "pk"))
    now = timezone.now()
    bindings = []
    for a in accounts:
        email = a["userPrincipalName"].lower()
        enabled = bool(a.get("accountEnabled"))
        # As if Stratus had told Microsoft exactly what it holds.
        known = {name: a.get(name) for name in SYNCED_GRAPH_PROPERTIES}
        bindings.append(
            UserBinding(
                organization=organization,
                tenant=tenant,
                user_id=by_email[email],
                user_ref=by_email[email],
                user_label=email,
                microsoft_id=a["id"],
                needs_sync=False,
                dirty_since=None,
                state=UserBinding.PROVISIONED if enabled else UserBinding.BLOCKED,
                known_properties=known,
                known_enabled=enabled,
                synced_at=now,
            )
        )
    with transaction.atomic():
        UserBinding.objects.bulk_create(bindings, batch_size=5000)
        User.objects.filter(pk__in=[b.user_id for b in bindings if not b.known_enabled]).update(
            status=User.SUSPENDED
        )
    return {b.microsoft_id: b.user_id for b in bindings}
