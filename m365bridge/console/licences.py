"""Console form for a tenant's licences (P8): the default licence, chosen from the
tenant's subscribed SKUs read live from Microsoft (with free seats), and the default
usage location. Off unless an admin sets them."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from directory.console.access import console_view
from directory.errors import InvalidInput

from .. import graph, licences, selectors


@console_view("m365")
@require_http_methods(["GET", "POST"])
def tenant_licences(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    if not tenant.can_sync:
        messages.error(request, "Licences can be chosen while the tenant is connected.")
        return redirect("m365:tenant", pk=tenant.pk)
    try:
        skus = licences.tenant_skus(tenant=tenant)
    except graph.GraphError as exc:
        messages.error(request, f"Microsoft 365 did not list the tenant's licences: {exc}")
        return redirect("m365:tenant", pk=tenant.pk)
    values = {"licence": tenant.licence_sku_id, "usage_location": tenant.default_usage_location}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {
            "licence": request.POST.get("licence", ""),
            "usage_location": request.POST.get("usage_location", ""),
        }
        try:
            licences.tenant_licence_update(
                actor=request.user,
                tenant=tenant,
                sku_id=values["licence"],
                usage_location=values["usage_location"],
                skus=skus,
            )
        except InvalidInput as exc:
            errors = exc.fields
        else:
            chosen = tenant.licence_sku_part_number
            messages.success(
                request,
                f"Accounts Stratus creates in {tenant} now get "
                f"{'the licence ' + chosen if chosen else 'no licence'}.",
            )
            return redirect("m365:tenant", pk=tenant.pk)
    return render(
        request,
        "m365/licences.html",
        {
            "tenant": tenant,
            "skus": skus,
            "values": values,
            "errors": errors,
        },
        status=400 if errors else 200,
    )
