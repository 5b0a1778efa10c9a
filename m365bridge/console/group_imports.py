"""The Import page's Groups tab (issue 12, I3): every Microsoft 365 group of the tenant
from its mirror, with its import status, search, status filter, sorts and pages; the
preview of a selection of groups (optionally with their members); and linking a group
conflict to the Stratus group of that name. Starting the import and following it are
the users' views (`imports`): one job imports both."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from directory.console.access import console_view
from directory.console.paging import paginate
from directory.errors import ServiceError
from directory.models import Group

from .. import import_selectors, selectors, services
from ..import_selectors import GroupFilter, group_filter_parse
from ..models import MirroredGroup
from .imports import filter_or_cleared, group_selection

SORTABLE = [("name", "Name"), ("members", "Members"), ("status", "Status"), ("created", "Created")]


@console_view("m365")
def tenant_import_groups(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    filter_ = filter_or_cleared(request, group_filter_parse, GroupFilter())
    rows = import_selectors.mirrored_groups_list(tenant=tenant, filter=filter_)
    return render(
        request,
        "m365/import_groups.html",
        {
            "tenant": tenant,
            "filter": filter_,
            "filter_params": filter_.as_params(),
            "filtered": bool(filter_.as_params().keys() - {"sort"}),
            "page": paginate(rows, page=request.GET.get("page")),
            "statuses": MirroredGroup.STATUSES,
            "sortable": SORTABLE,
            "mirror": import_selectors.mirror_state(tenant=tenant),
        },
    )


@console_view("m365")
@require_POST
def tenant_import_groups_preview(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    try:
        ids, filter_ = group_selection(request)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("m365:import_groups", pk=tenant.pk)
    if ids is not None and not ids:
        messages.error(request, "Tick the groups to import, or choose all that match.")
        return redirect("m365:import_groups", pk=tenant.pk)
    rows = import_selectors.mirrored_groups_selected(
        tenant=tenant, microsoft_ids=ids, filter=filter_
    )
    return render(
        request,
        "m365/import_groups_preview.html",
        {
            "tenant": tenant,
            "preview": import_selectors.group_import_preview(tenant=tenant, rows=rows, users=None),
            "ids": ids or [],
            "filter_params": filter_.as_params() if filter_ else {},
            "all": ids is None,
        },
    )


@console_view("m365")
@require_http_methods(["GET", "POST"])
def mirrored_group_link(request, pk, microsoft_id):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    row = import_selectors.mirrored_group_get(tenant=tenant, microsoft_id=microsoft_id)
    candidate = (
        Group.objects.for_organization(request.organization)
        .filter(name__iexact=row.display_name.strip())
        .first()
    )
    if request.method == "POST" and candidate is not None:
        try:
            services.mirrored_group_link(
                actor=request.user, tenant=tenant, row=row, group=candidate
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"{candidate.name} is now bound to the Microsoft 365 group; Stratus's name "
                "and members are sent to Microsoft 365.",
            )
            return redirect("m365:import_groups", pk=tenant.pk)
    return render(
        request,
        "m365/import_group_link.html",
        {"tenant": tenant, "row": row, "candidate": candidate},
    )
