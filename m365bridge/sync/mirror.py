"""The tenant's mirror of its Microsoft 365 users (issue 12, I1), written by the reconcile.

The reconcile reads `users/delta` page by page; each page is written here as it streams
(`MirrorRound.page_write`), so one read of Microsoft serves both the drift check and the
Import page, and a 50,000-user tenant is never held in memory. A delta page may leave
unchanged properties out: the page is merged into what the mirror already holds.

Each mirrored user gets its import status: `not_importable` with its reason (a guest,
an account synced from on-premises Active Directory, an address on a domain the tenant
has not verified, no usable email), `imported` (a binding of this tenant has its id),
`conflict` (a Stratus user of the organization already has one of its addresses) or
`new`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from directory.addresses import email_canonical
from directory.json_insert import json_rows_insert
from directory.models import User

from ..models import MirroredUser, Tenant, TenantMirror, UserBinding

# Read by the reconcile besides what it needs for drift.
MIRROR_PROPERTIES = (
    "userType",
    "onPremisesSyncEnabled",
    "proxyAddresses",
    "assignedLicenses",
    "createdDateTime",
)

GUEST = "A guest account (invited from another organization): it cannot be imported."
ON_PREMISES = (
    "Synced from on-premises Active Directory: Microsoft 365 refuses cloud changes to it, "
    "so Stratus cannot manage it."
)
UNVERIFIED = "Its address {email} is on a domain this tenant has not verified."
NO_EMAIL = "It has no usable email address."

# Plain addresses (almost every account) that Django's validator accepts too, checked
# without its slower patterns; anything else goes through the validator itself.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)


def _valid_email(email: str) -> bool:
    if len(email) <= 254 and _PLAIN_EMAIL.fullmatch(email):
        return True
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def account_email(account: dict) -> str:
    """The address Stratus would give this account: its mail, else its UPN; "" when
    neither is a valid address."""
    for candidate in (account.get("mail"), account.get("userPrincipalName")):
        if not isinstance(candidate, str) or not candidate.strip():
            continue
        email = email_canonical(candidate)
        if _valid_email(email):
            return email
    return ""


def account_addresses(account: dict) -> list[str]:
    """Every address of the account, lower-case: mail, UPN and its SMTP proxy addresses."""
    found = [account.get("mail"), account.get("userPrincipalName")]
    for proxy in account.get("proxyAddresses") or []:
        if isinstance(proxy, str) and proxy.lower().startswith("smtp:"):
            found.append(proxy[5:])
    return sorted({email_canonical(a) for a in found if isinstance(a, str) and "@" in a})


def account_unimportable(account: dict, *, email: str, domains: set[str]) -> str:
    """Why this account cannot be imported, or "" when it can."""
    upn = account.get("userPrincipalName") or ""
    if account.get("userType") == "Guest" or "#ext#" in upn.lower():
        return GUEST
    if account.get("onPremisesSyncEnabled") is True:
        return ON_PREMISES
    if not email:
        return NO_EMAIL
    if email.rpartition("@")[2] not in domains:
        return UNVERIFIED.format(email=email)
    return ""


def _text(value, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def moment_parse(value) -> datetime | None:
    """An ISO 8601 time from Graph (UTC when it names no zone), None when unreadable."""
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is not None and timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def _moment_text(value) -> str | None:
    """The time in ISO 8601 with its zone, which PostgreSQL and Django both read (the
    page goes to PostgreSQL as JSON, which has no type for times)."""
    moment = moment_parse(value)
    return moment.isoformat() if moment is not None else None


def mirrored_user_values(account: dict, *, domains: set[str]) -> dict:
    """The mirror's columns for the account (the merged properties Microsoft holds),
    keyed by column (the time as text), with the status its properties alone give (`new` or
    `not_importable`); `mirrored_users_classify` finishes it."""
    email = account_email(account)
    email = email if len(email) <= 254 else ""
    reason = account_unimportable(account, email=email, domains=domains)
    proxies = account.get("proxyAddresses") or []
    return {
        "microsoft_id": account["id"],
        "user_principal_name": _text(account.get("userPrincipalName"), 1024),
        "mail": _text(account.get("mail"), 1024),
        "email": email,
        "domain": email.rpartition("@")[2],
        "display_name": _text(account.get("displayName"), 256),
        "department": _text(account.get("department"), 256),
        "job_title": _text(account.get("jobTitle"), 256),
        "account_enabled": account.get("accountEnabled") is not False,
        "licensed": bool(account.get("assignedLicenses")),
        "user_type": _text(account.get("userType"), 16),
        "on_premises_sync": account.get("onPremisesSyncEnabled") is True,
        "created_in_microsoft": _moment_text(account.get("createdDateTime")),
        "proxy_addresses": [p for p in proxies if isinstance(p, str)],
        "addresses": account_addresses(account),
        "properties": account,
        "status": MirroredUser.NOT_IMPORTABLE if reason else MirroredUser.NEW,
        "reason": reason,
    }


def mirrored_users_classify(*, tenant: Tenant, rows: list[dict]) -> None:
    """Mark importable rows `imported` (bound in this tenant) or `conflict` (a Stratus
    user of the organization has one of their addresses). Two queries per call."""
    candidates = [r for r in rows if r["status"] != MirroredUser.NOT_IMPORTABLE]
    if not candidates:
        return
    bound = set(
        UserBinding.objects.filter(
            tenant=tenant, bound=True, microsoft_id__in=[r["microsoft_id"] for r in candidates]
        ).values_list("microsoft_id", flat=True)
    )
    addresses = {a for r in candidates for a in r["addresses"]}
    taken = set(
        User.objects.for_organization(tenant.organization_id)
        .filter(email__in=addresses)
        .values_list("email", flat=True)
    )
    for row in candidates:
        if row["microsoft_id"] in bound:
            row["status"] = MirroredUser.IMPORTED
        elif taken.intersection(row["addresses"]):
            row["status"] = MirroredUser.CONFLICT


def mirrored_users_write(*, tenant: Tenant, read_at: datetime, rows: list[dict]) -> None:
    """Upsert rows of the tenant's mirror (columns as `mirrored_user_values` gives them),
    in one statement: on PostgreSQL the page goes as one JSON document; elsewhere (the
    SQLite of `make run`) through Django's `bulk_create`."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        mirrored_users_upsert_json(tenant=tenant, read_at=read_at, rows=rows)
    else:
        mirrored_users_upsert_orm(tenant=tenant, read_at=read_at, rows=rows)


def mirrored_users_upsert_json(*, tenant: Tenant, read_at: datetime, rows: list[dict]) -> None:
    """The page in one INSERT … ON CONFLICT DO UPDATE of a JSON document PostgreSQL
    unpacks (`directory.json_insert`): Django's `bulk_create` compiled and adapted each of
    the ~20,000 values of a 999-row page in Python, most of a page's cost
    (bench/mirror_page.py)."""
    json_rows_insert(
        MirroredUser,
        fixed={"organization": tenant.organization_id, "tenant": tenant.pk, "read_at": read_at},
        rows=rows,
        conflict=("tenant", "microsoft_id"),
    )


def mirrored_users_upsert_orm(*, tenant: Tenant, read_at: datetime, rows: list[dict]) -> None:
    """The same upsert through Django, for databases other than PostgreSQL."""
    MirroredUser.objects.bulk_create(
        [
            MirroredUser(
                organization_id=tenant.organization_id, tenant=tenant, read_at=read_at, **row
            )
            for row in rows
        ],
        update_conflicts=True,
        unique_fields=["tenant", "microsoft_id"],
        update_fields=["organization", "read_at", *(c for c in rows[0] if c != "microsoft_id")],
    )


@dataclass
class MirrorRound:
    """The mirror's side of one reconcile read."""

    tenant: Tenant
    select: str
    started: datetime = field(default_factory=timezone.now)
    domains: set[str] = field(default_factory=set)
    full: bool = False
    changed: bool = False  # a page added, changed or removed an account

    def begin(self, *, full: bool) -> None:
        self.full = full
        self.started = timezone.now()
        self.domains = {d.lower() for d in self.tenant.domains.values_list("name", flat=True)}
        TenantMirror.objects.update_or_create(
            tenant=self.tenant, defaults={"reading": full, "read": 0}
        )

    def page_write(self, items: list[dict]) -> None:
        """Write one page: upsert the accounts it lists (merged with what the mirror
        holds), delete those it reports removed, and count the progress."""
        removed = [i["id"] for i in items if "@removed" in i and i.get("id")]
        present = {i["id"]: i for i in items if "@removed" not in i and i.get("id")}
        self.changed = self.changed or bool(removed or present)
        if removed:
            MirroredUser.objects.filter(tenant=self.tenant, microsoft_id__in=removed).delete()
        if present:
            self._upsert(present, merge=not self.full)
        TenantMirror.objects.filter(tenant=self.tenant).update(read=F("read") + len(present))

    def _upsert(self, present: dict[str, dict], *, merge: bool) -> None:
        held = {}
        if merge:  # a full read lists every selected property; a delta page may not
            held = dict(
                MirroredUser.objects.filter(
                    tenant=self.tenant, microsoft_id__in=list(present)
                ).values_list("microsoft_id", "properties")
            )
        rows = [
            mirrored_user_values(
                {**held.get(microsoft_id, {}), **_clean_item(item)}, domains=self.domains
            )
            for microsoft_id, item in present.items()
        ]
        mirrored_users_classify(tenant=self.tenant, rows=rows)
        mirrored_users_write(tenant=self.tenant, read_at=self.started, rows=rows)

    def end(self, *, full: bool) -> None:
        """After a full read the mirror lists exactly what Microsoft listed: rows the
        read did not touch are accounts deleted since."""
        if full:
            MirroredUser.objects.filter(tenant=self.tenant, read_at__lt=self.started).delete()
        fields = {"reading": False}
        if full or self.changed:  # the filter choices: two scans, only when they can move
            fields["domains"] = mirror_distinct(tenant=self.tenant, column="domain")
            fields["departments"] = mirror_distinct(tenant=self.tenant, column="department")
        if full:
            fields.update(select=self.select, filled_at=timezone.now())
        TenantMirror.objects.filter(tenant=self.tenant).update(**fields)


def mirror_distinct(*, tenant: Tenant, column: str) -> list[str]:
    """The distinct non-empty values of a listing column (domain, department)."""
    return list(
        MirroredUser.objects.filter(tenant=tenant)
        .exclude(**{column: ""})
        .order_by(column)
        .values_list(column, flat=True)
        .distinct()
    )


def mirror_current(*, tenant: Tenant, select: str) -> bool:
    """Whether the tenant's delta link can keep the mirror current: it was filled by a
    full read with this very `$select` (a link remembers the select it began with)."""
    return TenantMirror.objects.filter(
        tenant=tenant, select=select, filled_at__isnull=False
    ).exists()


def _clean_item(item: dict) -> dict:
    """The account without Graph's annotations (`@odata.type`, …): a full read's
    accounts carry none, and looking is cheaper than copying."""
    if not any(key[:1] == "@" for key in item):
        return item
    return {k: v for k, v in item.items() if k[:1] != "@"}
