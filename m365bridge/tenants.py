"""A connected tenant's health: the Graph session that sync and import code use, and the
two states a tenant falls into when Microsoft stops cooperating (needs re-authorization,
or a last error to show). Below both the engine and the services, so either may use it."""

from __future__ import annotations

from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from directory.emails import admins_email_queue

from . import graph
from .events import tenant_event
from .graph.tenant import tenant_graph
from .models import Tenant


@contextmanager
def tenant_graph_session(
    *,
    tenant: Tenant,
    budget: bool = True,
    within: float | None = None,
    max_retries: int | None = None,
):
    """`with tenant_graph_session(tenant=t) as client:` for sync and import code: a
    refresh token or consent that stopped working turns the tenant to
    `needs_reauthorization` (once) before the error reaches the caller. `within` and
    `max_retries`: see `graph.tenant.tenant_graph`."""
    client = tenant_graph(tenant=tenant, budget=budget, within=within, max_retries=max_retries)
    try:
        yield client
    except graph.NeedsReauthorization as exc:
        tenant_mark_needs_reauthorization(tenant=tenant, reason=str(exc))
        raise


def tenant_record_error(*, tenant: Tenant, message: str) -> Tenant:
    Tenant.objects.filter(pk=tenant.pk).update(
        last_error=message[:2000], last_error_at=timezone.now()
    )
    tenant.refresh_from_db()
    return tenant


def tenant_mark_needs_reauthorization(*, tenant: Tenant, reason: str) -> Tenant:
    """The tenant's tokens stopped working. Sync pauses (pending work stays where it is,
    bindings are kept), the console shows a banner, and the org's admins get one email,
    on the transition only."""
    with transaction.atomic():
        changed = Tenant.objects.filter(pk=tenant.pk, status=Tenant.CONNECTED).update(
            status=Tenant.NEEDS_REAUTHORIZATION,
            last_error=reason[:2000],
            last_error_at=timezone.now(),
            updated_at=timezone.now(),
        )
        tenant.refresh_from_db()
        if changed:
            tenant_event(
                tenant=tenant,
                type="tenant_needs_reauthorization",
                actor=None,
                outcome="failure",
                details={"reason": reason[:500]},
            )
            _email_admins_reauthorize(tenant)
    return tenant


def _email_admins_reauthorize(tenant: Tenant) -> None:
    """One email to each admin, through the directory's durable, retried email path."""
    url = settings.BASE_URL.rstrip("/") + reverse("m365:tenant", args=[tenant.pk])
    context = {"tenant": tenant, "url": url}
    admins_email_queue(
        organization=tenant.organization,
        kind="m365_needs_reauthorization",
        subject=f"Microsoft 365 tenant {tenant} needs to be re-authorized",
        text=render_to_string("m365/emails/needs_reauthorization.txt", context),
    )
