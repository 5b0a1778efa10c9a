from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit import export
from audit import selectors as audit_selectors
from audit.forms import EventFilterForm

from ..access import console_view
from ..paging import paginate


def _filters(request) -> EventFilterForm:
    organization = request.organization
    return EventFilterForm(
        request.GET,
        types=audit_selectors.event_types(organization=organization),
        tenants=audit_selectors.event_tenants(organization=organization),
    )


def _page(request, filters: EventFilterForm):
    """The events page; with filters that are not valid, their errors and no list (400)."""
    valid = filters.is_valid()
    events = (
        audit_selectors.event_list(organization=request.organization, **filters.criteria())
        if valid
        else None
    )
    return render(
        request,
        "console/events.html",
        {
            "filters": filters,
            "valid": valid,
            "filtered": any(value for key, value in request.GET.items() if key != "page"),
            "page": paginate(events, page=request.GET.get("page")) if valid else None,
        },
        status=200 if valid else 400,
    )


@require_GET  # events are append-only: nothing here changes one
@console_view("events")
def event_list(request):
    return _page(request, _filters(request))


@require_GET
@console_view("events")
def event_export(request, format: str):
    """The page's filtered list as a CSV or JSON download; bad filters show the page
    with their errors instead."""
    if format not in export.FORMATS:
        raise Http404("No such export format.")
    filters = _filters(request)
    if not filters.is_valid():
        return _page(request, filters)
    events = audit_selectors.event_list(organization=request.organization, **filters.criteria())
    return export.event_export_response(
        events=events,
        format=format,
        filename=export.export_filename(organization=request.organization),
    )
