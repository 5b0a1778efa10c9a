"""When Stratus's client secret expires, read from Microsoft where the app can.

Once a day per connected tenant (`M365_SECRET_READ_HOURS`, from the health check)
Stratus reads its own app registration,
`GET /applications(appId='{M365_CLIENT_ID}')?$select=id,appId,passwordCredentials`, and
keeps the end date of the secret in use: the credential whose `hint` (the first three
characters Entra ID shows of every secret) matches `M365_CLIENT_SECRET`, the soonest if
several match; the soonest of all when none does. That needs `Application.Read.All` and
works only in the tenant where the app is registered (other tenants hold only its
service principal). When it cannot be read (403, or 404 elsewhere), the tenant keeps
why, and the expiry the operator entered (`M365_CLIENT_SECRET_EXPIRES_AT`) applies; the
tenant page says which one it shows. Microsoft busy or unreachable: one attempt, tried
again an hour later, keeping what was known. Neither the secret nor its hint is stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from . import graph
from .models import Tenant
from .tenants import tenant_graph_session

log = logging.getLogger(__name__)

MICROSOFT, OPERATOR = "microsoft", "operator"
NO_PERMISSION = (
    "Stratus may not read its app registration in this tenant (grant Application.Read.All "
    "to read the secret's end date from Microsoft)."
)
NOT_HERE = (
    "Stratus's app registration is not in this tenant (it lives in the tenant where it "
    "was registered), so the secret's end date cannot be read here."
)
NO_SECRET = "The app registration lists no client secret."
RETRY_AFTER_FAILURE = timedelta(hours=1)  # Microsoft busy or unreachable: try again then


@dataclass(frozen=True)
class SecretExpiry:
    expires_at: datetime | None
    source: str  # MICROSOFT: read from Microsoft; OPERATOR: M365_CLIENT_SECRET_EXPIRES_AT
    note: str = ""  # why Microsoft's date is not used


def _aware(moment: datetime) -> datetime:
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


def operator_expires_at() -> datetime | None:
    """The expiry the operator entered in M365_CLIENT_SECRET_EXPIRES_AT (ISO 8601)."""
    raw = str(getattr(settings, "M365_CLIENT_SECRET_EXPIRES_AT", "") or "").strip()
    if not raw:
        return None
    moment = parse_datetime(raw)
    if moment is None and parse_date(raw) is not None:
        moment = datetime.combine(parse_date(raw), datetime.min.time())
    if moment is None:
        log.warning("M365_CLIENT_SECRET_EXPIRES_AT is not an ISO 8601 date: %r", raw[:40])
        return None
    return _aware(moment)


def tenant_secret_expiry(tenant: Tenant) -> SecretExpiry:
    """The date the alert and the tenant page use, and where it comes from."""
    if tenant.secret_checked_at and tenant.secret_expires_at and not tenant.secret_unreadable:
        return SecretExpiry(tenant.secret_expires_at, MICROSOFT)
    return SecretExpiry(operator_expires_at(), OPERATOR, tenant.secret_unreadable)


def secret_in_use_end(credentials: list[dict], secret: str) -> datetime | None:
    """The end date of the secret in use among the app's password credentials."""
    ends = []
    for credential in credentials or []:
        end = parse_datetime(str(credential.get("endDateTime") or ""))
        if end is not None:
            ends.append((credential.get("hint") == secret[:3] and bool(secret), _aware(end)))
    matching = [end for match, end in ends if match]
    return min(matching or [end for _, end in ends], default=None)


def _read_every() -> timedelta:
    return timedelta(hours=getattr(settings, "M365_SECRET_READ_HOURS", 24))


def secret_read_due(tenant: Tenant) -> bool:
    checked = tenant.secret_checked_at
    return checked is None or timezone.now() - checked >= _read_every()


def secret_expiry_read(*, tenant: Tenant) -> SecretExpiry:
    """Read the secret's end date from Microsoft now and keep it (or why not) on the
    tenant. A transient failure keeps what was known and is tried at the next check."""
    client_id = settings.M365_CLIENT_ID
    expires, unreadable = None, ""
    try:
        with tenant_graph_session(tenant=tenant, budget=False, within=30, max_retries=0) as client:
            application = client.get(
                f"applications(appId='{client_id}')",
                params={"$select": "id,appId,passwordCredentials"},
            )
        expires = secret_in_use_end(
            application.get("passwordCredentials") or [], settings.M365_CLIENT_SECRET
        )
        unreadable = "" if expires else NO_SECRET
    except graph.AuthorizationError:
        unreadable = NO_PERMISSION
    except graph.NotFound:
        unreadable = NOT_HERE
    except graph.NeedsReauthorization:
        return tenant_secret_expiry(tenant)  # the tenant's own banner says so
    except graph.GraphError as exc:  # busy or unreachable: keep what was known
        log.warning("Reading the client secret's end date in tenant %s failed: %s", tenant.pk, exc)
        retry_at = timezone.now() - _read_every() + RETRY_AFTER_FAILURE
        Tenant.objects.filter(pk=tenant.pk).update(secret_checked_at=retry_at)
        tenant.secret_checked_at = retry_at
        return tenant_secret_expiry(tenant)
    tenant.secret_expires_at, tenant.secret_unreadable = expires, unreadable
    tenant.secret_checked_at = timezone.now()
    Tenant.objects.filter(pk=tenant.pk).update(
        secret_expires_at=expires,
        secret_unreadable=unreadable,
        secret_checked_at=tenant.secret_checked_at,
    )
    return tenant_secret_expiry(tenant)
