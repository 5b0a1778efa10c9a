"""Console actions of the mass-deprovision brake: an owner releases or discards the
blocks it holds, or changes its thresholds. The held blocks themselves are shown on the
tenant page. Thin: writes through `m365bridge.services`."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from directory.console.access import console_view
from directory.errors import ServiceError

from .. import selectors, services


def _back(tenant):
    return redirect(reverse("m365:tenant", args=[tenant.pk]) + "#held")


@console_view("m365", reauth="m365:tenant")
@require_POST
def held_blocks_release(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    try:
        count = services.held_blocks_release(actor=request.user, tenant=tenant)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{count} held blocks were released: they are being sent.")
    return _back(tenant)


@console_view("m365")
@require_POST
def held_blocks_discard(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    try:
        count = services.held_blocks_discard(actor=request.user, tenant=tenant)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{count} held blocks were discarded: those accounts stay enabled in Microsoft 365.",
        )
    return _back(tenant)


@console_view("m365")
@require_POST
def tenant_brake_update(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    try:
        services.tenant_brake_update(
            actor=request.user,
            tenant=tenant,
            max_accounts=request.POST.get("max_accounts"),
            max_percent=request.POST.get("max_percent"),
        )
    except ServiceError as exc:
        for field, errors in exc.fields.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        if not exc.fields:
            messages.error(request, exc.message)
    else:
        messages.success(request, "The deprovision brake was updated.")
    return _back(tenant)
