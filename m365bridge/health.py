"""Told when sync stops: a scheduled check (`workers.tasks.m365_sync_health_check`,
every 5 minutes) of each connected tenant. A tenant is in trouble when

- a change has been failing to reach Microsoft 365 for longer than
  `M365_SYNC_ALERT_MINUTES` (default 60): a user or group binding still waiting, with
  failed attempts, since before then; or
- Stratus's client secret expires within `M365_SECRET_WARN_DAYS` (default 14), by the
  end date the operator gives in `M365_CLIENT_SECRET_EXPIRES_AT` (the date Entra ID shows
  for the secret; ISO 8601).

On the transition into trouble the tenant gets a `TenantSyncAlert` (the tenant page
shows a banner), the event `m365_sync_alert`, and its owners one email; while it lasts
nothing more is sent. On recovery the alert goes, with `m365_sync_recovered` and one
more email. A tenant that needs re-authorization has its own banner and email
(`tenants.tenant_mark_needs_reauthorization`) and is not checked here.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from directory.emails import email_queue
from directory.models import User

from .events import tenant_event
from .models import GroupBinding, Tenant, TenantSyncAlert, UserBinding

log = logging.getLogger(__name__)


def alert_after() -> timedelta:
    return timedelta(minutes=getattr(settings, "M365_SYNC_ALERT_MINUTES", 60))


def secret_expires_at() -> datetime | None:
    raw = str(getattr(settings, "M365_CLIENT_SECRET_EXPIRES_AT", "") or "").strip()
    if not raw:
        return None
    moment = parse_datetime(raw)
    if moment is None and parse_date(raw) is not None:
        moment = datetime.combine(parse_date(raw), datetime.min.time())
    if moment is None:
        log.warning("M365_CLIENT_SECRET_EXPIRES_AT is not an ISO 8601 date: %r", raw[:40])
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


def _failing_binding(tenant: Tenant):
    """The oldest binding of the tenant whose change keeps failing since before the
    alert threshold (users first, then groups), or None."""
    cutoff = timezone.now() - alert_after()
    for model in (UserBinding, GroupBinding):
        row = (
            model.objects.filter(
                tenant=tenant, needs_sync=True, attempts__gt=0, dirty_since__lt=cutoff
            )
            .order_by("dirty_since")
            .first()
        )
        if row is not None:
            return row
    return None


def tenant_sync_problem(tenant: Tenant) -> tuple[str, str] | None:
    """(kind, message) of what stops this tenant's sync now, or None."""
    failing = _failing_binding(tenant)
    if failing is not None:
        minutes = int((timezone.now() - failing.dirty_since).total_seconds() // 60)
        reason = f" The last error: {failing.last_error}" if failing.last_error else ""
        return (
            TenantSyncAlert.FAILING,
            f"Changes have not reached Microsoft 365 for {minutes} minutes.{reason}"[:500],
        )
    expires = secret_expires_at()
    warn = timedelta(days=getattr(settings, "M365_SECRET_WARN_DAYS", 14))
    if expires is not None and expires - timezone.now() <= warn:
        return (
            TenantSyncAlert.SECRET_EXPIRING,
            f"Stratus's client secret in Entra ID expires on {expires:%Y-%m-%d}: add a new "
            "secret to the app registration and to M365_CLIENT_SECRET before then.",
        )
    return None


def tenant_health_check(*, tenant: Tenant) -> str:
    """Compare the tenant's state with its alert; returns "alerted", "recovered" or ""."""
    problem = tenant_sync_problem(tenant)
    with transaction.atomic():
        alert = TenantSyncAlert.objects.select_for_update().filter(tenant=tenant).first()
        if problem is not None and alert is None:
            kind, message = problem
            TenantSyncAlert.objects.create(
                organization_id=tenant.organization_id, tenant=tenant, kind=kind, message=message
            )
            tenant_event(
                tenant=tenant,
                type="m365_sync_alert",
                actor=None,
                outcome="failure",
                details={"kind": kind, "message": message},
            )
            _email_owners(tenant, f"Microsoft 365 sync of {tenant} has stopped", message)
            return "alerted"
        if problem is None and alert is not None:
            down = int((timezone.now() - alert.since).total_seconds() // 60)
            alert.delete()
            tenant_event(
                tenant=tenant,
                type="m365_sync_recovered",
                actor=None,
                details={"kind": alert.kind, "minutes": down},
            )
            _email_owners(
                tenant,
                f"Microsoft 365 sync of {tenant} works again",
                f"Sync with Microsoft 365 works again after {down} minutes. Nothing was lost.",
            )
            return "recovered"
    return ""


def tenants_health_check() -> dict[int, str]:
    """Every connected tenant checked; returns the ones whose alert changed."""
    changed = {}
    for tenant in Tenant.objects.filter(status=Tenant.CONNECTED).select_related("organization"):
        outcome = tenant_health_check(tenant=tenant)
        if outcome:
            changed[tenant.pk] = outcome
    return changed


def _email_owners(tenant: Tenant, subject: str, message: str) -> None:
    url = settings.BASE_URL.rstrip("/") + reverse("m365:tenant", args=[tenant.pk])
    text = f"Hello,\n\n{message}\n\nThe tenant's page: {url}\n\n— Stratus\n"
    owners = User.objects.for_organization(tenant.organization).filter(
        role=User.OWNER, status=User.ACTIVE
    )
    for owner in owners:
        email_queue(
            organization=tenant.organization,
            to=owner.email,
            kind="m365_sync_alert",
            subject=subject,
            text=text,
            user=owner,
        )
