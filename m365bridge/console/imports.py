"""The console's Import page (issue 12): every Microsoft 365 user of the tenant from
its mirror, with search, filters, sorts and pages; the preview of a selection; the
import job's progress and results; and linking a conflict to a Stratus user."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from directory.console.access import console_view
from directory.console.paging import paginate
from directory.errors import ServiceError
from directory.models import User

from .. import import_selectors, selectors, services
from ..import_selectors import MirrorFilter, group_filter_parse, mirror_filter_parse
from ..models import MirroredUser

MAX_TICKED = 5000
SORTABLE = [
    ("name", "Name"),
    ("email", "Email"),
    ("upn", "User principal name"),
    ("department", "Department"),
    ("status", "Status"),
    ("created", "Created in Microsoft 365"),
]


def filter_or_cleared(request, parse, empty):
    """The page's filter from the query (`parse`), or `empty` with a message naming
    the field when a value is nonsense."""
    try:
        return parse(request.GET)
    except ServiceError as exc:
        field, reasons = next(iter(exc.fields.items()), ("filter", [exc.message]))
        messages.error(request, f"{field}: {' '.join(reasons)} The filter was cleared.")
        return empty


@console_view("m365")
def tenant_import(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    filter_ = filter_or_cleared(request, mirror_filter_parse, MirrorFilter())
    rows = import_selectors.mirrored_users_list(tenant=tenant, filter=filter_)
    mirror = import_selectors.mirror_state(tenant=tenant)
    return render(
        request,
        "m365/import.html",
        {
            "tenant": tenant,
            "filter": filter_,
            "filter_params": filter_.as_params(),
            "filtered": bool(filter_.as_params().keys() - {"sort"}),
            "page": paginate(rows, page=request.GET.get("page")),
            "statuses": MirroredUser.STATUSES,
            "domains": mirror.domains if mirror else [],
            "departments": mirror.departments if mirror else [],
            "sortable": SORTABLE,
            "mirror": mirror,
            "jobs": import_selectors.import_job_list(tenant=tenant, limit=5),
        },
    )


def _selection(request, tenant):
    """The ticked rows, or every row matching the filter carried in the form."""
    if request.POST.get("all") == "1":
        return None, mirror_filter_parse(request.POST)
    ids = request.POST.getlist("microsoft_ids")[:MAX_TICKED]
    return ids, None


def group_selection(request):
    """The ticked groups, or every group matching the filter carried in the form."""
    if request.POST.get("all_groups") == "1":
        return None, group_filter_parse(request.POST)
    return request.POST.getlist("group_ids")[:MAX_TICKED], None


@console_view("m365")
@require_POST
def tenant_import_preview(request, pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    try:
        ids, filter_ = _selection(request, tenant)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("m365:import", pk=tenant.pk)
    if ids is not None and not ids:
        messages.error(request, "Tick the users to import, or choose all that match.")
        return redirect("m365:import", pk=tenant.pk)
    rows = import_selectors.mirrored_users_selected(
        tenant=tenant, microsoft_ids=ids, filter=filter_
    )
    return render(
        request,
        "m365/import_preview.html",
        {
            "tenant": tenant,
            "preview": import_selectors.import_preview(rows=rows),
            "ids": ids or [],
            "filter_params": filter_.as_params() if filter_ else {},
            "all": ids is None,
        },
    )


@console_view("m365")
@require_POST
def tenant_import_start(request, pk):
    """Start an import of users, or of groups (`kind=groups`, from the Groups tab)."""
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    groups = request.POST.get("kind") == "groups"
    try:
        ids, filter_ = (None, None) if groups else _selection(request, tenant)
        group_ids, group_filter = group_selection(request) if groups else (None, None)
        job = services.import_start(
            actor=request.user,
            tenant=tenant,
            microsoft_ids=ids,
            filter=filter_,
            send_activation=request.POST.get("send_activation") == "1",
            group_ids=group_ids,
            group_filter=group_filter,
            with_members=request.POST.get("with_members") == "1",
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("m365:import_groups" if groups else "m365:import", pk=tenant.pk)
    what = f"{job.total - job.groups} users and {job.groups} groups" if groups else job.total
    messages.success(request, f"The import of {what} has started.")
    return redirect("m365:import_job", pk=tenant.pk, job_pk=job.pk)


@console_view("m365")
def tenant_import_job(request, pk, job_pk):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    job = import_selectors.import_job_get(tenant=tenant, pk=job_pk)
    return render(
        request,
        "m365/import_job.html",
        {
            "tenant": tenant,
            "job": job,
            "results": import_selectors.import_items_unfinished(job=job)[:1000],
            "email_exists": services.imports.EMAIL_EXISTS,
            "group_exists": services.group_imports.GROUP_EXISTS,
        },
    )


@console_view("m365")
@require_http_methods(["GET", "POST"])
def mirrored_user_link(request, pk, microsoft_id):
    tenant = selectors.tenant_get(organization=request.organization, pk=pk)
    row = import_selectors.mirrored_user_get(tenant=tenant, microsoft_id=microsoft_id)
    candidates = User.objects.for_organization(request.organization).filter(email__in=row.addresses)
    if request.method == "POST":
        user = candidates.filter(pk=request.POST.get("user")).first()
        if user is None:
            messages.error(request, "Choose the Stratus user to link.")
        else:
            try:
                services.mirrored_user_link(actor=request.user, tenant=tenant, row=row, user=user)
            except ServiceError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    f"{user.email} is now bound to {row.user_principal_name}; Stratus's "
                    "values are sent to Microsoft 365.",
                )
                return redirect("m365:import", pk=tenant.pk)
    return render(
        request,
        "m365/import_link.html",
        {"tenant": tenant, "row": row, "candidates": candidates},
    )
