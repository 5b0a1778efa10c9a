"""Console actions of the reconcile (P5): "Sync now" and how often a tenant is read
back from Microsoft 365. The sync history itself is shown on the tenant page."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from directory.console.access import console_view
from directory.errors import ServiceError

from .. import graph, selectors, services


@console_view("m365")
@require_POST
def tenant_reconcile_now(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    try:
        services.tenant_reconcile_now(actor=request.user, tenant=tenant)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            "A sync with Microsoft 365 was started. Its result appears in the sync history below.",
        )
    return redirect("m365:tenant", pk=tenant.pk)


@console_view("m365")
@require_POST
def tenant_reconcile_interval(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    try:
        services.tenant_set_reconcile_interval(
            actor=request.user, tenant=tenant, minutes=request.POST.get("minutes")
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{tenant} is now read back from Microsoft 365 every "
            f"{tenant.reconcile_interval_minutes} minutes.",
        )
    return redirect("m365:tenant", pk=tenant.pk)


@console_view("m365")
@require_GET
def tenant_sync_preview(request, pk):
    """What the tenant's next sync would send, per account (read now, nothing sent)."""
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    try:
        preview = services.tenant_sync_preview(tenant=tenant)
    except (ServiceError, graph.GraphError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("m365:tenant", pk=tenant.pk)
    return render(request, "m365/sync_preview.html", {"tenant": tenant, "preview": preview})
