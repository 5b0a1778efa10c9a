"""Told when sync stops: a scheduled check (`workers.tasks.m365_sync_health_check`,
every 5 minutes) of each connected tenant. A tenant is in trouble, for one reason
(`TenantSyncAlert.kind`), when

- `failing`: a change has been failing to reach Microsoft 365 for longer than
  `M365_SYNC_ALERT_MINUTES` (default 60): a user or group binding still waiting, with
  failed attempts, since before then;
- `error_rate`: Microsoft refused too many of the changes sent lately: more than
  `M365_ERROR_RATE_PERCENT` (default 20) % of the changes whose outcome was recorded in
  the last `M365_ERROR_RATE_MINUTES` (default 15), once at least
  `M365_ERROR_RATE_MIN_CHANGES` (default 10) were (so two refusals out of three do not
  page anyone). An outcome is an engine event of the user and group kinds
  (`user_create_provision` … `group_members_provision`); transient failures are retried
  and covered by `failing`;
- `secret_expiring`: Stratus's client secret expires within `M365_SECRET_WARN_DAYS`
  (default 14), by the end date read from Microsoft (`secret_expiry`, once a day), or
  else the one the operator gives in `M365_CLIENT_SECRET_EXPIRES_AT`.

On the transition into trouble the tenant gets a `TenantSyncAlert` (the tenant page
shows a banner), the event `m365_sync_alert`, and its owners one email; while it lasts
nothing more is sent. On recovery the alert goes, with `m365_sync_recovered` and one
more email. A tenant that needs re-authorization has its own banner and email
(`tenants.tenant_mark_needs_reauthorization`) and is not checked here.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from directory.emails import email_queue
from directory.models import User

from .events import tenant_event
from .models import GroupBinding, Tenant, TenantSyncAlert, UserBinding
from .secret_expiry import MICROSOFT, secret_expiry_read, secret_read_due, tenant_secret_expiry

log = logging.getLogger(__name__)

# The engine's outcome events, one per change applied or refused (sync/users.py,
# sync/groups.py); what the error rate counts.
SYNC_OUTCOME_EVENTS = (
    "user_create_provision",
    "user_update_provision",
    "user_password_update_provision",
    "user_deprovision",
    "user_reactivate_provision",
    "group_create_provision",
    "group_update_provision",
    "group_members_provision",
)


def alert_after() -> timedelta:
    return timedelta(minutes=getattr(settings, "M365_SYNC_ALERT_MINUTES", 60))


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


def error_rate(tenant: Tenant) -> tuple[int, int]:
    """(refused, recorded) outcomes of the tenant's changes in the error-rate window."""
    since = timezone.now() - timedelta(minutes=getattr(settings, "M365_ERROR_RATE_MINUTES", 15))
    counts = Event.objects.filter(
        organization_id=tenant.organization_id,
        tenant_ref=tenant.microsoft_tenant_id,
        created_at__gte=since,
        type__in=SYNC_OUTCOME_EVENTS,
    ).aggregate(recorded=Count("pk"), refused=Count("pk", filter=Q(outcome=Event.FAILURE)))
    return counts["refused"], counts["recorded"]


def _error_rate_problem(tenant: Tenant) -> str:
    refused, recorded = error_rate(tenant)
    percent = getattr(settings, "M365_ERROR_RATE_PERCENT", 20)
    if recorded < getattr(settings, "M365_ERROR_RATE_MIN_CHANGES", 10):
        return ""
    if refused * 100 <= percent * recorded:
        return ""
    minutes = getattr(settings, "M365_ERROR_RATE_MINUTES", 15)
    return (
        f"Microsoft 365 refused {refused} of the last {recorded} changes sent in "
        f"{minutes} minutes ({refused * 100 // recorded} %, more than {percent} %). "
        "The failed accounts and groups show Microsoft's reason on the tenant page."
    )


def _secret_problem(tenant: Tenant) -> str:
    expiry = tenant_secret_expiry(tenant)
    warn = timedelta(days=getattr(settings, "M365_SECRET_WARN_DAYS", 14))
    if expiry.expires_at is None or expiry.expires_at - timezone.now() > warn:
        return ""
    source = (
        "read from Microsoft 365"
        if expiry.source == MICROSOFT
        else "as entered in M365_CLIENT_SECRET_EXPIRES_AT"
    )
    return (
        f"Stratus's client secret in Entra ID expires on {expiry.expires_at:%Y-%m-%d} "
        f"({source}): add a new secret to the app registration and to M365_CLIENT_SECRET "
        "before then."
    )


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
    rate = _error_rate_problem(tenant)
    if rate:
        return TenantSyncAlert.ERROR_RATE, rate[:500]
    secret = _secret_problem(tenant)
    if secret:
        return TenantSyncAlert.SECRET_EXPIRING, secret[:500]
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
        if secret_read_due(tenant):
            secret_expiry_read(tenant=tenant)
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
